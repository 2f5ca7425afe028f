// Fuzz target for node/admin.h: admin requests, as the shoal CLI (or
// anyone with the key) sends them, answered by a small engine.
//
// Input: the command on the first line, args_json after it (the corpus
// files read as "lookup\n{\"key\":\"k\",\"n\":2}"). Each input runs against
// a fresh Engine on 10.0.0.1:7000 (cluster "prod", accept-plaintext with a
// fixed key) that has heard of 10.0.0.2:7000 and 10.0.0.3:7000, so its
// ring has three members and forwards can go remote. Forward runs three
// times: each request sent to a peer fails at once (link failure), gets an
// answer, or gets nothing (the time budget runs out in virtual time);
// keys.* runs twice: the keyring file saves, or it does not.
// Checks, each a trap when broken:
//   * handle() and everything it starts never throws;
//   * `reply` runs exactly once: before handle() returns for every command
//     but forward; for forward by the end of its time budget (driven with
//     Engine::tick at the engine's deadlines), and never again after;
//   * an answer is either JSON (valid, parseable) or an error, never both
//     nor neither;
//   * lookup answers min(n, 3) distinct owners; members lists all three;
//     status names this node; forward says which key and whether it went;
//   * leave calls the leave hook exactly when it answers;
//   * keyring changes: the running ring changes only when the answer is
//     not an error, and then to exactly the ring that was saved.
// Built as shoal_admin_fuzzer (libFuzzer) and as shoal_admin_fuzz_replay
// (ctest fuzz.admin_replay).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shoal/node/admin.h"
#include "shoal/node/engine.h"
#include "shoal/proto/codec.h"

namespace {

namespace m = ::shoal::membership;
namespace n = ::shoal::node;
using nlohmann::json;

constexpr char kSelf[] = "10.0.0.1:7000";
constexpr char kCluster[] = "prod";
constexpr m::Incarnation kStart = 1718000000000;
// Forward's largest time budget (admin.cc clamps timeout_ms to 10 min).
constexpr m::Duration kBudgetMax = std::chrono::minutes(10);
// Ticks a forward may take to end, far above any retry schedule.
constexpr int kTicksMax = 100000;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

n::Key fixed_key() {
  n::Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(i);
  return k;
}

enum class Peers { kLinkFails, kAnswer, kSilent };

// One engine, its admin and what the hooks saw.
struct World {
  m::Instant now{std::chrono::seconds(1)};
  std::unique_ptr<n::Engine> engine;
  std::unique_ptr<n::Admin> admin;
  int leaves = 0;
  bool save_ok = true;
  std::optional<n::Keyring> saved;

  explicit World(bool save_succeeds) : save_ok(save_succeeds) {
    n::EngineOptions o;
    o.protocol.address = kSelf;
    o.protocol.cluster = kCluster;
    o.protocol.incarnation = kStart;
    n::Keyring ring;
    check(ring.install(fixed_key()).empty());
    o.seal = std::make_shared<n::Seal>(kCluster, n::Encryption::kAcceptPlaintext, ring);
    engine = std::make_unique<n::Engine>(o, 1, now);
    n::Admin::Hooks hooks;
    hooks.now = [this] { return now; };
    hooks.leave = [this] { ++leaves; };
    hooks.stats = [this] { return engine->stats(n::NodeCounters{}); };
    hooks.save_keyring = [this](const n::Keyring& next) -> std::string {
      saved = next;
      return save_ok ? "" : "keyring file /nonexistent: No such file or directory";
    };
    admin = std::make_unique<n::Admin>(*engine, std::move(hooks));
    hear_of_peers();
  }

  // Gossip from 10.0.0.2 about itself and 10.0.0.3, then the ring's
  // publication delay: three members on the ring.
  void hear_of_peers() {
    m::Gossip g{"10.0.0.2:7000", 0, {}};
    for (const char* a : {"10.0.0.2:7000", "10.0.0.3:7000"}) {
      g.changes.push_back(m::Change{a, m::Status::kAlive, kStart, {}, a, kStart});
    }
    check(!engine->on_datagram("10.0.0.2:7000", shoal::proto::encode_datagram(kCluster, g), now)
               .dropped());
    now += std::chrono::seconds(1);
    engine->tick(now);
    check(engine->ring().current()->member_count() == 3);
    drain();
  }

  // Runs the echo handler on every request for it, as an executor would.
  void run_jobs() {
    static const n::AsyncHandler echo = [](n::Request r, n::Reply reply) {
      reply.ok(std::move(r.payload));
    };
    for (auto jobs = engine->take_jobs(); !jobs.empty(); jobs = engine->take_jobs()) {
      for (n::HandlerJob& j : jobs) {
        n::run_request(&echo, std::move(j.request), false, [this, id = j.id](n::HandlerOutcome o) {
          engine->on_job_done(id, std::move(o), now);
        });
      }
    }
  }

