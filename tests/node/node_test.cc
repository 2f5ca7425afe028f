// The node runtime on real loopback sockets, in one process: a small
// cluster converges and detects a stopped member, and every kind of hostile
// input is counted and dropped while the node keeps serving. Waits are
// bounded polls with generous deadlines, never fixed sleeps.

#include "shoal/node/node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shoal/node/admin_client.h"
#include "shoal/node/frame_buffer.h"
#include "shoal/node/host_port.h"
#include "shoal/node/seal.h"
#include "shoal/node/tcp_server.h"
#include "shoal/proto/codec.h"
#include "shoal/ring/publisher.h"
#include "tests/node/eventually.h"

namespace shoal::node {
namespace {

using membership::Status;
using std::chrono::milliseconds;

NodeOptions options(const std::string& cluster = "test") {
  NodeOptions o;
  o.listen = "127.0.0.1:0";  // the kernel picks a free port
  o.cluster = cluster;
  return o;
}

std::optional<Status> status_of(const Node& n, const std::string& address) {
  for (const auto& m : n.members()) {
    if (m.name == address) return m.status;
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
  EXPECT_EQ(o.validate().message, "");
  o.seeds = {"nohostport"};
  EXPECT_NE(o.validate().message.find("seeds:"), std::string::npos);
  o.seeds.clear();
  o.protocol.protocol_period = milliseconds(10);
  EXPECT_NE(o.validate().message.find("protocol_period"), std::string::npos);
}

// This member's identity must be a canonical IP literal and port; names
// are for seeds only.
TEST(NodeOptionsTest, IdentityIsAnIpLiteral) {
  NodeOptions o;
  o.listen = "localhost:7000";
  EXPECT_NE(o.validate().message.find("give --advertise IP:PORT"), std::string::npos)
      << o.validate().message;
  o.advertise = "127.0.0.1:7000";
  EXPECT_EQ(o.validate().message, "");
  o.advertise = "db-1.internal:7000";
  EXPECT_NE(o.validate().message.find("not an IP address"), std::string::npos)
      << o.validate().message;
  o.advertise = "[0::1]:7000";
  EXPECT_NE(o.validate().message.find("not canonical ([::1]:7000)"), std::string::npos)
      << o.validate().message;
  o.advertise.clear();
  o.listen = "127.0.0.1:0";
  o.seeds = {"localhost:7000", "db-1.internal:7000"};  // names are fine for seeds
  EXPECT_EQ(o.validate().message, "");
}

// A seed given by name is resolved off the io thread, and joined.
TEST(NodeTest, SeedGivenByNameIsJoined) {
  Node a(options());
  ASSERT_EQ(a.start().message, "");
  NodeOptions ob = options();
  ob.seeds = {"localhost:" + std::to_string(parse_host_port(a.address())->port)};
  Node b(ob);
  ASSERT_EQ(b.start().message, "");
  EXPECT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  EXPECT_TRUE(eventually([&] { return b.ring()->member_count() == 2; }));
}

// ---- FrameBuffer: the TCP stream splitter every connection uses ----

std::string framed(const std::string& body) {
  std::string out;
  proto::append_frame_header(out, static_cast<uint32_t>(body.size()));
  return out + body;
}

// Feeds `stream` in pieces of `piece` bytes; returns the frames taken.
std::vector<std::string> split(FrameBuffer& fb, const std::string& stream, size_t piece) {
  std::vector<std::string> frames;
  for (size_t at = 0; at < stream.size();) {
    auto area = fb.write_area();
    const size_t n = std::min({piece, area.size(), stream.size() - at});
    std::copy_n(stream.data() + at, n, area.data());
    fb.commit(n);
    at += n;
    std::string_view body;
    while (fb.next(body) == FrameBuffer::Status::kFrame) frames.emplace_back(body);
  }
  return frames;
}

TEST(FrameBufferTest, SplitsAStreamWhateverTheReadSizes) {
  std::string stream;
  std::vector<std::string> want;
  for (int i = 0; i < 200; ++i) {
    want.push_back(std::string(static_cast<size_t>(i * 7 % 300), static_cast<char>('a' + i % 26)));
    stream += framed(want.back());
  }
  for (size_t piece : {size_t{1}, size_t{3}, size_t{4}, size_t{5}, size_t{1000}, stream.size()}) {
    FrameBuffer fb(1 << 20, 64);
    EXPECT_EQ(split(fb, stream, piece), want) << "piece " << piece;
    EXPECT_EQ(fb.partial(), 0u);
  }
}

TEST(FrameBufferTest, AFrameLargerThanTheReadChunkIsReassembled) {
  const std::string big(100000, 'z');
  FrameBuffer fb(1 << 20, 1024);
  const auto frames = split(fb, framed("a") + framed(big) + framed("b"), 4096);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1], big);
  EXPECT_EQ(frames[2], "b");
  // Between frames the big buffer is given back: the next area is small.
  EXPECT_LE(fb.write_area().size(), 4096u);
}

TEST(FrameBufferTest, ShrinksAfterABigFrameEvenWhilePipelined) {
  FrameBuffer fb(1 << 20, 1024);
  const std::string big(100000, 'z');
  std::string stream = framed(big) + framed("next");
  // Deliver the big frame and the first 3 bytes of the next together.
  const auto frames = split(fb, stream.substr(0, stream.size() - 5), 1 << 20);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(fb.partial(), 3u);
  EXPECT_LE(fb.write_area().size(), 2048u);  // back to a small buffer
  const auto rest = split(fb, stream.substr(stream.size() - 5), 1 << 20);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0], "next");
}

// Feeds `fb` a frame header announcing `length` bytes, and nothing else.
void feed_header(FrameBuffer& fb, uint32_t length) {
  std::string header;
  proto::append_frame_header(header, length);
  auto area = fb.write_area();
  std::copy(header.begin(), header.end(), area.data());
  fb.commit(header.size());
}

TEST(FrameBufferTest, OversizedHeaderIsRefusedBeforeAllocating) {
  FrameBuffer fb(1000, 64);
  feed_header(fb, 1u << 30);
  std::string_view body;
  EXPECT_EQ(fb.next(body), FrameBuffer::Status::kOversized);
  EXPECT_EQ(fb.announced(), 1u << 30);
  EXPECT_LT(fb.write_area().size(), 1000u);  // nothing reserved for it
}

// Room grows with the bytes that arrive, not to the length a header
// announces: a header for 8 MiB followed by a trickle costs kilobytes.
TEST(FrameBufferTest, GrowsWithArrivingBytesNotTheAnnouncedLength) {
  FrameBuffer fb(16u << 20, 16 * 1024);
  feed_header(fb, 8u << 20);
  std::string_view body;
  ASSERT_EQ(fb.next(body), FrameBuffer::Status::kNeedMore);
  EXPECT_LE(fb.write_area().size(), 2u * 16 * 1024);
  // Fed in full, the frame still arrives whole.
  size_t fed = 0;
  const std::string payload(8u << 20, 'p');
  for (int guard = 0; guard < 100000 && fed < payload.size(); ++guard) {
    auto a = fb.write_area();
    const size_t n = std::min(a.size(), payload.size() - fed);
    std::copy_n(payload.data() + fed, n, a.data());
    fb.commit(n);
    fed += n;
  }
  ASSERT_EQ(fb.next(body), FrameBuffer::Status::kFrame);
  EXPECT_EQ(body.size(), payload.size());
}

