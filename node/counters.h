// Copyright shoal authors. Every counter and gauge a node exports, as one
// table.
//
// Each X-macro list below calls X(name, help) once per row; with the
// membership core's SHOAL_MEMBERSHIP_COUNTERS (membership/stats.h) and the
// labelled families taken from their enums (drops by proto::DecodeError,
// members by membership::Status), they are the only list of counters:
//
//   table ----> NodeStats fields (this file)
//         ----> `shoal stats` JSON            render_stats_json()
//         ----> Prometheus text               render_prometheus()
//         ----> docs/OPERATIONS.md table      render_counters_markdown();
//                                             a test fails when they differ
//
// Add a row here and it shows up in all four. Names are snake_case; the
// Prometheus name is shoal_<name>_total for counters, shoal_<name> for
// gauges.

#ifndef SHOAL_NODE_COUNTERS_H_
#define SHOAL_NODE_COUNTERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/membership/stats.h"
#include "shoal/node/histogram.h"

// Transport and runtime counters (node/udp_transport, node/tcp_*).
// clang-format off
#define SHOAL_NODE_COUNTERS(X)                                                                    \
  X(datagrams_in, "UDP datagrams received.")                                                      \
  X(datagrams_out, "UDP datagrams sent.")                                                         \
  X(bytes_in, "UDP bytes received.")                                                              \
  X(bytes_out, "UDP bytes sent.")                                                                 \
  X(send_errors, "Datagrams not sent: the kernel refused them (full buffer, unroutable) or the address did not parse.") \
  X(receive_errors, "UDP reads that failed other than 'nothing to read' (e.g. out of memory).")  \
  X(tcp_accepted, "TCP connections accepted.")                                                    \
  X(tcp_refused, "TCP connections closed at once: connections_max were open already.")            \
  X(accept_errors, "Failed accepts (e.g. out of descriptors): the next one waits 100 ms.")       \
  X(tcp_frames_in, "TCP frames received on accepted connections.")                                \
  X(tcp_oversized, "TCP frames announced above frame_bytes_max: closed before allocating.")      \
  X(tcp_frames_too_big, "Frames this node did not send: over frame_bytes_max once encoded (a join or sync table, say). The exchange fails; nothing is cut short.") \
  X(tcp_timeouts, "TCP connections closed: idle for tcp_idle_timeout, or a frame slower than tcp_read_timeout from its first byte.") \
  X(tcp_bad_frames, "TCP frames that did not decode, or answers sent as requests: closed.")      \
  X(exchanges_failed, "Join and full-sync exchanges this node started that failed.")             \
  X(tables_compressed_in, "Join and sync tables received zstd-compressed (protocol minor 7: a peer compresses a table of 1 KiB or more for a peer that speaks it).") \
  X(full_syncs_refused, "Join and sync requests refused (connection closed, the asker retries later): full_syncs_max full-state answers were waiting to be sent.") \
  X(admin_refused, "Admin requests refused: not sealed with a key of the ring (with a keyring) or not from loopback (without).") \
  X(callback_errors, "Member and ring change callbacks that threw: caught, the node carries on.") \
  X(io_exceptions, "Exceptions (e.g. bad_alloc) that escaped a handler of the io thread: caught, the loop resumed.") \
  X(io_relief_takeovers, "Times a request handler run on the io thread's own thread took io_relief_after or waited for the node, and the relief thread took the io loop over (then handlers go to the handler threads for a second).")

// Request forwarding (node/forwarder).
#define SHOAL_FORWARD_COUNTERS(X)                                                                 \
  X(forwards_local, "handle_or_forward attempts handled here: this node owned the key.")         \
  X(forwards_sent, "Forward attempts sent to an owner.")                                          \
  X(forwards_received, "Requests other nodes forwarded to this node.")                           \
  X(forwards_ring_mismatch, "Forwarded requests whose sender's ring checksum differs from this node's: the rings disagree.") \
  X(forwards_retried, "Forward attempts retried (the key looked up again first).")               \
  X(forwards_deduplicated, "Retried requests this owner had already run: answered again from memory, the handler not run twice.") \
  X(forwards_expired, "Forwarded requests whose time budget ran out before their turn came: answered timeout, not run.") \
  X(forward_errors, "handle_or_forward calls that ended in an error.")                            \
  X(requests_directed, "Directed requests started: Node::request and the replicator's, to a member by name.") \
  X(requests_unknown_member, "Directed requests that ended in unknown_member: the member was unknown, faulty, gone, spoke an older protocol minor, or was not the receiver.") \
  X(replications, "replicate calls: a key written or read at its first N owners.")              \
  X(replications_failed, "replicate calls that ended without their quorum (bad options included).") \
  X(handler_exceptions, "Request handlers that threw: the request ended in handler_failed.")      \
  X(handler_dropped, "Handler replies let go of without an answer: the request ended in handler_dropped.") \
  X(handler_replies_ignored, "Second and later answers to one handler reply: ignored.")         \
  X(breaker_opens, "Per-peer circuit breakers opened.")                                          \
  X(forward_callback_errors, "handle_or_forward completion callbacks that threw: caught.")

