// Copyright shoal authors. kv-client: talks to any kv-servers.
//
//   kv-client --servers H:P,... put KEY VALUE     one write (version: now, in us)
//   kv-client --servers H:P,... get KEY           one read
//   kv-client --servers H:P,... load --keys N --out FILE --stop-file PATH [--once]
//                                     [--reads PCT] [--max-seconds S]
//       writes keys key-0 .. key-N-1 once, prints "filled", then keeps
//       overwriting random keys until PATH exists (or S seconds passed);
//       with --reads, PCT% of those are reads instead, each checked to see
//       its key's last answered write or a later one (stale_reads). Writes
//       what each key's last answered write was to FILE and prints counts
//       as JSON, with the operations per second after the fill. With
//       --once, every overwrite is followed by the write of a new key
//       (once-W-I), never written again: a lost answered write of it
//       cannot be hidden by a later one
//   kv-client --servers H:P,... check --in FILE
//       reads every key of FILE back; prints counts as JSON; exit 1 if any
//       key is missing or has another value than its last answered write
//
// Every request goes to one server, picked at random among those not
// marked down. An explicit error (HTTP 503) or a failed connection counts
// as a failed request and is retried, on another server after a failed
// connection, with a growing pause, for up to 30 s.

#include <httplib.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "wire.h"

namespace kv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kRetryFor = seconds(30);
constexpr auto kDownFor = milliseconds(1000);

struct Counts {
  std::atomic<uint64_t> requests{0};  // HTTP requests sent
  std::atomic<uint64_t> reads{0};     // load: reads answered (200 or 404)
  std::atomic<uint64_t> writes{0};    // load: writes answered
  std::atomic<uint64_t> stale{0};     // load: reads older than their key's last answered write
  std::atomic<uint64_t> failed{0};    // answered 503 or no answer
  std::atomic<uint64_t> gave_up{0};   // operations that failed for kRetryFor
};

// The servers, which are down, and one keep-alive connection per server
// per user (an httplib::Client is not for concurrent use).
class Servers {
 public:
  explicit Servers(std::vector<std::string> addresses)
      : addresses_(std::move(addresses)), down_until_(addresses_.size()) {}
  size_t size() const { return addresses_.size(); }
  const std::string& address(size_t i) const { return addresses_[i]; }
  size_t pick(std::mt19937_64& rng) {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    std::vector<size_t> up;
    for (size_t i = 0; i < addresses_.size(); ++i) {
      if (down_until_[i] <= now) up.push_back(i);
    }
    if (up.empty()) return rng() % addresses_.size();
    return up[rng() % up.size()];
  }
  void mark_down(size_t i) {
    std::lock_guard lock(mu_);
    down_until_[i] = Clock::now() + kDownFor;
  }

 private:
  std::vector<std::string> addresses_;
  std::mutex mu_;
  std::vector<Clock::time_point> down_until_;
};

// One thread's connections and randomness.
class Session {
 public:
  Session(Servers& servers, Counts& counts, uint64_t seed)
      : servers_(servers), counts_(counts), rng_(seed), clients_(servers.size()) {}

  // The value of `key` and its version, nullopt if not found; gives up
  // (returns false) after kRetryFor of failures.
  bool get(const std::string& key, std::optional<Entry>& out) {
    return with_retries([&](httplib::Client& c) -> int {
      httplib::Result r = c.Get(("/kv/" + escape(key)).c_str());
      if (!r) return -1;
      if (r->status == 404) out.reset();
      if (r->status == 200) {
        const size_t nl = r->body.find('\n');
        uint64_t version = 0;
        std::from_chars(r->body.data(), r->body.data() + nl, version);
        out = Entry{key, version, r->body.substr(nl == std::string::npos ? 0 : nl + 1)};
      }
      return r->status;
    });
  }
  bool put(const std::string& key, uint64_t version, const std::string& value) {
    return with_retries([&](httplib::Client& c) -> int {
      httplib::Result r =
          c.Put(("/kv/" + escape(key) + "?version=" + std::to_string(version)).c_str(), value,
                "application/octet-stream");
      return r ? r->status : -1;
    });
  }
  std::mt19937_64& rng() { return rng_; }

