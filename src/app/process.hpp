// Process-wide policy the app sets once at start-up (the libraries below it set none).
#pragma once

#include <malloc.h>

namespace overflowd::app {

// Reports are allocated on one thread and freed on another (input, verifier, writer), and glibc
// hands the freed top of each thread's heap back to the kernel, to fault it in again a moment
// later: a page fault every few reports. The receiver keeps up to 64 MiB of freed heap instead
// (mallopt M_TRIM_THRESHOLD, process-wide; called once by run_receive, and by the receive
// benchmark to measure what the command runs).
inline void keep_freed_heap() noexcept { ::mallopt(M_TRIM_THRESHOLD, 64 << 20); }

}  // namespace overflowd::app
