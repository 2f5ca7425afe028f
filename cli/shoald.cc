// shoald: the shoal daemon, one cluster member.
//
//   shoald --listen HOST:PORT [--seeds A,B,...] [--seeds-file FILE]
//          [--cluster NAME] [--advertise HOST:PORT] [--name NAME]
//          [--log-level LEVEL] [--log-format text|json]
//          [--<protocol parameter> VALUE ...]
//
// --help lists every flag with its default. A bad flag or value prints what
// is wrong and exits 2. SIGTERM or SIGINT: graceful leave (bounded by
// --leave-timeout-ms), then exit 0. This is the only place exceptions are
// caught (CLI11 and nlohmann report errors by throwing).

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shoal/cli/event_handlers.h"
#include "shoal/cli/key_value.h"
#include "shoal/cli/seeds_file.h"
#include "shoal/cli/snapshot_file.h"
#include "shoal/node/log_json.h"
#include "shoal/node/node.h"
#include "shoal/node/version.h"
#include "shoal/proto/codec.h"

namespace {

using std::chrono::milliseconds;

// A duration flag in milliseconds bound to a membership::Duration field.
struct MsFlag {
  const char* name;
  const char* help;
  shoal::membership::Duration* field;
  int64_t value;
};

std::vector<std::string> read_seeds_file(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "--seeds-file: cannot open '" + path + "'";
    return {};
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string why;
  auto seeds = shoal::cli::parse_seeds_json(text, &why);
  if (!seeds) {
    *error = "--seeds-file: '" + path + "' " + why;
    return {};
  }
  return std::move(*seeds);
}

// Every flag of shoald, bound to the options it sets.
struct Flags {
  shoal::node::NodeOptions o;
  std::string seeds_file;
  std::string snapshot;          // --snapshot PATH
  std::string snapshot_warning;  // a snapshot that could not be used, said once running
  size_t snapshot_seeds = 0;
  std::string log_level = "info";
  std::string log_format = "text";
  std::vector<std::string> labels;
  std::vector<std::string> admit_labels;  // --admit-label K=V
  std::vector<std::string> event_handler_flags;
  std::vector<shoal::cli::EventHandlerSpec> event_handlers;
  int64_t leave_timeout_ms = 2000;
  int64_t io_relief_us = 1000;
  std::string encryption;
  std::vector<MsFlag> ms;