TEST(FrameBufferTest, PartialCountsAnIncompleteFrame) {
  FrameBuffer fb(1000, 64);
  const std::string f = framed("hello");
  auto area = fb.write_area();
  std::copy_n(f.data(), 6, area.data());
  fb.commit(6);
  std::string_view body;
  EXPECT_EQ(fb.next(body), FrameBuffer::Status::kNeedMore);
  EXPECT_EQ(fb.partial(), 6u);
  area = fb.write_area();
  std::copy(f.begin() + 6, f.end(), area.data());
  fb.commit(f.size() - 6);
  ASSERT_EQ(fb.next(body), FrameBuffer::Status::kFrame);
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(fb.partial(), 0u);
}

TEST(NodeTest, BindFailureIsReported) {
  Node a(options());
  ASSERT_EQ(a.start().message, "");
  NodeOptions o = options();
  o.listen = a.address();
  Node b(o);
  EXPECT_NE(b.start().message.find("in use"), std::string::npos);
}

// Three nodes converge; one stops; the others mark it faulty and drop it
// from their rings; ring and member callbacks fire on the io thread.
TEST(NodeTest, ThreeNodesConvergeAndDetectAStop) {
  auto a = std::make_unique<Node>(options());
  std::atomic<int> ring_changes{0};
  std::atomic<size_t> last_ring_size{0};
  a->on_ring_change([&](const RingChange& c) {
    ++ring_changes;
    last_ring_size = c.after->member_count();
  });
  ASSERT_EQ(a->start().message, "");
  NodeOptions ob = options();
  ob.seeds = {a->address()};
  auto b = std::make_unique<Node>(ob);
  auto c = std::make_unique<Node>(ob);
  ASSERT_EQ(b->start().message, "");
  ASSERT_EQ(c->start().message, "");
  ASSERT_TRUE(eventually([&] {
    return a->ring()->member_count() == 3 && b->ring()->member_count() == 3 &&
           c->ring()->member_count() == 3 && a->membership_checksum() == b->membership_checksum() &&
           b->membership_checksum() == c->membership_checksum();
  }));
  // Changes within 10 ms are published as one snapshot: at least one.
  EXPECT_GE(ring_changes.load(), 1);
  EXPECT_EQ(last_ring_size.load(), 3u);
  EXPECT_EQ(a->ring()->checksum(), c->ring()->checksum());
  // The lock-free reader sees the same ring.
  ring::RingReader reader(a->ring_publisher());
  EXPECT_EQ(reader.get().checksum(), a->ring()->checksum());

  const std::string gone = c->address();
  c->stop();  // no leave: a crash as far as the others can tell
  ASSERT_TRUE(eventually([&] {
    return status_of(*a, gone) == Status::kFaulty && status_of(*b, gone) == Status::kFaulty;
  }));
  // Ring snapshots follow within the 10 ms publication coalescing.
  EXPECT_TRUE(
      eventually([&] { return a->ring()->member_count() == 2u && !b->ring()->contains(gone); }));
}

// A node starved of CPU (here: its io thread held by a slow handler) wakes
// up with its probe timers overdue and datagrams queued in its socket. It
// must read them before judging the probe: the ack it is waiting for may
// be among them. The peer is a raw socket that answers every ping at once,
// except one, whose ack it sends only after 80 other datagrams (more than
// one readable wake-up reads, so the timer runs mid-backlog), while the
// node is held past that probe's whole period.
TEST(NodeTest, LateTimersSeeTheAcksQueuedMeanwhile) {
  std::atomic<bool> hold{false};
  std::atomic<bool> held{false};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  NodeOptions o = options();
  // Slower than the default, so that the test thread (under a sanitizer, on
  // a busy machine) has 300 ms to hold A before the probe's ping times out.
  o.protocol.protocol_period = milliseconds(600);
  o.protocol.ping_timeout = milliseconds(300);
  o.handler_threads = 0;  // the handler runs on the io thread: it can hold it
  Node a(o);
  a.set_simple_handler([&](std::string_view, std::string_view) {
    if (hold) {
      held = true;
      released.wait();
    }
    return HandlerResult{true, "ok"};
  });
  ASSERT_EQ(a.start().message, "");
  const auto hp = *parse_host_port(a.address());
  const asio::ip::udp::endpoint a_ep(asio::ip::make_address(hp.host), hp.port);

  asio::io_context io;
  asio::ip::udp::socket f(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string f_addr = "127.0.0.1:" + std::to_string(f.local_endpoint().port());
  auto send = [&](const membership::Message& m) {
    f.send_to(asio::buffer(proto::encode_datagram("test", m)), a_ep);
  };
  // F announces itself: a ping carrying its own alive claim.
  send(membership::Ping{
      1, f_addr, a.address(), 0, {membership::Change{f_addr, Status::kAlive, 1, {}, f_addr, 1}}});
  // The responder: acks every ping from A; with `withhold` set, keeps the
  // first ping's seq instead (held_seq) and stops answering.
  std::atomic<bool> withhold{false};
  std::atomic<uint64_t> held_seq{0};
  std::atomic<bool> done{false};
  std::thread responder([&] {
    f.non_blocking(true);
    std::array<char, 2048> buf{};
    for (int i = 0; i < 30000 && !done; ++i) {  // at most ~30 s
      asio::ip::udp::endpoint from;
      asio::error_code ec;
      const size_t n = f.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) {
        std::this_thread::sleep_for(milliseconds(1));
        continue;
      }
      auto d = proto::decode_datagram(std::string_view(buf.data(), n), "test", 1400);
      if (!d.ok()) continue;
      const auto* ping = std::get_if<membership::Ping>(&*d.value);
      if (ping == nullptr) continue;
      if (withhold) {
        if (held_seq == 0) held_seq = ping->seq;
        continue;
      }
      send(membership::Ack{ping->seq, f_addr, 0, {}});
    }
  });
  // Whatever fails below, A's io thread is released and the responder
  // joined before A is destroyed.
  bool release_sent = false;
  auto release_a = [&] {
    if (!release_sent) release.set_value();
    release_sent = true;
  };
  struct Cleanup {
    std::function<void()> run;
    ~Cleanup() { run(); }
  } cleanup{[&] {
    done = true;
    release_a();
    responder.join();
  }};
  ASSERT_TRUE(eventually([&] { return a.stats().protocol.probes >= 3; }));
  const auto before = a.stats().protocol;
  EXPECT_EQ(before.probes_failed, 0u);

  withhold = true;
  ASSERT_TRUE(eventually([&] { return held_seq != 0; }));
  const auto ping_seen = std::chrono::steady_clock::now();
  // Hold A's io thread: a request for a key A owns runs its handler there.
  hold = true;
  std::string key;
  for (int i = 0; key.empty() && i < 1000; ++i) {
    if (a.ring()->lookup("k" + std::to_string(i)) == a.address()) key = "k" + std::to_string(i);
  }
  ASSERT_FALSE(key.empty());
  ForwardOptions patient;
  patient.timeout = milliseconds(10000);
  auto result = a.handle_or_forward(key, "x", patient);
  ASSERT_TRUE(eventually([&] { return held.load(); }));
  // Queued while A is held: 80 pings from F, then the withheld ack.
  for (uint64_t i = 0; i < 80; ++i) send(membership::Ping{100 + i, f_addr, a.address(), 0, {}});
  send(membership::Ack{held_seq, f_addr, 0, {}});
  withhold = false;
  // The starvation itself: A stays held past the probe's ping timeout and
  // period end (300 ms and 600 ms after the ping), with a wide margin.
  std::this_thread::sleep_until(ping_seen + milliseconds(1500));
  release_a();
  EXPECT_TRUE(result.get().ok());
  ASSERT_TRUE(eventually([&] { return a.stats().protocol.late_ticks > before.late_ticks; }));
  ASSERT_TRUE(eventually([&] { return a.stats().protocol.probes >= before.probes + 3; }));
  EXPECT_EQ(a.stats().protocol.probes_failed, 0u);
  EXPECT_EQ(status_of(a, f_addr), Status::kAlive);
  // Every datagram of the backlog was read whole: none dropped as malformed
  // (a first version drained into the buffer an asynchronous read still
  // owned, and corrupted datagrams under exactly this load).
  for (const auto& [reason, count] : a.stats().drops) EXPECT_EQ(count, 0u) << reason;
  EXPECT_GE(a.stats().datagrams_in, 81u);
}

