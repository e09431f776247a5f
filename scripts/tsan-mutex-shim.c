// Makes Swift's Synchronization.Mutex visible to ThreadSanitizer on Linux; scripts/sanitize.sh
// preloads it (LD_PRELOAD) into the processes of a `thread` run, and nothing else uses it.
//
// Why: Mutex's fast paths (an acquiring compare-and-swap to lock, a releasing one to unlock) are
// inlined into the caller and instrumented, but a contended Mutex goes through
// `_MutexHandle._lockSlow` and `_unlockSlow` in libswiftSynchronization.so, which is not
// instrumented: it spins with plain atomics, then has the kernel hand the lock over
// (FUTEX_LOCK_PI / FUTEX_UNLOCK_PI). ThreadSanitizer sees no release by the old owner and no
// acquire by the new one, so every access made under a contended Mutex is reported as a race with
// the previous owner's (see Docs/testing.md, "Sanitizers"). Interposing those two functions and
// telling ThreadSanitizer about the hand-over (__tsan_release before the unlock, __tsan_acquire
// after the lock, on the Mutex's own address, which the inlined atomics synchronize on too)
// restores exactly the happens-before edge the lock provides, and no other: an access made
// without the lock is still reported.
//
// The ThreadSanitizer entry points are weak: a process without the sanitizer runtime (swift-test
// itself, the Go peers) gets null for them and the shim only forwards the call.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern void __tsan_acquire(void *address) __attribute__((weak));
extern void __tsan_release(void *address) __attribute__((weak));

// Swift passes the address of the (address-only) `_MutexHandle` as `self`, in the swiftself
// register, which clang's swiftcall convention spells `swift_context`.
#define SWIFT_SELF __attribute__((swift_context))
#define SWIFTCALL __attribute__((swiftcall))

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef SWIFTCALL void (*LockSlow)(uint32_t, void *SWIFT_SELF);
typedef SWIFTCALL bool (*TryLockSlow)(void *SWIFT_SELF);
typedef SWIFTCALL void (*UnlockSlow)(void *SWIFT_SELF);

static void *original(const char *name) {
    void *function = dlsym(RTLD_NEXT, name);
    if (function == NULL) {
        fprintf(stderr, "tsan-mutex-shim: %s not found: %s\n", name, dlerror());
        abort();
    }
    return function;
}

SWIFTCALL void shim_lockSlow(uint32_t selfId, void *SWIFT_SELF handle) __asm__(LOCK_SLOW);
SWIFTCALL void shim_lockSlow(uint32_t selfId, void *SWIFT_SELF handle) {
    static LockSlow lockSlow;
    if (lockSlow == NULL) lockSlow = (LockSlow)original(LOCK_SLOW);
    lockSlow(selfId, handle);
    if (__tsan_acquire) __tsan_acquire(handle);
}

SWIFTCALL bool shim_tryLockSlow(void *SWIFT_SELF handle) __asm__(TRY_LOCK_SLOW);
SWIFTCALL bool shim_tryLockSlow(void *SWIFT_SELF handle) {
    static TryLockSlow tryLockSlow;
    if (tryLockSlow == NULL) tryLockSlow = (TryLockSlow)original(TRY_LOCK_SLOW);
    bool locked = tryLockSlow(handle);
    if (locked && __tsan_acquire) __tsan_acquire(handle);
    return locked;
}

SWIFTCALL void shim_unlockSlow(void *SWIFT_SELF handle) __asm__(UNLOCK_SLOW);
SWIFTCALL void shim_unlockSlow(void *SWIFT_SELF handle) {
    static UnlockSlow unlockSlow;
    if (unlockSlow == NULL) unlockSlow = (UnlockSlow)original(UNLOCK_SLOW);
    if (__tsan_release) __tsan_release(handle);
    unlockSlow(handle);
}