  void add_node_flags(CLI::App& app) {
    app.add_option("--listen", o.listen, "address to bind, UDP and TCP (host:port)");
    app.add_option("--advertise", o.advertise,
                   "address others reach this node at (default: --listen)");
    app.add_option("--name", o.name,
                   "this member's name, its identity on the ring (default: its address); "
                   "a member restarted on a new address under the same name keeps its keys");
    app.add_option("--seeds", o.seeds, "seed members to join through (host:port,...)")
        ->delimiter(',');
    app.add_option("--snapshot", snapshot,
                   "keep the last alive members in this file (at most once a second) and, on "
                   "start, join through them too: a restart whose seeds are gone rejoins the "
                   "rest (mode 0600 or 0644; group- or world-writable is refused)");
    app.add_option("--seeds-file", seeds_file,
                   "JSON array of \"host:port\" seeds (Ringpop hosts file)");
    app.add_option("--cluster", o.cluster, "cluster name; other clusters' traffic is dropped");
    app.add_option("--label", labels, "label KEY=VALUE gossiped with this member (repeatable)");
    app.add_option("--event-handler", event_handler_flags,
                   "[FILTER[,FILTER...]=]SCRIPT: run SCRIPT (sh -c) for member events, user "
                   "events and queries (filters: member-join, member-leave, member-failed, "
                   "member-update, member-reap, user, user:NAME, query, query:NAME; a query's "
                   "answer is its stdout); repeatable");
    app.add_option("--admit-label", admit_labels,
                   "admit only members labelled KEY=VALUE; others are never added here "
                   "(repeatable: all of them)");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_option("--log-format", log_format,
                   "text, or json: one JSON object a line (time, level, node, event, msg and "
                   "the event's fields)")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_option("--leave-timeout-ms", leave_timeout_ms,
                   "bound on a graceful leave (SIGTERM, shoal leave)")
        ->check(CLI::Range(0, 60000));
    app.add_option("--replica-points", o.replica_points, "ring points per member")
        ->check(CLI::Range(1u, shoal::ring::kMaxPointsPerMember));
    app.add_option("--frame-bytes-max", o.frame_bytes_max, "TCP frame size limit")
        ->check(CLI::Range(1024u, 1u << 30));
    app.add_option("--tcp-connections-max", o.tcp_connections_max,
                   "accepted TCP connections open at once (more are closed)")
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--handler-threads", o.handler_threads,
                   "threads that run the request handler (0: the io thread)")
        ->check(CLI::Range(0u, 1024u));
    app.add_option("--io-relief-us", io_relief_us,
                   "handlers run on the io thread's own thread until one takes this long; then "
                   "a relief thread runs the io loop (0: always the handler threads)")
        ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
    app.add_option("--full-syncs-max", o.full_syncs_max,
                   "join/sync answers waiting to be sent at once (more are refused)")
        ->check(CLI::Range(1u, 1u << 20));
    app.add_option("--rng-seed", o.rng_seed, "protocol RNG seed (0: random, logged)");
    app.add_option("--member-log-per-second", o.member_log_per_second,
                   "member-change log lines per second at most, the rest counted (0: all)");
    app.add_option("--keyring-file", o.keyring_file,
                   "cluster keys, base64, one per line, primary first (mode 0600); seals every "
                   "datagram and frame; `shoal keys` changes are saved to it");
    app.add_option("--encryption", encryption,
                   "off | accept-plaintext | required (default: required with a keyring, else "
                   "off)");
    app.add_option("--metrics", o.metrics_listen,
                   "serve /metrics (Prometheus), /health and /ready at http://HOST:PORT "
                   "(loopback unless --metrics-public; default off)");
    app.add_flag("--metrics-public", o.metrics_public,
                 "allow --metrics on a non-loopback address (read-only: counters, health, "
                 "readiness)");
  }

  void add_duration_flags(CLI::App& app) {
    auto& p = o.protocol;
    ms = {
        {"--protocol-period-ms", "one probe per period", &p.protocol_period, 0},
        {"--ping-timeout-ms", "direct ack wait before ping-req", &p.ping_timeout, 0},
        {"--suspicion-min-ms", "suspicion timeout with K confirmations (x log10(N)/2 past 100)",
         &p.suspicion_min, 0},
        {"--suspicion-max-ms", "suspicion timeout without confirmations (likewise)",
         &p.suspicion_max, 0},
        {"--faulty-timeout-ms", "faulty/left -> tombstone", &p.faulty_timeout, 0},
        {"--tombstone-timeout-ms", "tombstone -> forgotten", &p.tombstone_timeout, 0},
        {"--sync-mismatch-min-ms", "checksum disagreement before a full sync", &p.sync_mismatch_min,
         0},
        {"--sync-interval-min-ms", "at most one full sync per", &p.sync_interval_min, 0},
        {"--push-pull-interval-ms",
         "a full sync with a random member this often (scaled up "
         "past 32 members; 0: off)",
         &p.push_pull_interval, 0},
        {"--join-backoff-min-ms", "first join retry delay", &p.join_backoff_min, 0},
        {"--join-backoff-max-ms", "join retry delay cap", &p.join_backoff_max, 0},
        {"--tcp-timeout-ms", "join/sync exchange timeout", &p.tcp_timeout, 0},
        {"--heal-interval-ms", "partition healing attempt interval", &p.heal_interval, 0},
        {"--lag-tolerance-ms", "timer lateness that counts as CPU starvation", &p.lag_tolerance, 0},
        {"--incarnation-ahead-max-ms", "clock skew allowed in claimed incarnations",
         &p.incarnation_ahead_max, 0},
    };
    for (auto& f : ms) {
      f.value = std::chrono::duration_cast<milliseconds>(*f.field).count();
      // Only the push-pull may be 0 (off).
      const int64_t min = f.field == &p.push_pull_interval ? 0 : 1;
      app.add_option(f.name, f.value, f.help)->check(CLI::Range(min, int64_t{86400000}));
    }
  }