// Callbacks and handlers are application code: what they throw is caught
// and counted, and the node keeps working.
TEST(NodeTest, ThrowingCallbacksAndHandlersDoNotStopTheNode) {
  NodeOptions o = options();
  Node a(o);
  a.on_member_change([](const membership::MemberEvent&) { throw std::runtime_error("cb"); });
  a.on_ring_change([](const RingChange&) { throw 7; });
  a.set_simple_handler([](std::string_view, std::string_view) -> HandlerResult {
    throw std::runtime_error("handler");
  });
  ASSERT_EQ(a.start().message, "");
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  EXPECT_GE(a.stats().callback_errors, 2u);  // member and ring callbacks
  std::string key;
  for (int i = 0; key.empty() && i < 1000; ++i) {
    if (a.ring()->lookup("k" + std::to_string(i)) == a.address()) key = "k" + std::to_string(i);
  }
  auto r = a.handle_or_forward(key, "x").get();
  EXPECT_EQ(r.error, ForwardError::kHandlerFailed);
  EXPECT_EQ(r.message, "handler threw: handler");
  EXPECT_EQ(a.stats().handler_exceptions, 1u);
  EXPECT_EQ(status_of(b, a.address()), Status::kAlive);
}

// An owner that stops reading (its io thread stuck in a handler) while
// requests are outstanding: the forwarding link's read watchdog fails the
// link after tcp_read_timeout, long before the request's own budget.
TEST(NodeTest, StuckOwnerFailsTheForwardingLinkAfterTheReadTimeout) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> held{false};
  NodeOptions oa = options();
  oa.tcp_read_timeout = milliseconds(300);
  Node a(oa);
  ASSERT_EQ(a.start().message, "");
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  b.set_simple_handler([&](std::string_view, std::string_view) {
    held = true;
    released.wait();
    return HandlerResult{true, "late"};
  });
  struct Release {
    std::promise<void>& p;
    ~Release() { p.set_value(); }  // b's io thread is freed before b stops
  } guard{release};
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  std::string key;
  for (int i = 0; key.empty() && i < 1000; ++i) {
    if (a.ring()->lookup("k" + std::to_string(i)) == b.address()) key = "k" + std::to_string(i);
  }
  ASSERT_FALSE(key.empty());
  auto result = a.handle_or_forward(key, "x", ForwardOptions{milliseconds(3000), 0});
  ASSERT_TRUE(eventually([&] { return held.load(); }));
  const ForwardResult r = result.get();  // bounded by the 3 s budget
  EXPECT_EQ(r.error, ForwardError::kOwnerUnreachable) << r.message;
  EXPECT_NE(r.message.find("no answer for 300 ms"), std::string::npos) << r.message;
}

TEST(NodeTest, GracefulLeaveIsNotAFailure) {
  Node a(options());
  ASSERT_EQ(a.start().message, "");
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  const std::string leaver = b.address();
  b.leave(milliseconds(2000));
  EXPECT_TRUE(b.wait_stopped(milliseconds(0)));
  ASSERT_TRUE(eventually([&] { return status_of(a, leaver) == Status::kLeave; }));
  EXPECT_TRUE(eventually([&] { return a.ring()->member_count() == 1u; }));
  EXPECT_EQ(a.stats().protocol.faulty_declared, 0u);
}

// Labels set at runtime reach the other members (with a new incarnation)
// and their member events; over 512 bytes they are refused.
TEST(NodeTest, RuntimeLabelsAreGossipedAndInEvents) {
  Node a(options());
  ASSERT_EQ(a.start().message, "");
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  std::mutex mu;
  std::vector<membership::Labels> seen;  // b's events about a
  b.on_member_change([&](const membership::MemberEvent& e) {
    std::lock_guard lock(mu);
    if (e.name == a.address()) seen.push_back(e.labels);
  });
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(b.wait_ready(milliseconds(10000)));
  ASSERT_TRUE(eventually([&] { return status_of(b, a.address()) == Status::kAlive; }));
  const auto before = a.incarnation();
  EXPECT_EQ(a.set_labels({{"zone", "b"}, {"version", "2"}}).message, "");
  EXPECT_GT(a.incarnation(), before);
  const membership::Labels want{{"zone", "b"}, {"version", "2"}};
  ASSERT_TRUE(eventually([&] {
    for (const auto& m : b.members()) {
      if (m.name == a.address()) return m.labels == want;
    }
    return false;
  }));
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), want);
  }
  EXPECT_NE(a.set_labels({{"big", std::string(600, 'x')}}).message.find("512"), std::string::npos);
  // Through the admin command (what `shoal labels set/unset` sends).
  auto r =
      admin_call(a.address(), "test", "labels", R"({"set": {"zone": "c"}, "unset": ["version"]})");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(nlohmann::json::parse(r.json)["labels"], nlohmann::json({{"zone", "c"}}));
  r = admin_call(a.address(), "test", "labels", R"({"set": {"zone": 3}})");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("not a string"), std::string::npos) << r.error;
}

