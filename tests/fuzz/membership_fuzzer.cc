// Structured fuzz target for membership/membership.h: the protocol core of
// one node (10.0.0.1:7000), fed well-formed messages in virtual time.
//
// The input is a program: each step takes an opcode byte and operands.
//   advance   time moves on 0..2.55 s; tick() at every deadline on the way
//   gossip | ping | ping-req | ack | nack
//             a message from one of eight peers (10.0.0.2..9:7000) with up
//             to four claims (Changes) about the peers or this node: any
//             status, an incarnation near the one this node knows, labels
//             or none; acks carry the seq of a ping this node sent
//   answer    the pings this node sent get acks from the peers the operand
//             marks as up; its join and sync exchanges fail
//   join      a peer's join request over TCP
// Everything is decoded from bytes the fuzzer picks, but every message is
// well-formed (the codec fuzzer covers the rest), so the core's logic,
// not its input checks, is under test.
// Checks after every step, each a trap when broken:
//   * at most Membership::kMembersMax members;
//   * this node is a member, alive, and its incarnation never decreases
//     (it refutes every claim against it: it is the honest member);
//   * no member's incarnation decreases while it stays known;
//   * every change of a member's status or incarnation, and every member
//     appearing or forgotten, comes with a MemberEvent, and the last event
//     for a member describes its state after the step (the ring is built
//     from these events: a missed one is a wrong ring);
//   * pingable_count() is the number of alive and suspect members;
//   * time moves: at most a few tick()s in a row at one instant (no busy
//     loop for the driver), and a bounded number per advance.
// Built as shoal_membership_fuzzer (libFuzzer) and as
// shoal_membership_fuzz_replay (ctest fuzz.membership_replay).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shoal/membership/config.h"
#include "shoal/membership/membership.h"
#include "shoal/membership/messages.h"

namespace {

namespace m = ::shoal::membership;
using std::chrono::milliseconds;

constexpr char kSelf[] = "10.0.0.1:7000";
constexpr m::Incarnation kStart = 1000000;
constexpr size_t kPeers = 8;
// tick() calls one advance may make: far above what the timers need.
constexpr int kTicksPerAdvanceMax = 10000;
// tick() calls in a row at one instant. Work a tick schedules may be due
// at once (a confirmation that shrinks a suspicion's timeout into the past
// makes it due now: confirm_suspicion), and the next tick runs it; more
// than a few in a row would be a driver's busy loop.
constexpr int kTicksAtOnceMax = 4;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string peer(size_t i) { return "10.0.0." + std::to_string(2 + i % kPeers) + ":7000"; }

// Reads operands; zeros once the input is used up.
struct Reader {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool done() const { return at >= size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
};

struct Snapshot {
  std::map<std::string, std::pair<m::Status, m::Incarnation>> states;
};

class Harness {
 public:
  Harness() : core_(config(), 42, now_) {
    core_.join({peer(0)}, now_);
    settle();
    last_ = snapshot();
  }

  void step(Reader& in) {
    switch (in.byte() % 9) {
      case 0:
        advance(milliseconds(in.byte() * 10));
        break;
      case 1:
        message(m::Gossip{peer(in.byte()), in.byte(), changes(in)});
        break;
      case 2:
        message(ping(in));
        break;
      case 3: {
        const std::string from = peer(in.byte());
        message(
            m::PingReq{in.byte(), from, target(in.byte()), 0, (in.byte() & 1) != 0, changes(in)});
        break;
      }
      case 4:
        message(ack(in));
        break;
      case 5:
        message(m::Nack{seq_for(in.byte()), peer(in.byte()), changes(in)});
        break;
      case 6:
        answer(in.byte());
        break;
      case 7:
        join(in);
        break;
      default:
        advance(milliseconds(in.byte()));
        break;
    }
    check_step();
  }

 private:
  static m::Config config() {
    m::Config c;
    c.address = kSelf;
    c.cluster = "prod";
    c.incarnation = kStart;
    check(c.validate().empty());
    return c;
  }

  std::string target(uint8_t b) const { return b % (kPeers + 1) == kPeers ? kSelf : peer(b); }

  // An incarnation near what this node knows of `address` (or near the
  // start), so that claims sometimes win and sometimes lose.
  m::Incarnation incarnation_near(const std::string& address, uint8_t b) const {
    const auto known = core_.member(address);
    const m::Incarnation base = known ? known->incarnation : kStart;
    const uint64_t up = b % 7;  // base - 2 .. base + 4
    return up < 2 ? base - std::min<uint64_t>(base, 2 - up) : base + (up - 2);
  }

  std::vector<m::Change> changes(Reader& in) {
    std::vector<m::Change> out(in.byte() % 5);
    for (m::Change& c : out) {
      c.name = target(in.byte());
      c.status = static_cast<m::Status>(in.byte() % m::kStatusCount);
      c.incarnation = incarnation_near(c.name, in.byte());
      const uint8_t labels = in.byte();
      if (labels % 3 == 1) c.labels = {{"zone", labels & 8 ? "a" : "b"}};
      c.source = target(in.byte());
      c.source_incarnation = incarnation_near(c.source, 0);
      // Sometimes the member at another address than its name: a move,
      // or (about this node) a name conflict to check.
      if (const uint8_t where = in.byte(); where % 4 == 3) c.address = peer(where / 4);
    }
    return out;
  }

