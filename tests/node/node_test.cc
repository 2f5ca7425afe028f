// The node runtime on real loopback sockets, in one process: a small
// cluster converges and detects a stopped member, and every kind of hostile
// input is counted and dropped while the node keeps serving. Waits are
// bounded polls with generous deadlines, never fixed sleeps.

#include "node/node.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "node/address.h"
#include "node/admin_client.h"
#include "proto/codec.h"
#include "ring/publisher.h"

namespace shoal::node {
namespace {

using membership::Status;
using std::chrono::milliseconds;

// Polls `pred` every 20 ms until it holds or `limit` passes.
bool eventually(const std::function<bool()>& pred, milliseconds limit = milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred();
}

NodeOptions options(const std::string& cluster = "test") {
  NodeOptions o;
  o.listen = "127.0.0.1:0";  // the kernel picks a free port
  o.cluster = cluster;
  return o;
}

std::optional<Status> status_of(const Node& n, const std::string& address) {
  for (const auto& m : n.members()) {
    if (m.address == address) return m.status;
  }
  return std::nullopt;
}

TEST(NodeAddress, ParsesAndRejects) {
  EXPECT_EQ(parse_host_port("10.0.0.1:7000")->to_string(), "10.0.0.1:7000");
  EXPECT_EQ(parse_host_port("[::1]:7000")->host, "::1");
  EXPECT_EQ(parse_host_port("[::1]:7000")->to_string(), "[::1]:7000");
  EXPECT_EQ(parse_host_port("db-1.internal:80")->port, 80);
  std::string err;
  EXPECT_FALSE(parse_host_port("10.0.0.1", &err));
  EXPECT_NE(err.find("missing ':port'"), std::string::npos);
  EXPECT_FALSE(parse_host_port("::1:7000", &err));
  EXPECT_NE(err.find("brackets"), std::string::npos);
  EXPECT_FALSE(parse_host_port("h:0", &err));
  EXPECT_FALSE(parse_host_port("h:65536", &err));
  EXPECT_FALSE(parse_host_port("h:70x", &err));
  EXPECT_FALSE(parse_host_port(":7000", &err));
  EXPECT_FALSE(parse_host_port("[::1]7000", &err));
}

TEST(NodeOptionsTest, ValidateNamesTheProblem) {
  NodeOptions o;
  EXPECT_EQ(o.validate(), "");
  o.seeds = {"nohostport"};
  EXPECT_NE(o.validate().find("seeds:"), std::string::npos);
  o.seeds.clear();
  o.protocol.protocol_period = milliseconds(10);
  EXPECT_NE(o.validate().find("protocol_period"), std::string::npos);
}

TEST(NodeTest, BindFailureIsReported) {
  Node a(options());
  ASSERT_EQ(a.start(), "");
  NodeOptions o = options();
  o.listen = a.address();
  Node b(o);
  EXPECT_NE(b.start().find("in use"), std::string::npos);
}

// Three nodes converge; one stops; the others mark it faulty and drop it
// from their rings; ring and member callbacks fire on the io thread.
TEST(NodeTest, ThreeNodesConvergeAndDetectAStop) {
  auto a = std::make_unique<Node>(options());
  std::atomic<int> ring_changes{0};
  a->on_ring_change([&](const RingChange&) { ++ring_changes; });
  ASSERT_EQ(a->start(), "");
  NodeOptions ob = options();
  ob.seeds = {a->address()};
  auto b = std::make_unique<Node>(ob);
  auto c = std::make_unique<Node>(ob);
  ASSERT_EQ(b->start(), "");
  ASSERT_EQ(c->start(), "");
  ASSERT_TRUE(eventually([&] {
    return a->ring()->member_count() == 3 && b->ring()->member_count() == 3 &&
           c->ring()->member_count() == 3 && a->membership_checksum() == b->membership_checksum() &&
           b->membership_checksum() == c->membership_checksum();
  }));
  EXPECT_GE(ring_changes.load(), 2);
  EXPECT_EQ(a->ring()->checksum(), c->ring()->checksum());
  // The lock-free reader sees the same ring.
  ring::RingReader reader(a->ring_publisher());
  EXPECT_EQ(reader.get().checksum(), a->ring()->checksum());

  const std::string gone = c->address();
  c->stop();  // no leave: a crash as far as the others can tell
  ASSERT_TRUE(eventually([&] {
    return status_of(*a, gone) == Status::kFaulty && status_of(*b, gone) == Status::kFaulty;
  }));
  EXPECT_EQ(a->ring()->member_count(), 2u);
  EXPECT_FALSE(b->ring()->contains(gone));
}

TEST(NodeTest, GracefulLeaveIsNotAFailure) {
  Node a(options());
  ASSERT_EQ(a.start(), "");
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  ASSERT_EQ(b.start(), "");
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  const std::string leaver = b.address();
  b.leave(milliseconds(2000));
  EXPECT_TRUE(b.wait_stopped(milliseconds(0)));
  ASSERT_TRUE(eventually([&] { return status_of(a, leaver) == Status::kLeave; }));
  EXPECT_EQ(a.ring()->member_count(), 1u);
  EXPECT_EQ(a.stats().protocol.faulty_declared, 0u);
}

// ---- hostile input ----

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    NodeOptions o = options();
    o.tcp_idle_timeout = milliseconds(300);
    o.tcp_read_timeout = milliseconds(300);
    o.frame_bytes_max = 1 << 16;
    node = std::make_unique<Node>(o);
    ASSERT_EQ(node->start(), "");
    NodeOptions op = options();
    op.seeds = {node->address()};
    peer = std::make_unique<Node>(op);
    ASSERT_EQ(peer->start(), "");
    ASSERT_TRUE(eventually([&] { return node->ring()->member_count() == 2; }));
    auto hp = *parse_host_port(node->address());
    udp_target = asio::ip::udp::endpoint(asio::ip::make_address(hp.host), hp.port);
    tcp_target = asio::ip::tcp::endpoint(asio::ip::make_address(hp.host), hp.port);
    members_before = node->members().size();
  }

