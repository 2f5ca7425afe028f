// Forwarding throughput and latency: a 3-node cluster on loopback in one
// process, C concurrent callers (each issues its next request when the
// previous one ends), random keys, the echo handler. Callers are spread
// over the three nodes as entry points, so about 2/3 of requests are
// forwarded. Prints one JSON object:
//
//   shoal-forward-bench [--callers 64] [--seconds 10] [--payload-bytes 64]
//
// With --owner-port P, the owner runs in a process of its own: a shoald
// at 127.0.0.1:P (cluster "bench"; its default handler echoes) is the only
// member on the ring, and this process runs one entry node, labelled
// draining=true so that no ring holds it, which forwards every request to
// the owner (scripts/bench-forward-process.sh).
//
// scripts/bench-forward.sh runs it; docs/PERFORMANCE.md has the figures.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shoal/node/node.h"

using namespace shoal::node;
using Clock = std::chrono::steady_clock;

namespace {

struct Caller {
  Node* entry = nullptr;
  std::mt19937_64 rng;
  Clock::time_point sent;
  std::vector<double> forwarded_us;  // latencies of forwarded requests
  uint64_t local = 0, forwarded = 0, errors = 0;
};

int arg_int(int argc, char** argv, const char* name, int def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == name) {
      char* end = nullptr;
      const long v = std::strtol(argv[i + 1], &end, 10);
      if (*end != '\0' || v < 0 || v > 100000) {
        std::fprintf(stderr, "forward_bench: %s must be 0..100000\n", name);
        std::exit(2);
      }
      return static_cast<int>(v);
    }
  }
  return def;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  const int callers_n = arg_int(argc, argv, "--callers", 64);
  const int seconds = arg_int(argc, argv, "--seconds", 10);
  const int payload_bytes = arg_int(argc, argv, "--payload-bytes", 64);
  // --keyring 1: every frame sealed (--encryption required, one key).
  const bool sealed = arg_int(argc, argv, "--keyring", 0) != 0;
  // --inline-handlers 1: handlers on the io thread (handler_threads 0)
  // instead of the handler executor.
  const bool inline_handlers = arg_int(argc, argv, "--inline-handlers", 0) != 0;
  // --handler-threads N: the executor's threads (default: NodeOptions').
  const int handler_threads = arg_int(argc, argv, "--handler-threads", -1);
  // --io-relief-us N: NodeOptions::io_relief_after (0: every handler on
  // the handler threads; default: NodeOptions').
  const int relief_us = arg_int(argc, argv, "--io-relief-us", -1);
  Keyring keyring;
  keyring.install(generate_key());

  const int owner_port = arg_int(argc, argv, "--owner-port", 0);
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < (owner_port > 0 ? 1 : 3); ++i) {
    NodeOptions o;
    o.listen = "127.0.0.1:0";
    o.cluster = "bench";
    if (owner_port > 0) {
      o.seeds = {"127.0.0.1:" + std::to_string(owner_port)};
      o.labels = {{"draining", "true"}};  // off every ring: an entry point only
    }
    if (handler_threads >= 0) o.handler_threads = static_cast<uint32_t>(handler_threads);
    if (inline_handlers) o.handler_threads = 0;
    if (relief_us >= 0) o.io_relief_after = std::chrono::microseconds(relief_us);
    if (sealed) {
      o.encryption = Encryption::kRequired;
      o.keyring = keyring;
    }
    if (i > 0 && owner_port == 0) o.seeds = {nodes[0]->address()};
    nodes.push_back(std::make_unique<Node>(o));
    nodes.back()->set_simple_handler([](std::string_view, std::string_view payload) {
      return HandlerResult{true, std::string(payload)};
    });
    if (auto err = nodes.back()->start()) {
      std::fprintf(stderr, "forward_bench: %s\n", err.message.c_str());
      return 1;
    }
  }
  const size_t ring_members = owner_port > 0 ? 1 : 3;
  bool ready = false;
  for (int i = 0; i < 500 && !ready; ++i) {  // bounded wait for the ring: 10 s
    ready = true;
    for (auto& n : nodes) {
      auto ring = n->ring();
      ready = ready && ring->member_count() == ring_members &&
              !ring->contains(n->name()) == (owner_port > 0);
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!ready) {
    std::fprintf(stderr, "forward_bench: the ring did not form\n");
    return 1;
  }

  const std::string payload(static_cast<size_t>(payload_bytes), 'p');
  std::vector<Caller> callers(static_cast<size_t>(callers_n));
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  const auto start = Clock::now();

  // Each caller chains its requests on its entry node's io thread.
  std::function<void(Caller&)> issue = [&](Caller& c) {
    if (stop.load(std::memory_order_relaxed)) {
      --running;
      return;
    }
    const std::string key = "key-" + std::to_string(c.rng());
    c.sent = Clock::now();
    c.entry->handle_or_forward(
        key, payload, ForwardOptions{std::chrono::milliseconds(1000), 3},
        [&c, &issue](ForwardResult r) {
          const double us =
              std::chrono::duration<double, std::micro>(Clock::now() - c.sent).count();
          if (!r.ok()) {
            ++c.errors;
          } else if (r.handled_by == c.entry->address()) {
            ++c.local;
          } else {
            ++c.forwarded;
            c.forwarded_us.push_back(us);
          }
          issue(c);
        });
  };
  for (int i = 0; i < callers_n; ++i) {
    callers[static_cast<size_t>(i)].entry = nodes[static_cast<size_t>(i) % nodes.size()].get();
    callers[static_cast<size_t>(i)].rng.seed(static_cast<uint64_t>(i) + 1);
    ++running;
    issue(callers[static_cast<size_t>(i)]);
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (int i = 0; i < 500 && running.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t takeovers = 0;  // io_relief_takeovers of the nodes
  for (auto& n : nodes) takeovers += n->stats().io_relief_takeovers;
  for (auto& n : nodes) n->stop();

  uint64_t local = 0, forwarded = 0, errors = 0;
  std::vector<double> lat;
  for (auto& c : callers) {
    local += c.local;
    forwarded += c.forwarded;
    errors += c.errors;
    lat.insert(lat.end(), c.forwarded_us.begin(), c.forwarded_us.end());
  }
  const double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);
  std::printf(
      "{\"keyring\": %d, \"inline_handlers\": %d, \"callers\": %d, \"seconds\": %.2f, "
      "\"payload_bytes\": %d, "
      "\"requests_per_s\": %.0f, "
      "\"forwarded_per_s\": %.0f, \"forwarded_per_s_per_node\": %.0f, \"local\": %llu, "
      "\"forwarded\": %llu, \"errors\": %llu, \"forwarded_p50_us\": %.1f, "
      "\"forwarded_p99_us\": %.1f, \"owner_process\": %d, \"relief_takeovers\": %llu}\n",
      sealed ? 1 : 0, inline_handlers ? 1 : 0, callers_n, elapsed, payload_bytes,
      static_cast<double>(local + forwarded) / elapsed, static_cast<double>(forwarded) / elapsed,
      static_cast<double>(forwarded) / elapsed / static_cast<double>(ring_members),
      static_cast<unsigned long long>(local), static_cast<unsigned long long>(forwarded),
      static_cast<unsigned long long>(errors), p50, p99, owner_port > 0 ? 1 : 0,
      static_cast<unsigned long long>(takeovers));
  return errors == 0 ? 0 : 1;
}