  void add_count_flags(CLI::App& app) {
    auto& p = o.protocol;
    app.add_option("--ping-req-fanout", p.ping_req_fanout, "helpers per indirect probe (SWIM k)");
    app.add_option("--tcp-fallback-probe", p.tcp_fallback_probe,
                   "with the ping-reqs, one direct ping over TCP (true/false)");
    app.add_option("--probe-strikes", p.probe_strikes, "failed periods in a row before suspect");
    app.add_option("--suspicion-confirmations", p.suspicion_confirmations,
                   "confirmations for the minimum suspicion timeout (Lifeguard K)");
    app.add_option("--awareness-max", p.awareness_max, "Lifeguard health score range");
    app.add_option("--retransmit-mult", p.retransmit_mult,
                   "sends per change: mult x ceil(log2(N+1))");
    app.add_option("--datagram-budget", p.datagram_budget, "max UDP payload bytes");
    app.add_option("--gossip-fanout", p.gossip_fanout, "gossip targets per period while news");
    app.add_option("--changes-per-message-max", p.changes_per_message_max, "claims per datagram");
    app.add_option("--sync-mismatches-trigger", p.sync_mismatches_trigger,
                   "disagreeing checksums before a full sync");
    app.add_option("--join-fanout", p.join_fanout, "seeds contacted per join attempt");
    app.add_option("--heal-fanout", p.heal_fanout, "heal attempts per interval, cluster-wide");
  }

  // --keyring-file and --encryption: "" or what is wrong.
  std::string finish_encryption() {
    using shoal::node::Encryption;
    if (!o.keyring_file.empty()) {
      std::string why;
      auto ring = shoal::node::load_keyring_file(o.keyring_file, &why);
      if (!ring) return why;
      o.keyring = std::move(*ring);
    }
    if (encryption.empty()) {
      o.encryption = o.keyring.empty() ? Encryption::kOff : Encryption::kRequired;
      return "";
    }
    auto e = shoal::node::parse_encryption(encryption);
    if (!e) return "--encryption: '" + encryption + "' is not off, accept-plaintext or required";
    o.encryption = *e;
    if (*e != Encryption::kOff && o.keyring.empty()) {
      return "--encryption " + encryption + " needs --keyring-file";
    }
    if (*e == Encryption::kOff && !o.keyring.empty()) {
      return "--encryption off with --keyring-file: the keys would not be used; drop one of them";
    }
    return "";
  }

  // After parsing: applies what CLI11 cannot check. "" or what is wrong.
  std::string finish() {
    for (const auto& f : ms) *f.field = milliseconds(f.value);
    o.leave_timeout = milliseconds(leave_timeout_ms);
    o.io_relief_after = std::chrono::microseconds(io_relief_us);
    std::erase(o.seeds, std::string());  // `--seeds ""`: no seeds
    for (const std::string& l : labels) {
      auto kv = shoal::cli::key_value(l);
      if (!kv) return "--label: expected KEY=VALUE, got '" + l + "'";
      o.labels[kv->first] = kv->second;
    }
    if (auto err = finish_admission(); !err.empty()) return err;
    for (const std::string& f : event_handler_flags) {
      shoal::cli::EventHandlerSpec spec;
      if (std::string err = shoal::cli::parse_event_handler(f, spec); !err.empty()) return err;
      event_handlers.push_back(std::move(spec));
    }
    if (auto err = finish_encryption(); !err.empty()) return err;
    if (!seeds_file.empty()) {
      std::string err;
      auto more = read_seeds_file(seeds_file, &err);
      if (!err.empty()) return err;
      o.seeds.insert(o.seeds.end(), more.begin(), more.end());
    }
    if (auto err = finish_snapshot(); !err.empty()) return err;
    return o.validate().message;
  }

