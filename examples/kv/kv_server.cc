// Copyright shoal authors. kv-server: a sharded, replicated, in-memory
// key-value store on shoal. What an app that embeds shoal does, end to
// end (README.md beside this file has the picture):
//
//   * Ownership: each key has two replicas, the first two distinct members
//     of the ring clockwise from it (Ring::lookup_n). The first owns it.
//   * Requests: a client may send any request to any kv-server, which runs
//     it through shoal's replicator (Node::replicate) on the key's two
//     replicas: endpoint kv.replica (keep these entries) for a write,
//     kv.fetch (your copy of this key) for a read. Every byte between
//     members goes over shoal's own links: directed requests on the pooled
//     connections, sealed with the cluster's keyring if it has one.
//   * Writes are answered once both replicas hold them (W = 2). With fewer
//     than two members in this server's ring (cut off, just started) or a
//     replica that does not take it, the write fails: never one copy.
//   * Reads ask both replicas (R = 1, waiting for both) and answer the
//     higher version (a new owner may not have had the data handed over
//     yet), repairing the older copy; the answer says how many replicas
//     answered (X-Replicas-Read).
//   * Handoff: on every ring change, each member queues for pushing the
//     entries whose replica set gained someone to that member
//     (RingChange::replica_diff: which ranges gained which member among
//     their two owners; no lookup per key). The pushes (Node::request to
//     kv.replica) run in the background (handoff.h), each member retried
//     with backoff until it takes them or leaves the ring. A member that
//     starts (empty) also asks every member to push it what it holds a
//     replica of (kv.pull).
//   * Drain: SIGTERM labels this member draining: every ring drops it, so
//     its entries are pushed to their new replicas, by it and by the other
//     copy; once its pushes are done it leaves (Node::leave) and exits.
//   * Versions: the client gives every write a version, higher for later
//     writes of a key; a copy keeps the highest version it has seen, so
//     pushes, retries and copies merge in any order into the last write.
//
// The label kv=<host:port> tells operators and clients each member's HTTP
// address; members do not use it.

#include <httplib.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "handoff.h"
#include "shoal/node/node.h"
#include "shoal/ring/diff.h"
#include "wire.h"

namespace kv {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kReplicas = 2;
constexpr char kLabel[] = "kv";
constexpr size_t kHttpThreads = 64;
constexpr size_t kPullsMax = 1024;
// The endpoints members serve each other (all directed requests).
constexpr char kReplicaEndpoint[] = "kv.replica";  // a batch of entries to keep
constexpr char kFetchEndpoint[] = "kv.fetch";      // this member's copy of a key
constexpr char kPullEndpoint[] = "kv.pull";        // push me what I hold a replica of

// The entries this member holds, any thread.
class Store {
 public:
  // Keeps `e` if it is newer than the copy held (or there is none).
  void merge(const Entry& e) {
    std::lock_guard lock(mu_);
    auto [it, added] = map_.try_emplace(e.key, e.version, e.value);
    if (!added && it->second.first < e.version) it->second = {e.version, e.value};
  }
  std::optional<Entry> get(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return Entry{key, it->second.first, it->second.second};
  }
  std::vector<Entry> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<Entry> out;
    out.reserve(map_.size());
    for (const auto& [k, v] : map_) out.push_back(Entry{k, v.first, v.second});
    return out;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return map_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<uint64_t, std::string>> map_;
};

// One thread running tasks in order: the handoff pushes. It also serves
// as the executor of the ring listener, so ring changes are handled one
// at a time, in order, off shoal's io thread.
class Worker {
 public:
  Worker() : thread_([this] { run(); }) {}
  ~Worker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      tasks_.push_back(std::move(task));
      ++pending_;
    }
    cv_.notify_all();
  }
  // Tasks queued or running.
  size_t pending() const {
    std::lock_guard lock(mu_);
    return pending_;
  }
  bool wait_idle(milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return pending_ == 0; });
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
      --pending_;
      cv_.notify_all();
    }
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  size_t pending_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

