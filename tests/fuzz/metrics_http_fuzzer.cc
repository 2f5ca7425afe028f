// Fuzz target for node/metrics_http.h parse_metrics_request: the request
// head of the metrics endpoint, read as its connection reads it.
//
// Input: one byte choosing the read size (32..2048 bytes, the connection's
// buffer is 2048), then the bytes a client sends. They are fed read by
// read, as MetricsServer's connection does, until the verdict is final.
// Checks, each a trap when broken:
//   * a connection holds a bounded head: it reads on (kIncomplete) only
//     while it holds at most kMetricsHeadMax bytes, and stops by
//     kMetricsHeadMax + one read;
//   * kTooLarge only for a head with no end in it, over kMetricsHeadMax;
//   * kMetrics, kHealth, kReady and kNotFound only for a head with its end ("\r\n\r\n" or
//     "\n\n") in it; kMetrics exactly for "GET /metrics " and
//     "GET /metrics?" heads;
//   * a verdict on a complete head is final: more bytes (pipelined junk,
//     a body) do not change it, and the whole input, parsed at once,
//     gets the verdict the read-by-read connection got.
// Built as shoal_metrics_http_fuzzer (libFuzzer) and as
// shoal_metrics_http_fuzz_replay (ctest fuzz.metrics_http_replay).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shoal/node/metrics_http.h"

namespace {

using shoal::node::kMetricsHeadMax;
using shoal::node::MetricsRequest;
using shoal::node::parse_metrics_request;

constexpr size_t kReadMax = 2048;  // MetricsServer::Conn's buffer

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool has_end(std::string_view s) {
  return s.find("\r\n\r\n") != std::string_view::npos || s.find("\n\n") != std::string_view::npos;
}

void check_verdict(std::string_view head, MetricsRequest r) {
  switch (r) {
    case MetricsRequest::kIncomplete:
      check(!has_end(head) && head.size() <= kMetricsHeadMax);
      break;
    case MetricsRequest::kTooLarge:
      check(!has_end(head) && head.size() > kMetricsHeadMax);
      break;
    case MetricsRequest::kMetrics:
    case MetricsRequest::kHealth:
    case MetricsRequest::kReady:
    case MetricsRequest::kUi:
    case MetricsRequest::kNotFound: {
      check(has_end(head));
      auto get = [&](std::string_view path) {
        const std::string prefix = "GET " + std::string(path);
        return head.size() > prefix.size() && head.substr(0, prefix.size()) == prefix &&
               (head[prefix.size()] == ' ' || head[prefix.size()] == '?');
      };
      check(get("/metrics") == (r == MetricsRequest::kMetrics));
      check(get("/health") == (r == MetricsRequest::kHealth));
      check(get("/ready") == (r == MetricsRequest::kReady));
      check((get("/ui") || head.substr(0, 8) == "GET /ui/") == (r == MetricsRequest::kUi));
      if (r == MetricsRequest::kUi) {
        const std::string_view target = shoal::node::request_target(head);
        check(target.substr(0, 3) == "/ui" && target.size() <= head.size() - 4);
        check(target.find_first_of(" \r\n") == std::string_view::npos);
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t read_size = (static_cast<size_t>(data[0]) % 64 + 1) * 32;
  const std::string_view sent(reinterpret_cast<const char*>(data + 1), size - 1);

  // Read by read, as the connection does.
  std::string received;
  MetricsRequest verdict = MetricsRequest::kIncomplete;
  size_t at = 0;
  while (at < sent.size()) {
    const size_t n = std::min(read_size, sent.size() - at);
    check(n <= kReadMax);
    received.append(sent.substr(at, n));
    at += n;
    verdict = parse_metrics_request(received);
    check_verdict(received, verdict);
    if (verdict != MetricsRequest::kIncomplete) break;
  }
  check(received.size() <= kMetricsHeadMax + kReadMax);

  // The whole input at once.
  const MetricsRequest whole = parse_metrics_request(sent);
  check_verdict(sent, whole);
  if (verdict != MetricsRequest::kIncomplete && verdict != MetricsRequest::kTooLarge) {
    check(whole == verdict);
  } else if (verdict == MetricsRequest::kIncomplete) {
    check(at == sent.size() && whole == MetricsRequest::kIncomplete);
  }
  return 0;
}