// Gauges: values now, not totals.
#define SHOAL_NODE_GAUGES(X)                                                                      \
  X(health_score, "Lifeguard local health score: 0 is healthy, up to awareness_max.")            \
  X(pending_changes, "Claims waiting in the piggyback queue.")                                    \
  X(ring_members, "Members on this node's ring.")
// clang-format on

namespace shoal::node {

// The transport counters, as the runtime keeps them.
struct NodeCounters {
#define SHOAL_NODE_FIELD(name, help) uint64_t name = 0;
  SHOAL_NODE_COUNTERS(SHOAL_NODE_FIELD)
#undef SHOAL_NODE_FIELD
};

// The forwarder's counters.
struct ForwardStats {
#define SHOAL_NODE_FIELD(name, help) uint64_t name = 0;
  SHOAL_FORWARD_COUNTERS(SHOAL_NODE_FIELD)
#undef SHOAL_NODE_FIELD
};

// A node's counters and gauges (Node::stats()). Counters are monotonic
// since start.
struct NodeStats {
#define SHOAL_NODE_FIELD(name, help) uint64_t name = 0;
  SHOAL_NODE_COUNTERS(SHOAL_NODE_FIELD)
  SHOAL_FORWARD_COUNTERS(SHOAL_NODE_FIELD)
  SHOAL_NODE_GAUGES(SHOAL_NODE_FIELD)
#undef SHOAL_NODE_FIELD
  // Dropped datagrams and frames by reason: every proto::DecodeError name
  // (malformed, too_large, ...), zeros included.
  std::map<std::string, uint64_t> drops;
  // Known members by status name (alive, suspect, ...), zeros included.
  std::map<std::string, uint64_t> members;
  membership::MembershipStats protocol;
  // Latencies. handle_or_forward calls from start to their one result, by
  // outcome (every ForwardError name: ok, timeout, ...); handler runs from
  // start to answer, and the wait of a request for a handler thread.
  std::map<std::string, LatencyHistogram> forward_duration;
  LatencyHistogram handler_duration;
  LatencyHistogram handler_queue_wait;
};

// One exported metric: a name, and either one value or one per label.
struct Metric {
  enum class Kind { kCounter, kGauge };
  std::string_view name;
  Kind kind = Kind::kCounter;
  std::string_view help;
  std::string_view label;                                // "" if unlabelled
  std::vector<std::pair<std::string, uint64_t>> values;  // ("", v) if unlabelled
};

// Zeros, with every drop reason and member status present (the enums'
// names), as a node fills them.
NodeStats empty_node_stats();

// Every metric of `s`, in table order: node counters, forwarding, the
// membership core, drops, members, gauges.
std::vector<Metric> collect_metrics(const NodeStats& s);

// `shoal stats`: one JSON object, {name: value} and {family: {label:
// value}}, and "latency": {histogram: {count, p50_ms, p99_ms}} (the
// forward durations as forward_duration.<outcome>).
std::string render_stats_json(const NodeStats& s);
// Prometheus text exposition format 0.0.4: the counters and gauges, then
// the histograms shoal_forward_duration_seconds{outcome},
// shoal_handler_duration_seconds and shoal_handler_queue_wait_seconds.
std::string render_prometheus(const NodeStats& s);
// The counters table of docs/OPERATIONS.md (between its "counters:begin"
// and "counters:end" markers).
std::string render_counters_markdown();

}  // namespace shoal::node

#endif  // SHOAL_NODE_COUNTERS_H_