// The admin `events` command (what `shoal watch` polls): a cursor to start
// from, then every member event after it, in order, each once.
TEST(NodeTest, AdminEventsStreamMemberChangesFromACursor) {
  Node a(options());
  ASSERT_EQ(a.start().message, "");
  auto ask = [&](const std::string& args) {
    auto r = admin_call(a.address(), "test", "events", args);
    EXPECT_TRUE(r.ok) << r.error;
    return r.ok ? nlohmann::json::parse(r.json) : nlohmann::json::object();
  };
  const uint64_t start = ask("{}")["next"].get<uint64_t>();
  EXPECT_TRUE(ask("{}")["events"].empty());
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  auto b = std::make_unique<Node>(ob);
  ASSERT_EQ(b->start().message, "");
  const std::string b_address = b->address();
  // b joins, then stops without leaving: a sees it new, then not alive.
  std::vector<std::string> seen;  // "status" of each event about b, in order
  uint64_t next = start;
  auto poll_events = [&] {
    auto j = ask(nlohmann::json{{"since", next}}.dump());
    EXPECT_EQ(j["missed"].get<uint64_t>(), 0u);
    for (const auto& e : j["events"]) {
      EXPECT_GT(e["seq"].get<uint64_t>(), next);
      next = e["seq"].get<uint64_t>();
      if (e["address"] == b_address) seen.push_back(e["status"].get<std::string>());
    }
    EXPECT_EQ(j["next"].get<uint64_t>(), next);
  };
  ASSERT_TRUE(eventually([&] {
    poll_events();
    return !seen.empty();
  }));
  EXPECT_EQ(seen.front(), "alive");
  b->stop();
  ASSERT_TRUE(eventually([&] {
    poll_events();
    return seen.back() == "suspect" || seen.back() == "faulty";
  }));
  // Asking from the start again gives the same events: nothing is consumed.
  auto again = ask(nlohmann::json{{"since", start}}.dump());
  EXPECT_FALSE(again["events"].empty());
  EXPECT_EQ(again["events"][0]["address"], b_address);
  // A cursor from before a restart (past the last event): from the start.
  auto later = ask(nlohmann::json{{"since", next + 1000}}.dump());
  EXPECT_TRUE(later["restarted"].get<bool>());
  EXPECT_FALSE(later["events"].empty());
  EXPECT_FALSE(ask(nlohmann::json{{"since", next}}.dump())["restarted"].get<bool>());
  // A cursor within this run's numbers but from another run (its epoch):
  // also from the start. This run's epoch: not restarted.
  const uint64_t epoch = ask("{}")["epoch"].get<uint64_t>();
  auto other_run = ask(nlohmann::json{{"since", start}, {"epoch", epoch + 1}}.dump());
  EXPECT_TRUE(other_run["restarted"].get<bool>());
  EXPECT_EQ(other_run["epoch"].get<uint64_t>(), epoch);
  EXPECT_FALSE(
      ask(nlohmann::json{{"since", next}, {"epoch", epoch}}.dump())["restarted"].get<bool>());
  auto bad = admin_call(a.address(), "test", "events", R"({"since": -1})");
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("since"), std::string::npos) << bad.error;
  // The epoch: a number or an error; the largest is just another run.
  for (const char* args : {R"({"since": 0, "epoch": -1})", R"({"since": 0, "epoch": "x"})"}) {
    auto bad_epoch = admin_call(a.address(), "test", "events", args);
    EXPECT_FALSE(bad_epoch.ok) << args;
    EXPECT_NE(bad_epoch.error.find("epoch"), std::string::npos) << bad_epoch.error;
  }
  EXPECT_TRUE(ask(R"({"since": 0, "epoch": 18446744073709551615})")["restarted"].get<bool>());
}

// Listeners added after start, one run by an executor of the app's; the
// ring change says who joined and which ranges moved to it; a removed
// listener hears nothing more.
TEST(NodeTest, ListenersComeAndGoAndRunOnTheAppsExecutor) {
  Node a(options());
  ASSERT_EQ(a.start().message, "");
  std::mutex mu;
  std::vector<std::function<void()>> queued;  // the app's executor: a queue it runs
  std::vector<std::string> joined, ranges_to;
  std::set<std::thread::id> threads;
  auto id = a.on_ring_change(
      [&](const RingChange& c) {
        const ring::RingDiff d = c.diff();
        std::lock_guard lock(mu);
        threads.insert(std::this_thread::get_id());
        joined.insert(joined.end(), d.added.begin(), d.added.end());
        for (const auto& m : d.moves) ranges_to.push_back(m.to);
      },
      [&](std::function<void()> task) {
        std::lock_guard lock(mu);
        queued.push_back(std::move(task));
      });
  std::atomic<int> member_events{0};
  auto member_id = a.on_member_change([&](const membership::MemberEvent&) { ++member_events; });
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !queued.empty();
  }));
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(mu);
    tasks.swap(queued);
  }
  for (auto& t : tasks) t();  // here, on the test's thread
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(joined, std::vector<std::string>{b.address()});
    ASSERT_FALSE(ranges_to.empty());
    for (const auto& to : ranges_to) EXPECT_EQ(to, b.address());
    EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()});
  }
  EXPECT_GT(member_events.load(), 0);
  a.remove_listener(id);
  a.remove_listener(member_id);
  const int events_then = member_events.load();
  b.stop();  // a change a would report
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 1; }, milliseconds(30000)));
  std::lock_guard lock(mu);
  EXPECT_TRUE(queued.empty());
  EXPECT_EQ(member_events.load(), events_then);
}

// A node alone has no one to drain to or tell: its leave does not wait
// out the drain timeout.
TEST(NodeTest, LoneNodeLeavesWithoutWaiting) {
  NodeOptions o = options();
  o.drain_timeout = milliseconds(20000);
  o.leave_timeout = milliseconds(20000);
  Node a(o);
  ASSERT_EQ(a.start().message, "");
  std::thread leaver([&] { a.leave(); });
  EXPECT_TRUE(a.wait_stopped(milliseconds(10000)));
  leaver.join();
}

// A node without seeds is ready at once; a joiner once it has joined.
TEST(NodeTest, ReadyOnceJoined) {
  Node a(options());
  EXPECT_FALSE(a.wait_ready(milliseconds(0)));
  ASSERT_EQ(a.start().message, "");
  EXPECT_TRUE(a.wait_ready(milliseconds(5000)));
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(b.wait_ready(milliseconds(10000)));
  EXPECT_TRUE(status_of(b, a.address()).has_value());
  // A seed that never answers: not ready.
  NodeOptions oc = options();
  oc.seeds = {"127.0.0.1:9"};
  Node c(oc);
  ASSERT_EQ(c.start().message, "");
  EXPECT_FALSE(c.wait_ready(milliseconds(300)));
}

// leave() drains: the node labels itself draining=true, every ring drops
// it while it still runs, the handler that was running finishes and its
// request succeeds, requests sent meanwhile go to the others; the hooks
// run before the drain and after the leave.
TEST(NodeTest, LeaveDrainsBeforeLeaving) {
  NodeOptions oa = options();
  Node a(oa);
  ASSERT_EQ(a.start().message, "");
  NodeOptions ob = options();
  ob.seeds = {a.address()};
  Node b(ob);
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  b.set_handler([&](Request r, Reply reply) {
    if (first.exchange(false)) {
      entered.set_value();
      released.wait();
    }
    reply.ok("b:" + r.key);
  });
  a.set_handler([](Request r, Reply reply) { reply.ok("a:" + r.key); });
  std::vector<std::string> hooks;
  std::mutex hooks_mu;
  b.on_leave(
      [&] {
        std::lock_guard lock(hooks_mu);
        hooks.push_back("before");
      },
      [&] {
        std::lock_guard lock(hooks_mu);
        hooks.push_back("after");
      });
  ASSERT_EQ(b.start().message, "");
  ASSERT_TRUE(eventually([&] { return a.ring()->member_count() == 2; }));
  std::string key;
  for (int i = 0; key.empty() && i < 10000; ++i) {
    if (a.ring()->lookup("d" + std::to_string(i)) == b.address()) key = "d" + std::to_string(i);
  }
  ASSERT_FALSE(key.empty());
  ForwardOptions patient;
  patient.timeout = milliseconds(10000);
  auto slow = a.handle_or_forward(key, "x", patient);
  entered.get_future().wait();  // b's handler runs
  std::thread leaver([&] { b.leave(milliseconds(2000)); });
  // b drains: off a's ring while its handler still runs.
  EXPECT_TRUE(eventually([&] { return a.ring()->member_count() == 1; }));
  EXPECT_FALSE(b.wait_stopped(milliseconds(0)));
  // The key is a's now: a request for it is handled there.
  ForwardResult moved = a.handle_or_forward(key, "y", patient).get();
  EXPECT_TRUE(moved.ok()) << moved.message;
  EXPECT_EQ(moved.handled_by, a.address());
  release.set_value();
  ForwardResult r = slow.get();
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.payload, "b:" + key);
  leaver.join();
  EXPECT_TRUE(b.wait_stopped(milliseconds(0)));
  ASSERT_TRUE(eventually([&] { return status_of(a, b.address()) == Status::kLeave; }));
  EXPECT_EQ(a.stats().protocol.faulty_declared, 0u);
  std::lock_guard lock(hooks_mu);
  EXPECT_EQ(hooks, (std::vector<std::string>{"before", "after"}));
}