 private:
  httplib::Client& client(size_t i) {
    if (!clients_[i]) {
      std::string host;
      int port = 0;
      split_host_port(servers_.address(i), host, port);
      clients_[i] = std::make_unique<httplib::Client>(host, port);
      clients_[i]->set_keep_alive(true);
      clients_[i]->set_tcp_nodelay(true);
      clients_[i]->set_connection_timeout(seconds(1));
      clients_[i]->set_read_timeout(seconds(5));
    }
    return *clients_[i];
  }
  // Runs `attempt` (HTTP status, -1 for no answer) until it is 200 or 404.
  template <typename F>
  bool with_retries(F attempt) {
    const auto give_up = Clock::now() + kRetryFor;
    for (int n = 1; Clock::now() < give_up; ++n) {
      const size_t i = servers_.pick(rng_);
      ++counts_.requests;
      const int status = attempt(client(i));
      if (status == 200 || status == 404) return true;
      ++counts_.failed;
      if (status < 0) {
        servers_.mark_down(i);
        clients_[i].reset();
      }
      std::this_thread::sleep_for(milliseconds(std::min(10 * n, 200)));
    }
    ++counts_.gave_up;
    return false;
  }

  Servers& servers_;
  Counts& counts_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;
};

std::string key_name(size_t i) { return "key-" + std::to_string(i); }
std::string value_for(const std::string& key, uint64_t version) {
  return "value-" + std::to_string(version) + "-of-" + key;
}

// What a load run knows of each key: its last answered write, and a later
// write that failed (it may or may not have landed), if any.
struct Expect {
  uint64_t acked = 0;
  uint64_t maybe = 0;
};

