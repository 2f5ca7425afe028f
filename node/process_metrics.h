// Copyright shoal authors. The process metrics every Prometheus client
// library exports (the Go and Python clients' names and meanings), read
// from /proc/self on Linux, for the metrics listener's /metrics:
//
//   process_cpu_seconds_total       user + system CPU time (counter)
//   process_resident_memory_bytes   resident set size
//   process_virtual_memory_bytes    virtual memory size
//   process_open_fds                open file descriptors
//   process_max_fds                 the open files limit (soft)
//   process_start_time_seconds      start time, seconds since the epoch
//
// A value that cannot be read is left out, never made up.

#ifndef SHOAL_NODE_PROCESS_METRICS_H_
#define SHOAL_NODE_PROCESS_METRICS_H_

#include <string>

namespace shoal::node {

// The Prometheus text of the metrics above ("" where /proc is missing).
std::string render_process_metrics();

}  // namespace shoal::node

#endif  // SHOAL_NODE_PROCESS_METRICS_H_