struct Flags {
  std::string listen = "127.0.0.1:7100";
  std::string http = "127.0.0.1:8100";
  std::vector<std::string> seeds;
  std::string cluster = "kv";
  uint32_t handler_threads = 4;
};

class Server {
 public:
  explicit Server(const Flags& f) : flags_(f), node_(options(f)) {}
  // The node first: no callback may reach a member being destroyed.
  ~Server() {
    node_.stop();
    stop_http();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "" once the node and the HTTP listener run, else why not.
  std::string start();
  // Drains and leaves (bounded), then stops serving.
  void stop();

 private:
  static shoal::node::NodeOptions options(const Flags& f) {
    shoal::node::NodeOptions o;
    o.listen = f.listen;
    o.seeds = f.seeds;
    o.cluster = f.cluster;
    o.labels = {{kLabel, f.http}};
    o.handler_threads = f.handler_threads;
    return o;
  }

  // ---- what members serve each other (handler threads) ----
  void serve_replica(const shoal::node::Request& request, const shoal::node::Reply& reply);
  void serve_fetch(const shoal::node::Request& request, const shoal::node::Reply& reply);
  void serve_pull(const shoal::node::Request& request, const shoal::node::Reply& reply);

  // ---- the HTTP side: clients ----
  void routes();
  void client_put(const httplib::Request& q, httplib::Response& r);
  void client_get(const httplib::Request& q, httplib::Response& r);
  std::string status_json() const;
  void stop_http();

  // ---- member to member ----
  bool push(const std::string& member, const std::vector<Entry>& entries);

  // ---- handoff (on the worker) ----
  void on_ring_change(const shoal::node::RingChange& change);
  void push_replicas_of(const std::string& member);
  void pull_if_new(const shoal::ring::Ring& ring);

  Flags flags_;
  shoal::node::Node node_;
  std::string self_;
  Store store_;
  httplib::Server http_;
  std::thread http_thread_;
  std::mutex pulls_mu_;
  std::set<std::string> pulls_;  // members whose pull waits on the worker
  std::atomic<size_t> handled_ring_members_{0};
  std::atomic<bool> pulled_{false};
  std::atomic<uint64_t> handled_{0};            // requests this member's handlers took
  std::atomic<uint64_t> client_requests_{0};    // client reads and writes this server took
  std::atomic<uint64_t> writes_refused_{0};     // fewer than kReplicas copies possible
  std::atomic<uint64_t> reads_one_replica_{0};  // a read that could ask only one
  Handoff handoff_{
      [this](const std::string& m, const std::vector<Entry>& e) { return push(m, e); }};
  Worker worker_;  // last: its thread ends before the rest goes (it feeds handoff_)
};

std::string Server::start() {
  auto serve = [this](void (Server::*f)(const shoal::node::Request&, const shoal::node::Reply&)) {
    return [this, f](shoal::node::Request q, shoal::node::Reply r) {
      ++handled_;
      (this->*f)(q, r);
    };
  };
  for (auto [endpoint, f] : {std::pair{kReplicaEndpoint, &Server::serve_replica},
                             std::pair{kFetchEndpoint, &Server::serve_fetch},
                             std::pair{kPullEndpoint, &Server::serve_pull}}) {
    if (auto err = node_.set_handler(endpoint, serve(f))) return err.message;
  }
  node_.on_ring_change([this](const shoal::node::RingChange& c) { on_ring_change(c); },
                       [this](std::function<void()> task) { worker_.post(std::move(task)); });
  if (auto err = node_.start()) return err.message;
  self_ = node_.name();
  routes();
  // Without it, a request's head and body are separate segments, and the
  // second waits for the peer's delayed ack (40 ms).
  http_.set_tcp_nodelay(true);
  // httplib gives each connection a thread for as long as it is kept
  // alive: enough threads for clients' keep-alive connections, and idle
  // connections let go of soon.
  http_.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  http_.set_keep_alive_timeout(1);
  std::string host;
  int port = 0;
  if (!split_host_port(flags_.http, host, port)) {
    node_.stop();
    return "--http: not host:port: " + flags_.http;
  }
  // One entry, bounded (wire.h).
  http_.set_payload_max_length(kValueBytesMax + 4096);
  if (!http_.bind_to_port(host, port)) {
    node_.stop();
    return "--http: cannot bind " + flags_.http;
  }
  http_thread_ = std::thread([this] { http_.listen_after_bind(); });
  std::fprintf(stderr, "kv-server: member %s, http %s\n", self_.c_str(), flags_.http.c_str());
  return "";
}

void Server::stop() {
  // Draining first, by the label every ring honours: the rings drop this
  // member, on_ring_change queues its entries for their new replicas, and
  // the pushes go out while shoal's links still run. Then the leave.
  shoal::node::Labels labels;
  for (const shoal::node::Member& m : node_.reachable_members()) {
    if (m.name == self_) labels = m.labels;
  }
  labels["draining"] = "true";
  if (auto err = node_.set_labels(labels)) {
    std::fprintf(stderr, "kv-server: cannot label itself draining: %s\n", err.message.c_str());
  }
  const auto until = std::chrono::steady_clock::now() + seconds(30);
  bool off_ring = false;
  while (std::chrono::steady_clock::now() < until && !off_ring) {
    off_ring =
        !node_.ring()->contains(self_) && handled_ring_members_ == node_.ring()->member_count();
    if (!off_ring) std::this_thread::sleep_for(milliseconds(10));
  }
  if (!worker_.wait_idle(seconds(30)) || !handoff_.wait_empty(seconds(30))) {
    std::fprintf(stderr, "kv-server: handoff not finished after 30 s (%zu entries pending)\n",
                 handoff_.pending());
  }
  node_.leave();
  stop_http();
  node_.stop();
  std::fprintf(stderr, "kv-server: stopped (%llu entries pushed, %llu pushes failed)\n",
               static_cast<unsigned long long>(handoff_.pushed()),
               static_cast<unsigned long long>(handoff_.failed()));
}

void Server::stop_http() {
  if (!http_thread_.joinable()) return;
  // stop() stops only a server that is listening: wait (bounded) for the
  // thread to get there when a stop comes right after the start.
  for (int i = 0; i < 2000 && !http_.is_running(); ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  http_.stop();
  http_thread_.join();
}

// ---- what members serve each other ----

void Server::serve_replica(const shoal::node::Request& request, const shoal::node::Reply& reply) {
  std::optional<std::vector<Entry>> entries = decode(request.payload);
  if (!entries) return reply.fail("malformed batch");
  for (const Entry& e : *entries) store_.merge(e);
  reply.ok(std::to_string(entries->size()));
}

// "" if this member holds no copy of the key, else the entry (wire.h).
void Server::serve_fetch(const shoal::node::Request& request, const shoal::node::Reply& reply) {
  std::optional<Entry> e = store_.get(request.key);
  reply.ok(e ? encode({*e}) : std::string());
}

// The member that asks is the request's source (shoal says who sent it).
void Server::serve_pull(const shoal::node::Request& request, const shoal::node::Reply& reply) {
  const std::string who = request.source;
  // One pending pull per member: asking again while one waits adds none
  // (a peer cannot queue copies of the store without bound).
  {
    std::lock_guard lock(pulls_mu_);
    if (pulls_.size() >= kPullsMax || !pulls_.insert(who).second) return reply.ok("queued");
  }
  worker_.post([this, who] {
    {
      std::lock_guard lock(pulls_mu_);
      pulls_.erase(who);
    }
    push_replicas_of(who);
  });
  reply.ok("queued");
}

// ---- HTTP ----

void Server::routes() {
  http_.Put(R"(/kv/(.+))",
            [this](const httplib::Request& q, httplib::Response& r) { client_put(q, r); });
  http_.Get(R"(/kv/(.+))",
            [this](const httplib::Request& q, httplib::Response& r) { client_get(q, r); });
  http_.Get("/status", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(status_json(), "application/json");
  });
}

void unavailable(httplib::Response& r, shoal::node::ForwardError e, const std::string& why) {
  r.status = 503;
  r.set_content(std::string(shoal::node::to_string(e)) + ": " + why + "\n", "text/plain");
}

// A write goes to both replicas at once and is answered once both hold it
// (W = 2): an answered write survives the loss of any one member. A ring
// with fewer members (this server cut off, or just started and not
// joined) cannot promise that: the replicator refuses it, and the client
// tries again, elsewhere or later.
void Server::client_put(const httplib::Request& q, httplib::Response& r) {
  ++client_requests_;
  const std::string v = q.get_param_value("version");
  uint64_t version = 0;
  if (std::from_chars(v.data(), v.data() + v.size(), version).ec != std::errc() || version == 0) {
    r.status = 400;
    return r.set_content("bad version\n", "text/plain");
  }
  shoal::node::ReplicaOptions o;
  o.n = kReplicas;
  o.quorum = kReplicas;
  o.request.endpoint = kReplicaEndpoint;
  o.request.timeout = milliseconds(3000);
  const std::string key = q.matches[1];
  shoal::node::ReplicaResult res =
      node_.replicate(key, encode({Entry{key, version, q.body}}), o).get();
  if (!res.ok()) {
    ++writes_refused_;
    return unavailable(r, res.error, res.message);
  }
  r.set_header("X-Handled-By", res.answers[0].member);
  r.set_content("ok", "application/octet-stream");
}

// A read asks both replicas (R = 1, waiting for both) and answers the
// higher version; not found is an answer only if every replica said so.
// A replica that answered an older copy (or none) is sent the newer.
void Server::client_get(const httplib::Request& q, httplib::Response& r) {
  ++client_requests_;
  const std::string key = q.matches[1];
  shoal::node::ReplicaOptions o;
  o.n = std::min(kReplicas, node_.ring()->member_count());
  if (o.n < kReplicas) ++reads_one_replica_;
  o.quorum = 1;
  o.wait_all = true;
  o.request.endpoint = kFetchEndpoint;
  o.request.timeout = milliseconds(2000);
  shoal::node::ReplicaResult res = node_.replicate(key, "", o).get();
  if (res.answers.empty()) return unavailable(r, res.error, res.message);  // no ring yet
  std::optional<Entry> best;
  size_t answered = 0;
  for (const shoal::node::ReplicaAnswer& a : res.answers) {
    if (!a.result.ok()) continue;
    ++answered;
    std::optional<std::vector<Entry>> e = decode(a.result.payload);
    if (e && e->size() == 1 && (!best || e->front().version > best->version)) best = e->front();
  }
  if (!best && answered < res.answers.size()) {
    return unavailable(r, res.error, "a replica did not answer: " + res.message);
  }
  r.set_header("X-Replicas-Read", std::to_string(answered));
  if (!best) {
    r.status = 404;
    return;
  }
  for (const shoal::node::ReplicaAnswer& a : res.answers) {
    std::optional<std::vector<Entry>> e = decode(a.result.payload);
    const bool older = !e || e->empty() || e->front().version < best->version;
    if (a.result.ok() && older) {
      shoal::node::ForwardOptions fo;
      fo.timeout = milliseconds(2000);
      node_.request(a.member, kReplicaEndpoint, encode({*best}), fo, {});  // read repair
    }
  }
  r.set_header("X-Handled-By", res.answers[0].member);
  r.set_content(std::to_string(best->version) + "\n" + best->value, "application/octet-stream");
}

std::string Server::status_json() const {
  const bool ready = node_.wait_ready(milliseconds(0));
  return "{\"member\":\"" + self_ + "\",\"ready\":" + (ready ? "true" : "false") +
         ",\"ring_members\":" + std::to_string(node_.ring()->member_count()) +
         ",\"handled_ring_members\":" + std::to_string(handled_ring_members_.load()) +
         ",\"handoff_pending\":" + std::to_string(worker_.pending() + handoff_.pending()) +
         ",\"pulled\":" + (pulled_ ? "true" : "false") +
         ",\"entries\":" + std::to_string(store_.size()) +
         ",\"pushed\":" + std::to_string(handoff_.pushed()) +
         ",\"push_failures\":" + std::to_string(handoff_.failed()) +
         ",\"handled\":" + std::to_string(handled_.load()) +
         ",\"client_requests\":" + std::to_string(client_requests_.load()) +
         ",\"writes_refused\":" + std::to_string(writes_refused_.load()) +
         ",\"reads_one_replica\":" + std::to_string(reads_one_replica_.load()) + "}\n";
}

// ---- member to member ----

bool Server::push(const std::string& member, const std::vector<Entry>& entries) {
  shoal::node::ForwardOptions o;
  o.timeout = seconds(5);
  return node_.request(member, kReplicaEndpoint, encode(entries), o).get().ok();
}

// ---- handoff ----

void Server::on_ring_change(const shoal::node::RingChange& change) {
  // Which key ranges gained which member among their kReplicas owners:
  // each entry goes to the members that now hold a copy and did not.
  const shoal::ring::ReplicaDiff d = change.replica_diff(kReplicas);
  if (!d.empty()) {
    std::map<std::string, std::vector<Entry>> out;
    for (Entry& e : store_.snapshot()) {
      const shoal::ring::ReplicaMove* m = d.find(shoal::ring::key_hash(e.key));
      if (m == nullptr) continue;
      for (const std::string& to : m->gained) {
        if (to != self_) out[to].push_back(e);
      }
    }
    for (const auto& [member, entries] : out) handoff_.add(member, entries);
  }
  // Owed to members no longer in the ring: the change that removed them
  // handed their keys to new holders.
  std::set<std::string> members;
  for (std::string_view m : change.after->members()) {
    if (m != self_) members.emplace(m);
  }
  handoff_.keep_only(members);
  pull_if_new(*change.after);
  handled_ring_members_ = change.after->member_count();
}

void Server::push_replicas_of(const std::string& member) {
  std::shared_ptr<const shoal::ring::Ring> ring = node_.ring();
  std::vector<Entry> out;
  for (Entry& e : store_.snapshot()) {
    for (std::string_view m : ring->lookup_n(e.key, kReplicas)) {
      if (m == member) out.push_back(std::move(e));
    }
  }
  handoff_.add(member, out);
}

// A member that starts holds nothing: once its ring has others, it asks
// each of them to push what it holds a replica of. (A restart on the same
// address that no one noticed changes no one's ring: this is what fills
// it again.)
void Server::pull_if_new(const shoal::ring::Ring& ring) {
  if (pulled_ || ring.member_count() < 2) return;
  bool all = true;
  shoal::node::ForwardOptions o;
  o.timeout = seconds(5);
  for (std::string_view m : ring.members()) {
    if (m != self_) all = node_.request(std::string(m), kPullEndpoint, "", o).get().ok() && all;
  }
  pulled_ = all;
}

int run(const Flags& flags) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by every thread
  Server server(flags);
  if (std::string err = server.start(); !err.empty()) {
    std::fprintf(stderr, "kv-server: %s\n", err.c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "kv-server: signal %d: draining and leaving\n", sig);
  server.stop();
  return 0;
}

}  // namespace
}  // namespace kv

int main(int argc, char** argv) {
  kv::Flags f;
  CLI::App app{"kv-server: a sharded, replicated in-memory key-value store on shoal"};
  app.add_option("--listen", f.listen, "shoal's gossip address (UDP and TCP)");
  app.add_option("--http", f.http, "the HTTP address for clients");
  app.add_option("--seeds", f.seeds, "members to join through")->delimiter(',');
  app.add_option("--cluster", f.cluster, "cluster name");
  app.add_option("--handler-threads", f.handler_threads, "threads running requests")
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  return kv::run(f);
}