  // --admit-label K=V...: a member without every one of them is vetoed.
  std::string finish_admission() {
    shoal::membership::Labels need;
    for (const std::string& l : admit_labels) {
      auto kv = shoal::cli::key_value(l);
      if (!kv) return "--admit-label: expected KEY=VALUE, got '" + l + "'";
      need[kv->first] = kv->second;
    }
    if (need.empty()) return "";
    for (const auto& [k, v] : need) {
      auto own = o.labels.find(k);
      if (own == o.labels.end() || own->second != v) {
        return "--admit-label " + k + "=" + v + ": this node lacks it itself (add --label " + k +
               "=" + v + ")";
      }
    }
    o.admit = [need](const shoal::membership::MemberState& m) -> std::string {
      for (const auto& [k, v] : need) {
        auto it = m.labels.find(k);
        if (it == m.labels.end() || it->second != v) return "lacks label " + k + "=" + v;
      }
      return "";
    };
    return "";
  }

  // The snapshot's members join the seeds (after the configured ones, this
  // node's own address left out). "" or why the file may not be used.
  std::string finish_snapshot() {
    if (snapshot.empty()) return "";
    if (std::string why = shoal::cli::snapshot_file_refusal(snapshot); !why.empty()) {
      return "--snapshot: " + why;
    }
    for (const auto& m : shoal::cli::read_snapshot(snapshot, &snapshot_warning)) {
      if (m.address == o.listen || m.address == o.advertise) continue;
      if (std::find(o.seeds.begin(), o.seeds.end(), m.address) != o.seeds.end()) continue;
      o.seeds.push_back(m.address);
      ++snapshot_seeds;
    }
    return "";
  }
};

// Runs the node until a signal (graceful leave) or an admin leave; the
// exit status.
// --event-handler: the scripts, fed by the node's listeners (before start,
// so that no member event is missed); null without any.
std::unique_ptr<shoal::cli::EventHandlers> event_handlers(shoal::node::Node& node,
                                                          const shoal::node::NodeOptions& o,
                                                          const Flags& flags) {
  if (flags.event_handlers.empty()) return nullptr;
  const std::string self_address = o.advertise.empty() ? o.listen : o.advertise;
  auto handlers = std::make_unique<shoal::cli::EventHandlers>(
      flags.event_handlers, o.name.empty() ? self_address : o.name, self_address,
      [&node](uint64_t id, std::string answer) { (void)node.answer_query(id, std::move(answer)); },
      [](const std::string& line) { spdlog::warn("{}", line); });
  node.on_member_change([h = handlers.get()](const shoal::node::MemberEvent& e) { h->member(e); });
  node.on_app_message([h = handlers.get()](const shoal::node::AppMessage& m) { h->app(m); });
  return handlers;
}