// ---- request forwarding ----

// Three nodes whose handlers answer "<node>:<payload>".
class Forwarding : public ::testing::Test {
 protected:
  void start(NodeOptions base = options()) {
    for (int i = 0; i < 3; ++i) {
      NodeOptions o = base;
      if (i > 0) o.seeds = {nodes[0]->address()};
      nodes.push_back(std::make_unique<Node>(o));
      Node* self = nodes.back().get();
      self->set_simple_handler([self, this](std::string_view, std::string_view payload) {
        if (slow.load() && self == slow_node.load()) std::this_thread::sleep_for(milliseconds(60));
        return HandlerResult{true, self->address() + ":" + std::string(payload)};
      });
      ASSERT_EQ(self->start().message, "");
    }
    ASSERT_TRUE(eventually([&] {
      for (auto& n : nodes) {
        if (n->ring()->member_count() != 3) return false;
      }
      return true;
    }));
  }
  // A key that `owner` owns in `viewer`'s ring.
  std::string key_owned_by(const Node& viewer, const std::string& owner, int skip = 0) {
    for (int i = 0; i < 100000; ++i) {
      std::string k = "key-" + std::to_string(i);
      if (viewer.ring()->lookup(k) == owner && skip-- == 0) return k;
    }
    return "";
  }
  std::vector<std::unique_ptr<Node>> nodes;
  std::atomic<bool> slow{false};
  std::atomic<Node*> slow_node{nullptr};
};

TEST_F(Forwarding, RequestsReachTheOwner) {
  start();
  Node& a = *nodes[0];
  int local = 0, remote = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "user:" + std::to_string(i);
    const std::string owner(a.ring()->lookup(key));
    ForwardResult r = a.handle_or_forward(key, "p" + std::to_string(i)).get();
    ASSERT_TRUE(r.ok()) << to_string(r.error) << ": " << r.message;
    EXPECT_EQ(r.handled_by, owner);
    EXPECT_EQ(r.payload, owner + ":p" + std::to_string(i));
    (owner == a.address() ? local : remote)++;
  }
  EXPECT_GT(local, 0);
  EXPECT_GT(remote, 0);
  EXPECT_EQ(a.stats().forwards_local, static_cast<uint64_t>(local));
}

TEST_F(Forwarding, NoHandlerIsAnExplicitError) {
  start();
  NodeOptions o = options();
  o.seeds = {nodes[0]->address()};
  Node bare(o);  // no handler
  ASSERT_EQ(bare.start().message, "");
  ASSERT_TRUE(eventually([&] { return nodes[0]->ring()->member_count() == 4; }));
  const std::string key = key_owned_by(*nodes[0], bare.address());
  ForwardResult r = nodes[0]->handle_or_forward(key, "x").get();
  EXPECT_EQ(r.error, ForwardError::kNoHandler) << r.message;
}

// The owner dies while requests are in flight: every request still ends in
// exactly one response or explicit error. None is lost.
TEST_F(Forwarding, OwnerDiesMidFlightAndNoRequestIsLost) {
  start();
  Node& a = *nodes[0];
  constexpr int kRequests = 3000;
  std::atomic<int> results{0}, oks{0}, errors{0};
  std::atomic<int> duplicates{0};
  std::vector<std::atomic<int>> seen(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    if (i == kRequests / 3) nodes[2]->stop();  // crash, no leave
    a.handle_or_forward("k" + std::to_string(i), "v", ForwardOptions{milliseconds(3000), 3},
                        [&, i](ForwardResult r) {
                          if (seen[i]++ != 0) ++duplicates;
                          (r.ok() ? oks : errors)++;
                          ++results;
                        });
    if (i % 100 == 0) std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(eventually([&] { return results.load() == kRequests; }, milliseconds(30000)))
      << results.load() << " of " << kRequests << " ended";
  EXPECT_EQ(duplicates.load(), 0);
  EXPECT_GT(oks.load(), kRequests / 2);
  std::printf("owner died mid-flight: %d ok, %d explicit errors, 0 lost\n", oks.load(),
              errors.load());
}

TEST_F(Forwarding, CircuitOpensThenRecovers) {
  NodeOptions o = options();
  o.breaker_failures = 3;
  o.breaker_open = milliseconds(300);
  start(o);
  Node& a = *nodes[0];
  Node& b = *nodes[1];
  const std::string key = key_owned_by(a, b.address());
  ForwardOptions quick{milliseconds(30), 0};
  slow_node = &b;
  slow = true;
  // Timeouts until the circuit opens, then immediate kCircuitOpen.
  int timeouts = 0;
  ForwardResult r;
  for (int i = 0; i < 10; ++i) {
    r = a.handle_or_forward(key, "x", quick).get();
    if (r.error == ForwardError::kCircuitOpen) break;
    EXPECT_EQ(r.error, ForwardError::kTimeout) << r.message;
    ++timeouts;
  }
  EXPECT_EQ(r.error, ForwardError::kCircuitOpen);
  EXPECT_EQ(timeouts, 3);
  EXPECT_GE(a.stats().breaker_opens, 1u);
  slow = false;
  // After the open period one trial goes through; success closes it.
  ASSERT_TRUE(eventually([&] { return a.handle_or_forward(key, "y", quick).get().ok(); },
                         milliseconds(5000)));
  for (int i = 0; i < 5; ++i) {
    ForwardResult ok = a.handle_or_forward(key, "z").get();
    EXPECT_TRUE(ok.ok()) << to_string(ok.error);
  }
}

TEST_F(Forwarding, OverloadYieldsExplicitErrors) {
  NodeOptions o = options();
  o.forward_inflight_max = 4;
  start(o);
  Node& a = *nodes[0];
  Node& b = *nodes[1];
  slow_node = &b;
  slow = true;
  const std::string key = key_owned_by(a, b.address());
  std::atomic<int> results{0}, overloaded{0}, oks{0};
  for (int i = 0; i < 40; ++i) {
    a.handle_or_forward(key, "x", ForwardOptions{milliseconds(5000), 0}, [&](ForwardResult r) {
      if (r.error == ForwardError::kOverloaded) ++overloaded;
      if (r.ok()) ++oks;
      ++results;
    });
  }
  ASSERT_TRUE(eventually([&] { return results.load() == 40; }, milliseconds(20000)));
  EXPECT_GE(overloaded.load(), 30);
  EXPECT_GE(oks.load(), 4);
  slow = false;
}

TEST_F(Forwarding, StoppedNodeAnswersShuttingDown) {
  start();
  nodes[0]->stop();
  ForwardResult r = nodes[0]->handle_or_forward("k", "v").get();
  EXPECT_EQ(r.error, ForwardError::kShuttingDown);
}

// ---- hostile input ----

// Every handler call takes 500 ms (a slow disk, say) on the handler
// threads, under 200 concurrent requests from all three nodes: the io
// threads keep probing and acking, so no node is ever suspected, and every
// request ends in exactly one outcome (ok; timeout for those still queued
// when their budget ran out, not run; or circuit_open once the senders see
// a peer that answers nothing in time: load shed).
TEST_F(Forwarding, SlowHandlersDoNotGetTheirNodeSuspected) {
  start();
  std::atomic<int> suspicions{0}, runs{0};
  for (auto& n : nodes) {
    n->on_member_change([&](const membership::MemberEvent& e) {
      if (e.status != Status::kAlive) ++suspicions;
    });
    n->set_handler([&runs](Request r, Reply reply) {
      ++runs;
      std::this_thread::sleep_for(milliseconds(500));
      reply.ok(r.key);
    });
  }
  constexpr int kRequests = 200;
  std::vector<std::atomic<int>> outcomes(kRequests);
  std::atomic<int> done{0}, oks{0}, timeouts{0}, others{0};
  std::mutex other_mu;
  std::string other;  // the first other outcome
  ForwardOptions o;
  o.timeout = milliseconds(2000);
  for (int i = 0; i < kRequests; ++i) {
    nodes[static_cast<size_t>(i % 3)]->handle_or_forward(
        "slow-" + std::to_string(i), "x", o, [&, i](ForwardResult r) {
          ++outcomes[static_cast<size_t>(i)];
          if (r.ok()) {
            ++oks;
          } else if (r.error == ForwardError::kTimeout || r.error == ForwardError::kCircuitOpen) {
            ++timeouts;
          } else if (++others == 1) {
            std::lock_guard lock(other_mu);
            other = std::string(to_string(r.error)) + ": " + r.message;
          }
          ++done;
        });
  }
  ASSERT_TRUE(eventually([&] { return done.load() == kRequests; }, milliseconds(30000)));
  for (auto& n : outcomes) EXPECT_EQ(n.load(), 1);
  {
    std::lock_guard lock(other_mu);
    EXPECT_EQ(others.load(), 0) << "every outcome is ok, timeout or circuit_open (load shed); "
                                << "first other: " << other;
  }
  EXPECT_GT(oks.load(), 0);
  // 2 threads per node, 500 ms each, 2 s budget: most waited too long.
  EXPECT_GT(timeouts.load(), 0);
  EXPECT_LT(runs.load(), kRequests);  // the ones whose budget ran out in the queue never ran
  // Another few protocol periods: still nobody suspected.
  const uint64_t probes = nodes[0]->stats().protocol.probes;
  ASSERT_TRUE(eventually([&] { return nodes[0]->stats().protocol.probes >= probes + 5; }));
  EXPECT_EQ(suspicions.load(), 0);
  for (auto& n : nodes) EXPECT_EQ(n->stats().protocol.probes_failed, 0u);
}

// A Reply answered later from another thread; a Reply let go of without an
// answer (handler_dropped); a second answer (ignored, counted); headers and
// the attempt reach the handler.
TEST_F(Forwarding, AsyncRepliesFromAnyThreadExactlyOnce) {
  start();
  Node& a = *nodes[0];
  Node& b = *nodes[1];
  std::mutex mu;
  std::vector<std::thread> later;
  Headers seen_headers;
  b.set_handler([&](Request r, Reply reply) {
    std::lock_guard lock(mu);
    seen_headers = r.headers;
    if (r.payload == "drop") return;  // the last copy goes: handler_dropped
    later.emplace_back([r, reply] {
      std::this_thread::sleep_for(milliseconds(20));
      reply.ok("later:" + r.key);
      reply.fail("too late");  // ignored
    });
  });
  const std::string key = key_owned_by(a, b.address());
  ForwardOptions o;
  o.headers = {{"trace-id", "t-1"}, {"tenant", "blue"}};
  ForwardResult r = a.handle_or_forward(key, "x", o).get();
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.payload, "later:" + key);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen_headers, o.headers);
  }
  r = a.handle_or_forward(key, "drop").get();
  EXPECT_EQ(r.error, ForwardError::kHandlerDropped) << r.message;
  EXPECT_TRUE(eventually([&] { return b.stats().handler_replies_ignored == 1; }));
  EXPECT_EQ(b.stats().handler_dropped, 1u);
  // Headers over the bound are refused where the request starts.
  ForwardOptions big;
  big.headers = {{"h", std::string(kHeaderBytesMax + 1, 'x')}};
  EXPECT_EQ(a.handle_or_forward(key, "x", big).get().error, ForwardError::kBadRequest);
  std::lock_guard lock(mu);
  for (auto& t : later) t.join();
}

