// msgpack-c's C API. One header, not an umbrella over /usr/include/msgpack/, which also holds the
// C++ headers. No `link` line in the module map: SwiftPM takes -lmsgpackc from pkg-config, so a
// move to msgpack-c >= 6 (msgpack-c.pc, libmsgpack-c) needs only the pkgConfig name changed.
#include <msgpack.h>