int run(shoal::node::NodeOptions o, const Flags& flags) {
  // Signals go to a sigwait here, not to the node's io thread. The main
  // thread sleeps until one comes: no polling, since with a thousand nodes
  // on one machine every idle wake-up counts. A node that stops by itself
  // (admin "leave") wakes it with SIGUSR1.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by every thread
  // An event handler script that exits before reading its stdin must not
  // take shoald down (event_handlers.cc gives scripts the default back).
  (void)signal(SIGPIPE, SIG_IGN);

  shoal::node::Node node(o);
  // The default handler echoes the payload; the result names the node that
  // handled it, so forwarding is visible from `shoal forward`.
  auto echo = [](std::string_view, std::string_view payload) {
    return shoal::node::HandlerResult{true, std::string(payload)};
  };
  node.set_simple_handler(echo);
  // A named endpoint too, for `shoal forward --endpoint echo`; any other
  // name ends in no_handler, naming it.
  (void)node.set_simple_handler("echo", echo);
  std::unique_ptr<shoal::cli::SnapshotWriter> snapshot;
  if (!flags.snapshot.empty()) {
    if (!flags.snapshot_warning.empty()) spdlog::warn("{}", flags.snapshot_warning);
    spdlog::info("snapshot {}: {} members to join through besides the seeds", flags.snapshot,
                 flags.snapshot_seeds);
    snapshot = std::make_unique<shoal::cli::SnapshotWriter>(flags.snapshot);
    node.on_member_change([w = snapshot.get()](const shoal::node::MemberEvent& e) {
      const bool up = !e.forgotten && (e.status == shoal::membership::Status::kAlive ||
                                       e.status == shoal::membership::Status::kSuspect);
      up ? w->alive(e.name, e.address.empty() ? e.name : e.address) : w->gone(e.name);
    });
  }
  std::unique_ptr<shoal::cli::EventHandlers> handlers = event_handlers(node, o, flags);
  if (auto err = node.start()) {
    // Through the logger: with --log-format json this too is a JSON line.
    spdlog::error("shoald: {}", err.message);
    return 1;
  }
  std::thread stop_watch([&node, main_thread = pthread_self()] {
    while (!node.wait_stopped(std::chrono::hours(1))) {
    }
    pthread_kill(main_thread, SIGUSR1);  // pending and ignored if main is done waiting
  });
  int sig = 0;
  for (;;) {
    siginfo_t info{};
    sig = sigwaitinfo(&signals, &info);
    // Interrupted without one of ours (EINTR: Linux returns it after a
    // stop and continue, and while event handler scripts are spawned): a
    // spurious wake-up, not a reason to stop.
    if (sig < 0) continue;
    // SIGUSR1 from another process is not ours to act on.
    if (sig != SIGUSR1 || info.si_pid == getpid()) break;
  }
  if (sig == SIGINT || sig == SIGTERM) {
    spdlog::info("signal {}: leaving", sig);
    node.leave();
  }
  node.stop();
  stop_watch.join();
  handlers.reset();  // after the node: no listener runs any more
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Ring snapshots are arrays of 12 bytes per point (1.2 MB at 1000
  // members), rebuilt as members come and go. glibc serves blocks above its
  // mmap threshold with fresh mappings, and raises the threshold only to the
  // size of a freed block, so a ring that grows by one member at a time
  // gets a fresh mapping, page faults included, on every rebuild (15% of a
  // node's CPU during a cold start, by perf). Keep such blocks on the heap.
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's 64-bit maximum
  (void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
  Flags flags;
  CLI::App app{"shoald: a shoal cluster member (SWIM gossip, consistent hash ring)"};
  app.option_defaults()->always_capture_default();
  flags.add_node_flags(app);
  flags.add_duration_flags(app);
  flags.add_count_flags(app);
  bool check_config = false;
  app.add_flag("--check-config", check_config,
               "validate the flags and the files they name (keyring, seeds), print the result "
               "and exit, without binding anything: 0 valid, 2 not");
  bool next_minor = false;
  app.add_flag("--test-protocol-next-minor", next_minor,
               "TESTS ONLY: speak the protocol minor version after this build's (an extra "
               "field in every message), to test a cluster of mixed versions");
  app.set_version_flag("--version", "shoald " + std::string(shoal::version()) + " (protocol " +
                                        std::to_string(shoal::protocol_version()) + "." +
                                        std::to_string(shoal::protocol_minor()) + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (auto err = flags.finish(); !err.empty()) {
    std::fprintf(stderr, "shoald: %s\n", err.c_str());
    return 2;
  }
  if (next_minor) shoal::proto::speak_next_minor_for_testing();
  if (check_config) {
    const auto& o = flags.o;
    std::printf(
        "shoald: configuration ok: listen %s, advertise %s, name %s, cluster '%s', %zu seeds, "
        "encryption %s (%zu keys), metrics %s\n",
        o.listen.c_str(), o.advertise.empty() ? o.listen.c_str() : o.advertise.c_str(),
        o.name.empty() ? "(the address)" : o.name.c_str(), o.cluster.c_str(), o.seeds.size(),
        std::string(to_string(o.encryption)).c_str(), o.keyring.size(),
        o.metrics_listen.empty() ? "off" : o.metrics_listen.c_str());
    return 0;
  }
  // One logger, on stderr (docs/OPERATIONS.md), for the node's lines and
  // shoald's own.
  std::shared_ptr<spdlog::logger> logger;
  if (flags.log_format == "json") {
    logger = std::make_shared<spdlog::logger>("shoald",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_formatter(shoal::node::json_log_formatter());
  } else {
    logger = std::make_shared<spdlog::logger>(
        "shoald", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(flags.log_level));
  spdlog::set_default_logger(logger);
  flags.o.logger = logger;
  return run(std::move(flags.o), flags);
}