// handle_or_forward_all: one request per owner, the handler sees the
// owner's group, a result per key in the order given.
TEST_F(Forwarding, ManyKeysGoOneRequestPerOwner) {
  start();
  Node& a = *nodes[0];
  std::atomic<int> requests{0};
  for (auto& n : nodes) {
    Node* self = n.get();
    n->set_handler([self, &requests](Request r, Reply reply) {
      ++requests;
      std::string all;
      for (const std::string& k : r.keys) all += k + ",";
      reply.ok(self->address() + "|" + all);
    });
  }
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) keys.push_back("many-" + std::to_string(i));
  const uint64_t sent_before = a.stats().forwards_sent;
  std::vector<KeyResult> results = a.handle_or_forward_all(keys, "x").get();
  ASSERT_EQ(results.size(), keys.size());
  std::set<std::string> owners;
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(results[i].key, keys[i]);
    ASSERT_TRUE(results[i].result.ok()) << results[i].result.message;
    const std::string owner(a.ring()->lookup(keys[i]));
    owners.insert(owner);
    EXPECT_EQ(results[i].result.handled_by, owner);
    // The owner's answer lists its whole group, this key among them.
    EXPECT_EQ(results[i].result.payload.rfind(owner + "|", 0), 0u);
    EXPECT_NE(results[i].result.payload.find(keys[i] + ","), std::string::npos);
  }
  EXPECT_EQ(owners.size(), 3u);
  EXPECT_EQ(requests.load(), 3);
  EXPECT_EQ(a.stats().forwards_sent - sent_before, 2u);  // the third group is a's own
  EXPECT_TRUE(a.handle_or_forward_all({}, "x").get().empty());
}

class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    NodeOptions o = options();
    // A frame once begun gets less time than an idle connection does.
    o.tcp_idle_timeout = milliseconds(3000);
    o.tcp_read_timeout = milliseconds(300);
    o.frame_bytes_max = 1 << 16;
    node = std::make_unique<Node>(o);
    ASSERT_EQ(node->start().message, "");
    NodeOptions op = options();
    op.seeds = {node->address()};
    peer = std::make_unique<Node>(op);
    ASSERT_EQ(peer->start().message, "");
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

// A member named by DNS name would make every node resolve it on each
// probe (and a name whose DNS never answers would stall the io thread).
// The codec accepts only IP literals: the claim is dropped as bad_field.
TEST_F(HostileInput, MemberNamedByDnsNameIsDroppedUnresolved) {
  const std::string name = "never-resolves.invalid:7000";
  membership::Ping p{1,
                     peer->address(),
                     node->address(),
                     0,
                     {membership::Change{name, Status::kAlive, 1, {}, peer->address(), 1}}};
  send_udp(proto::encode_datagram("test", p));
  ASSERT_TRUE(eventually([&] { return drops("bad_field") >= 1; }));
  expect_unharmed();
  EXPECT_EQ(status_of(*node, name), std::nullopt);
  // Over TCP, as a joiner: refused the same way, the connection closed.
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  std::string frame;
  proto::append_frame(frame, "test", 1, membership::JoinRequest{name, 1, {}});
  asio::write(s, asio::buffer(frame));
  ASSERT_TRUE(eventually([&] { return drops("bad_field") >= 2; }));
  expect_unharmed();
  EXPECT_EQ(status_of(*node, name), std::nullopt);
}

