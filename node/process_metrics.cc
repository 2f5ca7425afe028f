// Copyright shoal authors. See process_metrics.h.

#include "shoal/node/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace shoal::node {

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The fields of /proc/self/stat after the command name (which may hold
// spaces and parentheses: the last ')' ends it). Field 3 (state) is [0].
std::vector<std::string> stat_fields() {
  const std::string stat = read_file("/proc/self/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

std::optional<double> number(const std::vector<std::string>& f, size_t field) {
  // `field` as proc(5) numbers them (1-based, pid first).
  const size_t i = field - 3;
  if (i >= f.size()) return std::nullopt;
  try {
    return std::stod(f[i]);
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<double> open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return std::nullopt;
  double n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

std::optional<double> max_fds() {
  std::istringstream in(read_file("/proc/self/limits"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    fields >> soft;
    if (soft == "unlimited") return std::nullopt;
    try {
      return std::stod(soft);
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<double> boot_time() {
  std::istringstream in(read_file("/proc/stat"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  }
  return std::nullopt;
}

void metric(std::string& out, const char* name, const char* type, const char* help,
            std::optional<double> v) {
  if (!v) return;
  char value[64];
  std::snprintf(value, sizeof value, "%.17g", *v);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + value + "\n";
}

}  // namespace

std::string render_process_metrics() {
  const std::vector<std::string> f = stat_fields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::optional<double> cpu, rss, start;
  // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (pages).
  if (auto u = number(f, 14), s = number(f, 15); u && s && ticks > 0) cpu = (*u + *s) / ticks;
  if (auto r = number(f, 24)) rss = *r * page;
  if (auto st = number(f, 22), bt = boot_time(); st && bt && ticks > 0) start = *bt + *st / ticks;
  std::string out;
  metric(out, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.", cpu);
  metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
  metric(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
         number(f, 23));
  metric(out, "process_open_fds", "gauge", "Number of open file descriptors.", open_fds());
  metric(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", max_fds());
  metric(out, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.", start);
  return out;
}

}  // namespace shoal::node