  m::Ping ping(Reader& in) {
    const std::string from = peer(in.byte());
    const uint64_t seq = in.byte();
    const std::string to = (in.byte() & 3) == 0 ? peer(0) : kSelf;
    return m::Ping{seq, from, to, 0, changes(in)};
  }

  // The seq of a ping this node sent (so acks can match), or any.
  uint64_t seq_for(uint8_t b) const {
    if (sent_pings_.empty()) return b;
    return sent_pings_[b % sent_pings_.size()].second;
  }

  m::Ack ack(Reader& in) {
    const uint8_t b = in.byte();
    std::string from = peer(in.byte());
    if (!sent_pings_.empty() && (b & 1) != 0) from = sent_pings_[b % sent_pings_.size()].first;
    return m::Ack{seq_for(b), from, 0, changes(in)};
  }

  void message(const m::Message& msg) {
    core_.on_message("", msg, now_);
    settle();
  }

  // Pings this node sent get acks from the peers `up` marks (bit i: peer i).
  void answer(uint8_t up) {
    auto pings = std::exchange(sent_pings_, {});
    for (const auto& [to, seq] : pings) {
      for (size_t i = 0; i < kPeers; ++i) {
        if (peer(i) == to && (up >> i & 1) != 0) {
          core_.on_message("", m::Ack{seq, to, 0, {}}, now_);
          // A process there under this node's name answers a name check.
          if ((up & 0x80) != 0) core_.on_message(to, m::Ack{seq, kSelf, 0, {}}, now_);
        }
      }
    }
    settle();
  }

  void join(Reader& in) {
    const std::string from = peer(in.byte());
    const m::TcpRequest req = m::JoinRequest{from, incarnation_near(from, in.byte()), {}};
    (void)core_.on_tcp_request(from, req, now_);
    settle();
  }

  void advance(m::Duration d) {
    const m::Instant until = now_ + d;
    int ticks_now = 0;  // ticks in a row at the same instant
    for (int ticks = 0; core_.next_deadline() <= until; ++ticks) {
      check(ticks < kTicksPerAdvanceMax);
      const m::Instant next = std::max(now_, core_.next_deadline());
      ticks_now = next == now_ ? ticks_now + 1 : 0;
      check(ticks_now < kTicksAtOnceMax);
      now_ = next;
      core_.tick(now_);
      settle();
    }
    now_ = until;
  }

  // Takes the outputs: remembers pings sent, fails exchanges, keeps events.
  void settle() {
    for (m::OutDatagram& d : core_.take_datagrams()) {
      if (const auto* p = std::get_if<m::Ping>(&d.message)) {
        if (sent_pings_.size() < 64) sent_pings_.emplace_back(d.to, p->seq);
      }
    }
    for (const m::OutExchange& x : core_.take_exchanges()) core_.on_tcp_failure(x.id, now_);
    for (m::MemberEvent& e : core_.take_events()) events_.push_back(std::move(e));
    core_.take_datagrams();  // what on_tcp_failure sent, if anything
  }

  Snapshot snapshot() const {
    Snapshot s;
    for (const m::MemberState& st : core_.members()) {
      s.states[st.name] = {st.status, st.incarnation};
    }
    return s;
  }

  void check_step() {
    const Snapshot now = snapshot();
    check(now.states.size() <= m::Membership::kMembersMax);
    const auto self = now.states.find(kSelf);
    // Alive, unless another process won this node's name: then the entry
    // follows that process, and this node stays displaced for good.
    check(self != now.states.end() &&
          (self->second.first == m::Status::kAlive || core_.displaced()));
    check(self->second.second >= last_.states.at(kSelf).second);
    check(core_.displaced() || !was_displaced_);
    was_displaced_ = core_.displaced();
    // Events: the last one per member is its state now; every change has one.
    std::map<std::string, const m::MemberEvent*> last_event;
    std::map<std::string, bool> forgotten;  // forgotten during the step
    for (const m::MemberEvent& e : events_) {
      last_event[e.name] = &e;
      forgotten[e.name] = forgotten[e.name] || e.forgotten;
    }
    size_t pingable = 0;
    for (const auto& [address, state] : now.states) {
      if (m::is_pingable(state.first)) ++pingable;
      const auto before = last_.states.find(address);
      if (before != last_.states.end() && !forgotten[address]) {
        check(state.second >= before->second.second);
      }
    }
    check(core_.pingable_count() == pingable);
    for (const auto& [address, e] : last_event) {
      const auto it = now.states.find(address);
      if (e->forgotten) {
        check(it == now.states.end());
      } else {
        check(it != now.states.end() && it->second == std::make_pair(e->status, e->incarnation));
      }
    }
    auto changed = [&](const std::string& address) { check(last_event.contains(address)); };
    for (const auto& [address, state] : now.states) {
      const auto before = last_.states.find(address);
      if (before == last_.states.end() || before->second != state) changed(address);
    }
    for (const auto& [address, state] : last_.states) {
      if (!now.states.contains(address)) changed(address);
    }
    events_.clear();
    last_ = now;
  }

  m::Instant now_{std::chrono::seconds(1)};
  m::Membership core_;
  std::vector<std::pair<std::string, uint64_t>> sent_pings_;
  bool was_displaced_ = false;
  std::vector<m::MemberEvent> events_;
  Snapshot last_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  Harness h;
  Reader in{data, size};
  while (!in.done()) h.step(in);
  return 0;
}
