// CRC-32C with the CPU's own instruction (SSE 4.2 on x86-64, the CRC extension on ARMv8), which
// checksums about five times faster than the best table-driven code. Swift cannot name these
// instructions, hence this small C target; RaftFileStores falls back to its tables when the CPU
// lacks them.
#ifndef SWIFT_RAFT_CCRC32C_H
#define SWIFT_RAFT_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has a CRC-32C instruction.
int swift_raft_crc32c_hardware_available(void);

/// Runs the CRC-32C register `crc` (not inverted: pass ~value, invert the result) over `count`
/// bytes at `bytes`. Call only when `swift_raft_crc32c_hardware_available()` says so.
uint32_t swift_raft_crc32c_hardware_update(uint32_t crc, const void *bytes, size_t count);

#endif
