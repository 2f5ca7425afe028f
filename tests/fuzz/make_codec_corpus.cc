// Writes the seed corpus of the codec fuzzer: a few valid datagrams and
// frames of every kind, encoded by the real codec.
//
//   build/tests/fuzz/shoal_codec_corpus_gen tests/fuzz/corpus/codec
//
// The files are committed; rerun this after a schema change (encoding is
// deterministic, so unchanged messages give unchanged files).

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "shoal/membership/messages.h"
#include "shoal/proto/codec.h"

namespace {

namespace m = ::shoal::membership;
namespace p = ::shoal::proto;

// Must match kCluster in codec_fuzzer.cc.
constexpr char kCluster[] = "prod";

m::Change change(std::string address, m::Status status, m::Labels labels = {}) {
  return m::Change{std::move(address), status, 1718000000000, std::move(labels), "[::1]:7000", 7};
}

m::MemberState member(std::string address, m::Status status, m::Labels labels = {}) {
  return m::MemberState{std::move(address), status, 1718000000000, std::move(labels)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const m::Labels labels = {{"zone", "eu-1a"}, {"名前", "ノード"}, {"", ""}};
  const std::vector<std::pair<std::string, std::string>> files = {
      {"datagram_ping",
       p::encode_datagram(kCluster,
                          m::Ping{1, "10.0.0.1:7946", "10.0.0.2:7946", 0x0123456789abcdef, {}})},
      {"datagram_ping_changes",
       p::encode_datagram(kCluster, m::Ping{128,
                                            "[::1]:7000",
                                            "[2001:db8::2]:7946",
                                            1,
                                            {change("10.0.0.1:1", m::Status::kSuspect, labels),
                                             change("10.0.0.2:2", m::Status::kTombstone)}})},
      {"datagram_ping_req",
       p::encode_datagram(kCluster, m::PingReq{UINT64_MAX,
                                               "10.0.0.1:1",
                                               "10.0.0.2:2",
                                               9,
                                               true,
                                               {change("10.0.0.3:3", m::Status::kFaulty)}})},
      {"datagram_ack",
       p::encode_datagram(kCluster,
                          m::Ack{2, "10.0.0.2:2", 3, {change("10.0.0.1:1", m::Status::kAlive)}})},
      {"datagram_nack",
       p::encode_datagram(kCluster,
                          m::Nack{3, "10.0.0.8:3", {change("10.0.0.4:4", m::Status::kLeave)}})},
      {"datagram_gossip",
       p::encode_datagram(kCluster, m::Gossip{"10.0.0.7:5",
                                              4,
                                              {change("10.0.0.1:1", m::Status::kAlive, labels),
                                               change("10.0.0.5:5", m::Status::kSuspect),
                                               change("10.0.0.6:6", m::Status::kFaulty)}})},
      {"datagram_gossip_app", [] {
         m::AppMessage b{m::AppKind::kBroadcast, "10.0.0.7:5", 1718000000000, 3, 0, "config",
                         "color=blue"};
         m::AppMessage e{m::AppKind::kEvent, "node-2", 0, 41, 0, "deploy", "v42", true};
         m::AppMessage q{m::AppKind::kQuery, "10.0.0.1:1", 0, 9, 0xfeed, "ping", ""};
         q.reply_to = "10.0.0.1:1";
         q.timeout_ms = 3200;
         q.want_ack = true;
         q.filter_names = {"node-2"};
         q.filter_labels = {{"role", "db"}};
         m::Gossip g{"10.0.0.7:5", 4, {change("10.0.0.1:1", m::Status::kAlive)}};
         g.app = {b, e, q};
         return p::encode_datagram(kCluster, g);
       }()},
      {"datagram_query_answer",
       p::encode_datagram(kCluster, m::QueryAnswer{0xfeed, "node-2", false, "pong"})},
      {"frame_join_request",
       p::encode_frame(kCluster, 1, m::JoinRequest{"[2001:db8::7]:7946", 1718000000000, labels})},
      {"frame_join_response",
       p::encode_frame(kCluster, 1,
                       m::JoinResponse{"10.0.0.10:7946",
                                       5,
                                       {member("10.0.0.1:1", m::Status::kAlive, labels),
                                        member("10.0.0.2:2", m::Status::kSuspect)}})},
      {"frame_sync_request",
       p::encode_frame(kCluster, 300,
                       m::SyncRequest{"10.0.0.1:1", 6, {member("10.0.0.3:3", m::Status::kLeave)}})},
      {"frame_sync_response",
       p::encode_frame(kCluster, UINT64_MAX,
                       m::SyncResponse{"10.0.0.2:2",
                                       7,
                                       {member("10.0.0.1:1", m::Status::kAlive),
                                        member("10.0.0.4:4", m::Status::kTombstone, labels)}})},
      {"frame_forward_request", p::encode_frame(kCluster, 9,
                                                p::ForwardRequest{"user:42",
                                                                  "payload",
                                                                  0x1234,
                                                                  "10.0.0.1:1",
                                                                  1000,
                                                                  77,
                                                                  70,
                                                                  {{"trace-id", "abc"}},
                                                                  {"user:43"},
                                                                  2,
                                                                  "kv.put"})},
      {"frame_directed_request", [] {
         p::ForwardRequest r{"user:42", "payload", 0x1234, "10.0.0.1:1", 1000, 78, 70};
         r.endpoint = "kv.put";
         r.to_member = "node-3";
         r.replica = 2;
         return p::encode_frame(kCluster, 10, r);
       }()},
      {"frame_sync_response_zstd", [&labels] {
         m::SyncResponse r{"10.0.0.2:2", 8, {}};
         for (int i = 0; i < 40; ++i) {
           r.members.push_back(
               member("10.0.1." + std::to_string(i) + ":7946", m::Status::kAlive, labels));
         }
         return p::encode_frame(kCluster, 11, r, /*compress=*/true);
       }()},
      {"frame_forward_response",
       p::encode_frame(kCluster, 9, p::ForwardResponse{9, "handler failed", "", "10.0.0.2:2"})},
  };
  for (const auto& [name, bytes] : files) {
    const std::string path = std::string(argv[1]) + "/" + name + ".bin";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
  }
  return 0;
}