  void send_udp(const std::string& bytes) {
    asio::ip::udp::socket s(io, asio::ip::udp::v4());
    s.send_to(asio::buffer(bytes), udp_target);
  }

  uint64_t drops(const std::string& reason) {
    auto d = node->stats().drops;
    auto it = d.find(reason);
    return it == d.end() ? 0 : it->second;
  }

  // The node still answers admin requests and its membership is intact.
  void expect_unharmed() {
    auto r = admin_call(node->address(), "test", "status");
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(node->members().size(), members_before);
    EXPECT_EQ(status_of(*node, peer->address()), Status::kAlive);
  }

  std::string valid_ping() {
    membership::Ping p{1, peer->address(), node->address(), 0, {}};
    return proto::encode_datagram("test", p);
  }

  asio::io_context io;
  std::unique_ptr<Node> node, peer;
  asio::ip::udp::endpoint udp_target;
  asio::ip::tcp::endpoint tcp_target;
  size_t members_before = 0;
};

TEST_F(HostileInput, GarbageDatagramIsCountedAndDropped) {
  send_udp(std::string("\xff\xfe garbage \x01\x02\x03", 14));
  ASSERT_TRUE(eventually([&] { return drops("malformed") >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, TruncatedDatagramIsCountedAndDropped) {
  const std::string ping = valid_ping();
  send_udp(ping.substr(0, ping.size() - 5));
  ASSERT_TRUE(eventually([&] { return drops("malformed") >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, OversizedDatagramIsCountedAndDropped) {
  send_udp(std::string(3000, 'x'));
  ASSERT_TRUE(eventually([&] { return drops("too_large") >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, WrongClusterIsCountedAndDropped) {
  membership::Ping p{1,
                     "127.0.0.9:9",
                     node->address(),
                     0,
                     {membership::Change{"127.0.0.9:9", Status::kAlive, 1, {}, "127.0.0.9:9", 1}}};
  send_udp(proto::encode_datagram("other-cluster", p));
  ASSERT_TRUE(eventually([&] { return drops("wrong_cluster") >= 1; }));
  expect_unharmed();
  EXPECT_EQ(status_of(*node, "127.0.0.9:9"), std::nullopt);
}

TEST_F(HostileInput, UnknownVersionIsCountedAndDropped) {
  std::string ping = valid_ping();
  // Field 1 (version) is the first byte pair: tag 0x08, then the varint 1.
  ASSERT_EQ(ping[0], '\x08');
  ASSERT_EQ(ping[1], '\x01');
  ping[1] = '\x07';
  send_udp(ping);
  ASSERT_TRUE(eventually([&] { return drops("bad_version") >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, TcpPeerAnnouncingAHugeFrameIsDisconnected) {
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  std::string header;
  proto::append_frame_header(header, 1u << 30);  // 1 GiB
  asio::write(s, asio::buffer(header));
  // The node closes the connection without reading a body.
  std::array<char, 16> buf{};
  asio::error_code ec;
  s.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  ASSERT_TRUE(eventually([&] { return node->stats().tcp_oversized >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, SilentTcpPeerIsDisconnected) {
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  // Send nothing: the idle timeout (300 ms here) closes it.
  std::array<char, 16> buf{};
  asio::error_code ec;
  s.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  ASSERT_TRUE(eventually([&] { return node->stats().tcp_timeouts >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, TcpGarbageFrameIsDisconnected) {
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  std::string frame;
  proto::append_frame_header(frame, 8);
  frame += "\xff\xff\xff\xff\xff\xff\xff\xff";
  asio::write(s, asio::buffer(frame));
  std::array<char, 16> buf{};
  asio::error_code ec;
  s.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  ASSERT_TRUE(eventually([&] { return node->stats().tcp_bad_frames >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, AdminErrorsAreExplicit) {
  auto r = admin_call(node->address(), "test", "no-such-command");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("unknown command"), std::string::npos);
  r = admin_call(node->address(), "test", "lookup", "{\"n\": 3}");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("key"), std::string::npos);
  r = admin_call(node->address(), "test", "lookup", "not json");
  EXPECT_FALSE(r.ok);
  r = admin_call(node->address(), "test", "lookup", "{\"key\": \"k\", \"n\": 2}");
  ASSERT_TRUE(r.ok) << r.error;
  auto j = nlohmann::json::parse(r.json);
  EXPECT_EQ(j["owners"].size(), 2u);
  expect_unharmed();
}

TEST(AdminClient, UnreachableNodeIsAClearError) {
  // A port nobody listens on: bind one, close it, call it.
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acc.local_endpoint().port();
  acc.close();
  auto r =
      admin_call("127.0.0.1:" + std::to_string(port), "test", "status", "{}", milliseconds(2000));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("connect"), std::string::npos);
}

}  // namespace
}  // namespace shoal::node