// Connections beyond tcp_connections_max are closed at once (counted);
// the node keeps serving once others go.
TEST(NodeTest, ConnectionsBeyondTheCapAreRefused) {
  NodeOptions o = options();
  o.tcp_connections_max = 4;
  Node n(o);
  ASSERT_EQ(n.start().message, "");
  const auto hp = *parse_host_port(n.address());
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(hp.host), hp.port);
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    held.back()->connect(ep);
  }
  ASSERT_TRUE(eventually([&] { return n.stats().tcp_accepted == 4; }));
  asio::ip::tcp::socket extra(io);
  extra.connect(ep);
  std::array<char, 8> buf{};
  asio::error_code ec;
  extra.read_some(asio::buffer(buf), ec);  // closed by the node at once
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(n.stats().tcp_refused, 1u);
  held.clear();  // four go away: admin works again
  EXPECT_TRUE(eventually([&] { return admin_call(n.address(), "test", "status").ok; }));
}

// Admin arguments are small JSON; a big request is answered with an error
// and never parsed.
TEST(NodeTest, OversizedAdminRequestIsRefusedWithAReason) {
  Node n(options());
  ASSERT_EQ(n.start().message, "");
  const std::string big = "[" + std::string(100 * 1024, ' ') + "]";
  auto r = admin_call(n.address(), "test", "status", big);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("over the 65536-byte limit"), std::string::npos) << r.error;
  EXPECT_TRUE(admin_call(n.address(), "test", "status").ok);
}

// A TcpServer whose every answer is 12 MB and holds a slot of `slots`
// until it has been written; a request that finds no slot free closes its
// connection (as the node does for join and sync).
class BigAnswers final : public TcpServer::Delegate {
 public:
  explicit BigAnswers(size_t max) : slots(max) {}
  bool on_frame(const std::string&, std::string_view bytes, SealWith,
                const std::shared_ptr<Responder>& responder) override {
    auto f = proto::decode_frame(bytes, "test", 1 << 20);
    if (!f.ok()) return false;
    std::shared_ptr<void> slot = slots.take();
    if (!slot) {
      ++refused;
      responder->close_after_replies();
      return true;
    }
    responder->reply(f.value->id, proto::AdminResponse{std::string(12u << 20, 'x'), ""},
                     std::nullopt);
    responder->hold_until_sent(std::move(slot));
    return true;
  }
  bool on_unopened(const std::string&, const Seal::Opened&,
                   const std::shared_ptr<Responder>&) override {
    return false;
  }
  void on_oversized(const std::string&, uint32_t) override {}
  void on_too_big(const std::string&, size_t) override {}
  AnswerSlots slots;
  int refused = 0;
};

// A peer that asks for a big answer and does not read it keeps its slot;
// the next asker is refused; once the first reads everything, the slot is
// back and a new asker is answered.
TEST(TcpServerTest, BigAnswersWaitingToBeSentAreBounded) {
  asio::io_context io;
  NodeCounters counters;
  BigAnswers delegate(1);
  TcpServer server(io, {std::make_shared<Seal>("test", Encryption::kOff, Keyring())}, counters,
                   delegate);
  ASSERT_EQ(server.open({asio::ip::make_address("127.0.0.1"), 0}), "");
  server.start();
  const asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), server.port());
  std::string request;
  proto::append_frame(request, "test", 1, proto::AdminRequest{"status", "{}"});
  auto run_until = [&io](const std::function<bool()>& pred) {
    for (int i = 0; i < 1000 && !pred(); ++i) io.run_for(milliseconds(10));  // 10 s at most
    return pred();
  };
  // A fixed small receive buffer (no autotuning): 12 MB do not fit in the
  // socket buffers, so the answer waits, and the slot with it.
  asio::ip::tcp::socket slow(io, asio::ip::tcp::v4());
  slow.set_option(asio::socket_base::receive_buffer_size(64 << 10));
  slow.connect(at);
  asio::write(slow, asio::buffer(request));
  ASSERT_TRUE(run_until([&] { return delegate.slots.in_use() == 1; }));
  for (int i = 0; i < 20; ++i) io.run_for(milliseconds(10));  // whatever fits is written
  EXPECT_EQ(delegate.slots.in_use(), 1u);
  asio::ip::tcp::socket second(io);
  second.connect(at);
  asio::write(second, asio::buffer(request));
  ASSERT_TRUE(run_until([&] { return delegate.refused == 1; }));
  EXPECT_EQ(delegate.slots.in_use(), 1u);
  // The slow peer reads its answer: the slot comes back.
  slow.non_blocking(true);
  size_t got = 0;
  std::vector<char> buf(1 << 20);
  auto read_some = [&] {
    asio::error_code ec;
    for (size_t n; (n = slow.read_some(asio::buffer(buf), ec)) > 0;) got += n;
  };
  // Back once the last byte has been handed to the kernel.
  ASSERT_TRUE(run_until([&] {
    read_some();
    return delegate.slots.in_use() == 0;
  }));
  EXPECT_TRUE(run_until([&] {
    read_some();
    return got > 12u << 20;  // the whole answer, its frame header too
  })) << got;
  asio::ip::tcp::socket third(io);
  third.connect(at);
  asio::write(third, asio::buffer(request));
  ASSERT_TRUE(run_until([&] { return delegate.slots.in_use() == 1; }));
  EXPECT_EQ(delegate.refused, 1);
  // Every connection ends before the io_context goes (its handlers hold
  // connections that refer to the server).
  slow.close();
  second.close();
  third.close();
  server.close();
  io.run_for(std::chrono::seconds(10));  // returns once no work is left
  EXPECT_TRUE(io.stopped());
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

// A join answer over frame_bytes_max once encoded is not sent, cut short
// or whole: the seed counts it and closes the connection, the joiner's
// join fails (and the two still meet over UDP, whose claims fit).
TEST(NodeFrames, AJoinAnswerOverTheFrameLimitIsNotSent) {
  NodeOptions so = options();
  so.frame_bytes_max = 1024;
  so.labels = {{"blob", std::string(500, 's')}};
  Node seed(so);
  ASSERT_EQ(seed.start().message, "");
  NodeOptions jo = options();
  jo.seeds = {seed.address()};
  jo.labels = {{"blob", std::string(500, 'j')}};  // two such members: over 1 KiB
  Node joiner(jo);
  ASSERT_EQ(joiner.start().message, "");
  ASSERT_TRUE(eventually([&] { return seed.stats().tcp_frames_too_big >= 1; }));
  ASSERT_TRUE(eventually([&] { return joiner.stats().protocol.joins_failed >= 1; }));
  EXPECT_EQ(joiner.stats().drops["malformed"], 0u);
  EXPECT_EQ(joiner.stats().drops["too_large"], 0u);
}

// A table of 1 KiB or more goes zstd-compressed between nodes that speak
// minor 7: the join answer arrives compressed, and whole.
TEST(NodeFrames, AJoinAnswerOfAKiBOrMoreArrivesCompressedAndWhole) {
  NodeOptions so = options();
  so.labels = {{"blob", std::string(500, 's')}};
  Node seed(so);
  ASSERT_EQ(seed.start().message, "");
  NodeOptions jo = options();
  jo.seeds = {seed.address()};
  jo.labels = {{"blob", std::string(500, 'j')}};  // the seed's answer holds both: over 1 KiB
  Node joiner(jo);
  ASSERT_EQ(joiner.start().message, "");
  ASSERT_TRUE(eventually([&] { return joiner.stats().tables_compressed_in >= 1; }));
  ASSERT_TRUE(eventually([&] {
    for (const auto& m : joiner.members()) {
      if (m.name == seed.address()) return m.labels == so.labels;
    }
    return false;
  }));
  EXPECT_EQ(joiner.stats().protocol.joins_failed, 0u);
  EXPECT_EQ(joiner.stats().drops["malformed"], 0u);
  EXPECT_EQ(seed.stats().drops["malformed"], 0u);
}

