// Copyright shoal authors. The membership core's counters, as one table.
//
// SHOAL_MEMBERSHIP_COUNTERS(X) calls X(name, help) once per counter. The
// MembershipStats fields below, the node's `shoal stats` JSON, the
// Prometheus text (shoal_<name>_total) and the counters table of
// docs/OPERATIONS.md are all generated from it (node/counters.h), so a
// counter added here shows up everywhere, and a test fails until the docs
// table says what it means. Every counter is monotonic.

#ifndef SHOAL_MEMBERSHIP_STATS_H_
#define SHOAL_MEMBERSHIP_STATS_H_

#include <cstdint>

// clang-format off
#define SHOAL_MEMBERSHIP_COUNTERS(X)                                                              \
  X(messages_in, "Datagrams the membership core accepted (decoded, from another node).")         \
  X(messages_out, "Datagrams the membership core produced.")                                      \
  X(messages_from_self, "Datagrams that claimed this node as their source: dropped.")             \
  X(pings_misdirected, "Pings for another target (a stale address): not acked.")                  \
  X(acks_unexpected, "Acks for an unknown or finished probe.")                                     \
  X(changes_applied, "Claims about members that changed this node's view.")                       \
  X(changes_stale, "Claims older than this node's view: ignored.")                                \
  X(changes_dropped, "Claims dropped: over the per-message or member-table bound, or too big for any datagram.")               \
  X(hearsay_dropped, "Non-alive claims about members never seen alive, dropped: kHearsayMax such entries exist already.") \
  X(introductions_throttled, "New members a datagram sender introduced over kNewPerSenderPerSecond in one second: dropped.") \
  X(members_vetoed, "Members the app's admission check refused: never added here (NodeOptions::admit, shoald --admit-label).") \
  X(members_evicted, "Members forgotten early to make room for a member's own alive claim in a full table.") \
  X(changes_rejected, "Claims that would raise an incarnation past this node's clock plus incarnation_ahead_max: rejected.") \
  X(probes, "Probes started (one per protocol period).")                                          \
  X(probes_failed, "Probe periods that ended without an ack.")                                    \
  X(late_ticks, "Protocol timers that fired over lag_tolerance late: the process was starved.")   \
  X(ping_reqs_sent, "Indirect probes (ping-req) sent to helpers.")                                \
  X(tcp_probes_sent, "Fallback probes: direct pings over TCP after the UDP probe went unanswered (to a peer older than protocol minor 1, failed at once, unsent).") \
  X(tcp_probe_acks, "Fallback probes answered in time: probes saved from failing by TCP.")        \
  X(ping_reqs_ignored, "Ping-reqs for a target this node does not probe itself: not relayed (no reflection), nacked at once.") \
  X(nacks_sent, "Nacks sent as a ping-req helper: the target stayed silent, or this node does not probe it.")                    \
  X(suspicions, "Members this node started suspecting.")                                          \
  X(confirmations, "New independent confirmations of a suspicion heard.")                         \
  X(faulty_declared, "Members this node declared faulty.")                                        \
  X(forced_leaves, "Suspect or faulty members this node marked left (force-leave).")              \
  X(refutations, "Claims about this node that it refuted.")                                       \
  X(members_moved, "Members whose name a newer claim moved to another address (a restart on a new IP, or a name conflict resolved).") \
  X(name_conflicts, "Claims that this node's name is held at another address: checked by pinging that address (docs/PROTOCOL.md, Names).") \
  X(joins_sent, "Join requests sent to seeds.")                                                   \
  X(joins_failed, "Join requests that failed or timed out.")                                      \
  X(heals_sent, "Partition-healing join attempts sent to faulty members or seeds.")               \
  X(reincarnations, "Faulty members revived as suspect by partition healing.")                    \
  X(syncs_sent, "Full syncs (push-pull) this node started.")                                      \
  X(syncs_received, "Full syncs other nodes started with this node.")                             \
  X(push_pulls, "Periodic full syncs (push_pull_interval) this node started.")                   \
  X(app_state_refused, "App states over kAppStateMax: not sent (this node's) or not merged (a peer's).") \
  X(gossips_sent, "Gossip datagrams sent (changes without a probe).")                            \
  X(app_broadcasts_sent, "App broadcasts this node sent (Node::broadcast).")                      \
  X(app_events_sent, "User events this node sent (Node::event, shoal event).")                    \
  X(app_queries_sent, "Queries this node asked (Node::query, shoal query).")                      \
  X(app_delivered, "App broadcasts, user events and queries delivered to this node's app.")      \
  X(app_duplicates, "App messages and query answers seen before: not delivered again.")          \
  X(app_too_old, "User events and queries older than the event (query) buffer: refused.")         \
  X(app_dropped, "App messages dropped: over the per-Lamport-time bound, or a delivered query the app never answered pushed out.") \
  X(app_queue_dropped, "App messages dropped from a full gossip queue before their sends ran out.") \
  X(app_events_coalesced, "Coalescing user events replaced by a newer one of the same name before delivery.") \
  X(app_answers_sent, "Query responses this node sent.")                                           \
  X(app_answers_received, "Query acks and responses this node took (one per member and query).") \
  X(app_answers_late, "Query acks and responses for a query no longer open here: dropped.")      \
  X(app_bytes_sent, "Bytes of app messages piggybacked on datagrams, and of query answers and acks sent.")
// clang-format on

namespace shoal::membership {

// Counters for metrics and tests, one field per table row.
struct MembershipStats {
#define SHOAL_MEMBERSHIP_FIELD(name, help) uint64_t name = 0;
  SHOAL_MEMBERSHIP_COUNTERS(SHOAL_MEMBERSHIP_FIELD)
#undef SHOAL_MEMBERSHIP_FIELD
};

}  // namespace shoal::membership

#endif  // SHOAL_MEMBERSHIP_STATS_H_