  void drain() {
    run_jobs();
    engine->take_datagrams();
    engine->take_exchanges();
    engine->take_events();
    engine->take_ring_changes();
  }

  // Requests sent to peers, handled as `peers` says.
  void serve_peers(Peers peers) {
    run_jobs();
    for (n::OutForward& f : engine->take_forwards()) {
      if (peers == Peers::kLinkFails) {
        engine->on_link_failed(f.peer, "fuzz: connection refused", now);
      } else if (peers == Peers::kAnswer) {
        engine->on_forward_response(f.peer, f.id, {0, "", f.request.payload, f.peer}, now);
      }
    }
    drain();
  }
};

std::set<std::string> members_of(World& w) {
  std::set<std::string> out;
  for (const auto& s : w.engine->core().members()) out.insert(s.name);
  return out;
}

// The checks every answer passes; its JSON, if it is not an error.
std::optional<json> check_shape(const shoal::proto::AdminResponse& r) {
  check(r.json.empty() != r.error.empty());
  if (r.json.empty()) return std::nullopt;
  json j = json::parse(r.json, nullptr, /*allow_exceptions=*/false);
  check(!j.is_discarded());
  return j;
}

void check_answer(World& w, const std::string& command, const json& args,
                  const shoal::proto::AdminResponse& r) {
  const std::optional<json> j = check_shape(r);
  if (!j) return;
  if (command == "lookup") {
    const uint64_t asked = args.contains("n") ? args["n"].get<uint64_t>() : 1;
    const json& owners = j->at("owners");
    check(owners.is_array() && owners.size() == std::min<uint64_t>(asked, 3));
    std::set<std::string> distinct;
    for (const json& o : owners) distinct.insert(o.get<std::string>());
    check(distinct.size() == owners.size());
    for (const std::string& o : distinct) check(members_of(w).contains(o));
  } else if (command == "members") {
    check(j->is_array() && j->size() == members_of(w).size());
  } else if (command == "status") {
    check(j->at("address") == kSelf);
  } else if (command == "forward") {
    check(j->at("key") == args["key"] && j->at("ok").is_boolean());
  } else if (command == "leave") {
    check(j->at("leaving") == true);
  }
}

struct Outcome {
  int replies = 0;
  shoal::proto::AdminResponse last;
};

// Runs `request` on a fresh world; every check but the answer's content.
void run(const shoal::proto::AdminRequest& request, const json& args, bool save_ok, Peers peers) {
  World w(save_ok);
  const std::vector<n::Key> keys_before = w.engine->seal().keyring().keys();
  Outcome out;
  auto reply = [&out](shoal::proto::AdminResponse r) {
    ++out.replies;
    out.last = std::move(r);
  };
  try {
    w.admin->handle(request, reply);
    if (request.command != "forward") {
      check(out.replies == 1);
    } else {
      // Forward ends within its budget (the largest one, if args_json is
      // not an object the answer came already).
      const m::Instant end = w.now + kBudgetMax + std::chrono::seconds(1);
      for (int ticks = 0; out.replies == 0; ++ticks) {
        w.serve_peers(peers);
        if (out.replies > 0) break;
        check(ticks < kTicksMax);
        const m::Instant next = w.engine->next_forward_deadline();
        check(next <= end);
        w.now = std::max(w.now, next);
        w.engine->tick(w.now);
      }
      w.serve_peers(peers);
      w.now += kBudgetMax;
      w.engine->tick(w.now);
      w.serve_peers(peers);
      check(out.replies == 1);
    }
  } catch (...) {
    check(false);
  }
  check(out.replies == 1);
  const bool answered = out.last.error.empty();
  check(w.leaves == (request.command == "leave" && answered ? 1 : 0));
  const std::vector<n::Key>& keys_after = w.engine->seal().keyring().keys();
  if (!answered) {
    check(keys_after == keys_before);
  } else if (w.saved) {
    check(keys_after == w.saved->keys());
  } else {
    check(keys_after == keys_before);
  }
  if (answered) check_answer(w, request.command, args, out.last);
  check_shape(out.last);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Admin frames are small; big inputs only slow the fuzzer down.
  if (size > 4096) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  shoal::proto::AdminRequest request;
  request.command = std::string(text.substr(0, nl));
  request.args_json = nl == std::string_view::npos ? "" : std::string(text.substr(nl + 1));
  // The arguments as admin.cc reads them (for the checks of an answer).
  json args = json::parse(request.args_json.empty() ? "{}" : request.args_json, nullptr, false);
  if (args.is_discarded() || !args.is_object()) args = json::object();

  if (request.command == "forward") {
    for (Peers p : {Peers::kLinkFails, Peers::kAnswer, Peers::kSilent}) run(request, args, true, p);
  } else if (request.command.starts_with("keys.")) {
    run(request, args, true, Peers::kSilent);
    run(request, args, false, Peers::kSilent);
  } else {
    run(request, args, true, Peers::kSilent);
  }
  return 0;
}