TEST_F(HostileInput, SilentTcpPeerIsDisconnected) {
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  // Send nothing: the idle timeout (3 s here) closes it.
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

TEST_F(HostileInput, TricklingTcpPeerIsDisconnected) {
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  s.non_blocking(true);
  std::string header;
  proto::append_frame_header(header, 200);
  asio::write(s, asio::buffer(header));
  // One byte every 50 ms keeps the connection busy but never completes the
  // frame: the read timeout (300 ms here) counts from the frame's start,
  // and cuts it off long before the idle timeout (3 s) could.
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {  // at most 2 s
    std::this_thread::sleep_for(milliseconds(50));
    std::array<char, 16> buf{};
    asio::error_code ec;
    s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) {
      closed = true;
      break;
    }
    asio::write(s, asio::buffer("x", 1), ec);
    if (ec) closed = true;
  }
  EXPECT_TRUE(closed);
  ASSERT_TRUE(eventually([&] { return node->stats().tcp_timeouts >= 1; }));
  expect_unharmed();
}

TEST_F(HostileInput, PipelinedFramesInOneWriteAreAllAnswered) {
  asio::ip::tcp::socket s(io);
  s.connect(tcp_target);
  // 50 requests in one write, the last one split mid-frame across writes.
  std::string out;
  for (uint64_t id = 1; id <= 50; ++id) {
    proto::append_frame(out, "test", id, proto::AdminRequest{"status", "{}"});
  }
  asio::write(s, asio::buffer(out.data(), out.size() - 3));
  asio::write(s, asio::buffer(out.data() + out.size() - 3, 3));
  std::vector<uint64_t> ids;
  FrameBuffer answers(1 << 20);
  asio::error_code ec;
  while (ids.size() < 50 && !ec) {  // bounded: the node's idle timeout ends it
    const std::span<char> area = answers.write_area();
    answers.commit(s.read_some(asio::buffer(area.data(), area.size()), ec));
    std::string_view body;
    while (answers.next(body) == FrameBuffer::Status::kFrame) {
      auto f = proto::decode_frame(body, "test", 1 << 20);
      ASSERT_TRUE(f.ok()) << f.detail;
      ASSERT_TRUE(std::holds_alternative<proto::AdminResponse>(f.value->body));
      ids.push_back(f.value->id);
    }
  }
  ASSERT_EQ(ids.size(), 50u) << ec.message();
  for (uint64_t i = 0; i < 50; ++i) EXPECT_EQ(ids[i], i + 1);
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

// Sends `raw` to the metrics listener and reads until it closes (or 10 s).
std::string http_send(const std::string& address, const std::string& raw) {
  auto hp = *parse_host_port(address);
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(hp.host), hp.port));
  asio::write(s, asio::buffer(raw));
  std::string out;
  asio::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);  // until the node closes
  return out;
}

std::string http_get(const std::string& address, const std::string& path) {
  return http_send(address, "GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n");
}

// The status code of an HTTP answer ("HTTP/1.1 200 OK..." -> 200), 0 if none.
int http_status(const std::string& answer) {
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12) return 0;
  return std::atoi(answer.substr(9, 3).c_str());
}

TEST(NodeMetrics, PrometheusHealthAndReadyOnLoopback) {
  NodeOptions o = options();
  o.metrics_listen = "127.0.0.1:0";
  Node n(o);
  ASSERT_EQ(n.start().message, "");
  ASSERT_FALSE(n.metrics_address().empty());
  const std::string page = http_get(n.metrics_address(), "/metrics");
  EXPECT_EQ(http_status(page), 200) << page.substr(0, 80);
  EXPECT_NE(page.find("shoal_members{status=\"alive\"} 1"), std::string::npos);
  EXPECT_NE(page.find("# TYPE shoal_datagrams_in_total counter"), std::string::npos);
  EXPECT_NE(page.find("shoal_drops_total{reason=\"malformed\"} 0"), std::string::npos);
  EXPECT_EQ(http_status(http_get(n.metrics_address(), "/other")), 404);
  const std::string health = http_get(n.metrics_address(), "/health");
  EXPECT_EQ(http_status(health), 200);
  EXPECT_NE(health.find("ok"), std::string::npos);
  // Alone by configuration (no seeds): joined, nothing to disagree with.
  const std::string ready = http_get(n.metrics_address(), "/ready");
  EXPECT_EQ(http_status(ready), 200) << ready;
  EXPECT_NE(ready.find("\"ready\":true"), std::string::npos) << ready;
  // Writes are not served: the listener is read-only.
  EXPECT_NE(http_status(http_send(n.metrics_address(),
                                  "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\nab")),
            200);

  NodeOptions bad = options();
  bad.metrics_listen = "0.0.0.0:9100";
  EXPECT_NE(bad.validate().message.find("not a loopback address"), std::string::npos);
  bad.metrics_public = true;
  EXPECT_EQ(bad.validate().message, "");
}

// A node whose seeds never answer is alive (/health) but not ready.
TEST(NodeMetrics, NotReadyUntilJoined) {
  asio::io_context io;
  asio::ip::tcp::acceptor closed(io,
                                 asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = closed.local_endpoint().port();
  closed.close();  // nobody there
  NodeOptions o = options();
  o.metrics_listen = "127.0.0.1:0";
  o.seeds = {"127.0.0.1:" + std::to_string(port)};
  Node n(o);
  ASSERT_EQ(n.start().message, "");
  EXPECT_EQ(http_status(http_get(n.metrics_address(), "/health")), 200);
  const std::string ready = http_get(n.metrics_address(), "/ready");
  EXPECT_EQ(http_status(ready), 503) << ready;
  EXPECT_NE(ready.find("\"joined\":false"), std::string::npos) << ready;
}

// Garbage, an oversized head and clients that never finish their request
// do not stop the listener, and never the node: the stalled ones hold
// nothing another request waits for.
TEST(NodeMetrics, HostileHttpClientsDoNotStopIt) {
  NodeOptions o = options();
  o.metrics_listen = "127.0.0.1:0";
  Node n(o);
  ASSERT_EQ(n.start().message, "");
  const std::string at = n.metrics_address();
  EXPECT_EQ(http_status(http_send(at, std::string("\x00\xff\x1b[2J garbage\r\n\r\n", 19))), 404);
  EXPECT_EQ(http_status(http_send(
                at, "GET /metrics HTTP/1.0\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n")),
            431);
  auto hp = *parse_host_port(at);
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> stalled;
  for (int i = 0; i < 8; ++i) {
    stalled.emplace_back(io);
    stalled.back().connect(asio::ip::tcp::endpoint(asio::ip::make_address(hp.host), hp.port));
    asio::write(stalled.back(), asio::buffer(std::string("GET /metr")));
  }
  EXPECT_EQ(http_status(http_get(at, "/health")), 200);
  EXPECT_EQ(n.stats().members.at("alive"), 1u);
  // The stalled ones are cut off (5 s from accept): each read ends.
  for (auto& s : stalled) {
    std::string rest;
    asio::error_code ec;
    asio::read(s, asio::dynamic_buffer(rest), ec);
    EXPECT_TRUE(ec) << "a stalled client was answered";
  }
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