struct LoadFlags {
  bool once = false;  // also write keys once-only
  int reads = 0;      // percent of the overwrites that are reads instead
  size_t keys = 10000;
  size_t workers = 8;
  std::string out;
  std::string stop_file;
  int max_seconds = 900;
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Worker w owns keys i with i % workers == w, so each key's writes are in
// order; versions come from one counter, so later writes are higher.
// The once-only keys a worker wrote, with what it knows of each.
using OnceKeys = std::vector<std::pair<std::string, Expect>>;
constexpr size_t kOnceKeysMax = 1 << 20;  // per worker

void load_worker(size_t w, const LoadFlags& f, Servers& servers, Counts& counts,
                 std::atomic<uint64_t>& version, std::vector<Expect>& expect, OnceKeys& once,
                 std::atomic<size_t>& filled, const std::atomic<bool>& stop) {
  Session s(servers, counts, 1000 + w);
  auto put = [&](const std::string& key, Expect& e) {
    const uint64_t v = ++version;
    if (s.put(key, v, value_for(key, v))) {
      e = Expect{v, 0};
      ++counts.writes;
    } else {
      e.maybe = v;
    }
  };
  // A read must see the key's last answered write or a later one.
  auto get = [&](const std::string& key, const Expect& e) {
    std::optional<Entry> got;
    if (!s.get(key, got)) return;
    ++counts.reads;
    if (e.acked != 0 && (!got || got->version < e.acked)) ++counts.stale;
  };
  for (size_t i = w; i < f.keys; i += f.workers) put(key_name(i), expect[i]);
  ++filled;
  const size_t mine = (f.keys - w + f.workers - 1) / f.workers;
  while (!stop && mine > 0) {
    const size_t i = w + (s.rng()() % mine) * f.workers;
    if (f.reads > 0 && static_cast<int>(s.rng()() % 100) < f.reads) {
      get(key_name(i), expect[i]);
      continue;
    }
    put(key_name(i), expect[i]);
    if (!f.once || once.size() >= kOnceKeysMax) continue;
    once.emplace_back("once-" + std::to_string(w) + "-" + std::to_string(once.size()), Expect{});
    put(once.back().first, once.back().second);
  }
}

int load(const LoadFlags& f, Servers& servers) {
  Counts counts;
  std::atomic<uint64_t> version{0};
  std::vector<Expect> expect(f.keys);
  std::vector<OnceKeys> once(f.workers);
  std::atomic<size_t> filled{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (size_t w = 0; w < f.workers; ++w) {
    threads.emplace_back(load_worker, w, std::cref(f), std::ref(servers), std::ref(counts),
                         std::ref(version), std::ref(expect), std::ref(once[w]), std::ref(filled),
                         std::cref(stop));
  }
  const auto end = Clock::now() + seconds(f.max_seconds);
  uint64_t fill_requests = 0;
  uint64_t fill_failed = 0;
  uint64_t fill_reads = 0;
  uint64_t fill_writes = 0;
  Clock::time_point steady_from{};
  bool said_filled = false;
  while (Clock::now() < end && !exists(f.stop_file)) {
    if (!said_filled && filled == f.workers) {
      said_filled = true;
      steady_from = Clock::now();
      fill_requests = counts.requests;
      fill_failed = counts.failed;
      fill_reads = counts.reads;
      fill_writes = counts.writes;
      std::printf("filled %zu keys\n", f.keys);
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  stop = true;
  const double steady_s =
      said_filled ? std::chrono::duration<double>(Clock::now() - steady_from).count() : 0.0;
  const uint64_t steady_ops = counts.reads + counts.writes - fill_reads - fill_writes;
  for (std::thread& t : threads) t.join();
  std::ofstream out(f.out);
  for (size_t i = 0; i < f.keys; ++i) {
    out << key_name(i) << '\t' << expect[i].acked << '\t' << expect[i].maybe << '\n';
  }
  // A once-only key whose one write failed may or may not exist: only the
  // answered ones are checked.
  for (const OnceKeys& keys : once) {
    for (const auto& [key, e] : keys) {
      if (e.acked != 0) out << key << '\t' << e.acked << "\t0\n";
    }
  }
  const uint64_t requests = counts.requests - fill_requests;
  const uint64_t failed = counts.failed - fill_failed;
  std::printf(
      "{\"fill_requests\":%llu,\"fill_failed\":%llu,\"requests\":%llu,\"failed\":%llu,"
      "\"failed_pct\":%.3f,\"gave_up\":%llu,\"steady_s\":%.2f,\"ops_per_s\":%.0f,"
      "\"reads\":%llu,\"stale_reads\":%llu}\n",
      static_cast<unsigned long long>(fill_requests), static_cast<unsigned long long>(fill_failed),
      static_cast<unsigned long long>(requests), static_cast<unsigned long long>(failed),
      requests ? 100.0 * static_cast<double>(failed) / static_cast<double>(requests) : 0.0,
      static_cast<unsigned long long>(counts.gave_up.load()), steady_s,
      steady_s > 0 ? static_cast<double>(steady_ops) / steady_s : 0.0,
      static_cast<unsigned long long>(counts.reads - fill_reads),
      static_cast<unsigned long long>(counts.stale.load()));
  return out ? 0 : 1;
}

int check(const std::string& in, Servers& servers) {
  Counts counts;
  Session s(servers, counts, 7);
  std::ifstream file(in);
  std::string key;
  uint64_t acked = 0;
  uint64_t maybe = 0;
  uint64_t keys = 0, ok = 0, missing = 0, wrong = 0, unreadable = 0;
  while (file >> key >> acked >> maybe) {
    ++keys;
    std::optional<Entry> got;
    if (!s.get(key, got)) {
      ++unreadable;
    } else if (!got) {
      ++missing;
      if (missing <= 10) std::fprintf(stderr, "kv-client: %s missing\n", key.c_str());
    } else if ((got->version == acked || (maybe && got->version == maybe)) &&
               got->value == value_for(key, got->version)) {
      ++ok;
    } else {
      ++wrong;
      if (wrong <= 10) {
        std::fprintf(stderr, "kv-client: %s has version %llu, last answered write %llu\n",
                     key.c_str(), static_cast<unsigned long long>(got->version),
                     static_cast<unsigned long long>(acked));
      }
    }
  }
  std::printf(
      "{\"keys\":%llu,\"ok\":%llu,\"missing\":%llu,\"wrong\":%llu,\"unreadable\":%llu,"
      "\"requests\":%llu,\"failed\":%llu}\n",
      static_cast<unsigned long long>(keys), static_cast<unsigned long long>(ok),
      static_cast<unsigned long long>(missing), static_cast<unsigned long long>(wrong),
      static_cast<unsigned long long>(unreadable),
      static_cast<unsigned long long>(counts.requests.load()),
      static_cast<unsigned long long>(counts.failed.load()));
  return keys > 0 && ok == keys ? 0 : 1;
}

int one(Servers& servers, const std::string& op, const std::string& key, const std::string& value) {
  Counts counts;
  Session s(servers, counts, static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  if (op == "put") {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    if (!s.put(key, static_cast<uint64_t>(us.count()), value)) {
      std::fprintf(stderr, "kv-client: put failed\n");
      return 1;
    }
    std::printf("ok\n");
    return 0;
  }
  std::optional<Entry> got;
  if (!s.get(key, got)) {
    std::fprintf(stderr, "kv-client: get failed\n");
    return 1;
  }
  if (!got) {
    std::fprintf(stderr, "kv-client: %s: not found\n", key.c_str());
    return 2;
  }
  std::printf("%s\n", got->value.c_str());
  return 0;
}

}  // namespace
}  // namespace kv

int main(int argc, char** argv) {
  std::vector<std::string> servers;
  CLI::App app{"kv-client: reads and writes keys on kv-servers"};
  app.add_option("--servers", servers, "kv-server HTTP addresses, host:port,...")
      ->delimiter(',')
      ->required();
  app.require_subcommand(1);
  std::string key, value, in;
  CLI::App* put = app.add_subcommand("put", "write a key");
  put->add_option("key", key)->required();
  put->add_option("value", value)->required();
  CLI::App* get = app.add_subcommand("get", "read a key");
  get->add_option("key", key)->required();
  kv::LoadFlags lf;
  CLI::App* load = app.add_subcommand("load", "write keys, then overwrite until told to stop");
  load->add_option("--keys", lf.keys)->check(CLI::Range(1, 10000000));
  load->add_option("--workers", lf.workers)->check(CLI::Range(1, 256));
  load->add_option("--out", lf.out, "where the expected values go")->required();
  load->add_option("--stop-file", lf.stop_file, "stop once this file exists")->required();
  load->add_option("--max-seconds", lf.max_seconds)->check(CLI::Range(1, 86400));
  load->add_flag("--once", lf.once, "also write a new key once after every overwrite");
  load->add_option("--reads", lf.reads, "percent of the overwrites that are reads instead")
      ->check(CLI::Range(0, 100));
  CLI::App* chk = app.add_subcommand("check", "read back every key a load wrote");
  chk->add_option("--in", in)->required();
  CLI11_PARSE(app, argc, argv);
  for (const std::string& a : servers) {
    std::string host;
    int port = 0;
    if (!kv::split_host_port(a, host, port)) {
      std::fprintf(stderr, "kv-client: --servers: not host:port: %s\n", a.c_str());
      return 2;
    }
  }
  kv::Servers s(servers);
  if (*load) return kv::load(lf, s);
  if (*chk) return kv::check(in, s);
  return kv::one(s, *put ? "put" : "get", key, value);
}
