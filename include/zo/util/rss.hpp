// What a process has used: peak resident memory and CPU time.
#pragma once

namespace zo {

// Peak resident memory of this process so far, in MiB (getrusage's ru_maxrss).
double peak_rss_mb();

// CPU time of this process so far, every thread, in seconds (CLOCK_PROCESS_CPUTIME_ID): robust to
// other load on the machine, where wall time is not.
double process_cpu_seconds();

}  // namespace zo
