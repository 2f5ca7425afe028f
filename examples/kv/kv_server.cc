// Copyright shoal authors. kv-server: a sharded, replicated, in-memory
// key-value store on shoal. What an app that embeds shoal does, end to
// end (README.md beside this file has the picture):
//
//   * Ownership: each key has two replicas, the first two distinct members
//     of the ring clockwise from it (Ring::lookup_n). The first owns it.
//   * Requests: a client may send any request to any kv-server, which
//     hands it to the owner through Node::handle_or_forward with headers
//     op=put|get and version=N. The owner's async handler runs on the
//     handler threads, never on shoal's io thread.
//   * Writes: the owner keeps the entry and copies it to the other replica
//     before it answers; an answered write is on two members. With fewer
//     than two members in its ring (cut off, just started) or a replica
//     that does not take it, the write fails: never one copy.
//   * Reads: the owner asks the other replica too and answers the higher
//     version (a new owner may not have had the data handed over yet); the
//     answer says how many replicas were asked (X-Replicas-Read).
//   * Handoff: on every ring change, each member queues for pushing the
//     entries whose replica set gained someone to that member
//     (RingChange::replica_diff: which ranges gained which member among
//     their two owners; no lookup per key). The pushes run in the background (handoff.h), each
//     member retried with backoff until it takes them or leaves the ring. A member that starts
//     (empty) also asks every member to push it what it holds a replica of.
//   * Drain: SIGTERM calls Node::leave(), which labels this member
//     draining: every ring drops it, so its entries are pushed to their new
//     replicas, by it and by the other copy; it exits once its pushes are
//     done.
//   * Versions: the client gives every write a version, higher for later
//     writes of a key; a copy keeps the highest version it has seen, so
//     pushes, retries and copies merge in any order into the last write.
//
// Members find each other's HTTP address in the label kv=<host:port>.

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

  // ---- the owner's side: the shoal handler ----
  void handle(shoal::node::Request request, shoal::node::Reply reply);
  void handle_put(const shoal::node::Request& request, const shoal::node::Reply& reply);
  void handle_get(const shoal::node::Request& request, const shoal::node::Reply& reply);
  // The replicas of `key` by this member's ring, other than itself;
  // `replicas`: how many that ring has for it, itself included.
  std::vector<std::string> other_replicas(const std::string& key, size_t* replicas) const;

  // ---- the HTTP side ----
  void routes();
  void client_request(const httplib::Request& q, httplib::Response& r, bool put);
  std::string status_json() const;
  void stop_http();

  // ---- member to member ----
  std::string kv_address(const std::string& member);
  // An HTTP client for `member`'s kv address; null if it has none.
  std::unique_ptr<httplib::Client> client_for(const std::string& member, seconds read_timeout);
  bool push(const std::string& member, const std::vector<Entry>& entries);
  // nullopt: the replica did not answer; else its copy, if any.
  std::optional<std::optional<Entry>> fetch(const std::string& member, const std::string& key);

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
  std::mutex kv_mu_;
  std::map<std::string, std::string> kv_of_;  // member -> its kv= label
  std::atomic<size_t> handled_ring_members_{0};
  std::atomic<bool> pulled_{false};
  std::atomic<uint64_t> handled_{0};            // requests this member's handler took
  std::atomic<uint64_t> writes_refused_{0};     // fewer than kReplicas copies possible
  std::atomic<uint64_t> reads_one_replica_{0};  // a read that could ask only one
  Handoff handoff_{
      [this](const std::string& m, const std::vector<Entry>& e) { return push(m, e); }};
  Worker worker_;  // last: its thread ends before the rest goes (it feeds handoff_)
};

std::string Server::start() {
  node_.set_handler(
      [this](shoal::node::Request q, shoal::node::Reply r) { handle(std::move(q), std::move(r)); });
  node_.on_member_change([this](const shoal::node::MemberEvent& e) {
    auto it = e.labels.find(kLabel);
    if (it == e.labels.end()) return;
    std::lock_guard lock(kv_mu_);
    kv_of_[e.name] = it->second;
  });
  node_.on_ring_change([this](const shoal::node::RingChange& c) { on_ring_change(c); },
                       [this](std::function<void()> task) { worker_.post(std::move(task)); });
  if (auto err = node_.start()) return err.message;
  self_ = node_.name();
  routes();
  // Without it, a request's head and body are separate segments, and the
  // second waits for the peer's delayed ack (40 ms).
  http_.set_tcp_nodelay(true);
  // httplib gives each connection a thread for as long as it is kept
  // alive: enough threads for clients' keep-alive connections plus the
  // other members' pushes, and idle connections let go of soon.
  http_.new_task_queue = [] { return new httplib::ThreadPool(kHttpThreads); };
  http_.set_keep_alive_timeout(1);
  std::string host;
  int port = 0;
  if (!split_host_port(flags_.http, host, port)) {
    node_.stop();
    return "--http: not host:port: " + flags_.http;
  }
  // Batches of up to kBatchEntries entries, each bounded (wire.h).
  http_.set_payload_max_length(64u << 20);
  if (!http_.bind_to_port(host, port)) {
    node_.stop();
    return "--http: cannot bind " + flags_.http;
  }
  http_thread_ = std::thread([this] { http_.listen_after_bind(); });
  std::fprintf(stderr, "kv-server: member %s, http %s\n", self_.c_str(), flags_.http.c_str());
  return "";
}

void Server::stop() {
  // Draining hands this member's keys to others (on_ring_change runs when
  // the ring without it is published); leave() returns once it has left.
  node_.leave();
  if (!worker_.wait_idle(seconds(30)) || !handoff_.wait_empty(seconds(30))) {
    std::fprintf(stderr, "kv-server: handoff not finished after 30 s (%zu entries pending)\n",
                 handoff_.pending());
  }
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

// ---- the owner's side ----

void Server::handle(shoal::node::Request request, shoal::node::Reply reply) {
  ++handled_;
  auto op = request.headers.find("op");
  if (op == request.headers.end()) return reply.fail("no op header");
  if (op->second == "put") return handle_put(request, reply);
  if (op->second == "get") return handle_get(request, reply);
  reply.fail("unknown op " + op->second);
}

std::vector<std::string> Server::other_replicas(const std::string& key, size_t* replicas) const {
  std::shared_ptr<const shoal::ring::Ring> ring = node_.ring();
  std::vector<std::string> out;
  const std::vector<std::string_view> all = ring->lookup_n(key, kReplicas);
  for (std::string_view m : all) {
    if (m != self_) out.emplace_back(m);
  }
  *replicas = all.size();
  return out;
}

void Server::handle_put(const shoal::node::Request& request, const shoal::node::Reply& reply) {
  auto v = request.headers.find("version");
  uint64_t version = 0;
  if (v == request.headers.end() ||
      std::from_chars(v->second.data(), v->second.data() + v->second.size(), version).ec !=
          std::errc()) {
    return reply.fail("bad version header");
  }
  Entry e{request.key, version, request.payload};
  // Answered only once kReplicas members hold it: an answered write
  // survives the loss of any one member. A ring with fewer (this member
  // cut off, or just started and not joined) cannot promise that: the
  // write fails, and the client tries again, elsewhere or later.
  size_t replicas = 0;
  const std::vector<std::string> others = other_replicas(e.key, &replicas);
  if (replicas < kReplicas) {
    ++writes_refused_;
    return reply.fail("only " + std::to_string(replicas) + " of " + std::to_string(kReplicas) +
                      " replicas in " + self_ + "'s ring: a write needs " +
                      std::to_string(kReplicas) + " copies");
  }
  store_.merge(e);
  for (const std::string& m : others) {
    if (!push(m, {e})) {
      ++writes_refused_;
      return reply.fail("replica " + m + " did not take the write");
    }
  }
  reply.ok("ok");
}

void Server::handle_get(const shoal::node::Request& request, const shoal::node::Reply& reply) {
  std::optional<Entry> best = store_.get(request.key);
  bool unanswered = false;
  size_t replicas = 0;
  const std::vector<std::string> others = other_replicas(request.key, &replicas);
  if (replicas < kReplicas) ++reads_one_replica_;
  for (const std::string& m : others) {
    std::optional<std::optional<Entry>> theirs = fetch(m, request.key);
    if (!theirs) {
      unanswered = true;
    } else if (*theirs && (!best || (*theirs)->version > best->version)) {
      best = std::move(*theirs);
      store_.merge(*best);  // read repair
    }
  }
  // Not found is an answer only if every replica said so.
  if (!best && unanswered) return reply.fail("a replica did not answer");
  // "<replicas asked>\n<version>\n<value>", or "<replicas asked>\n" for none.
  const size_t asked = replicas - (unanswered ? 1 : 0);
  reply.ok(std::to_string(asked) + "\n" +
           (best ? std::to_string(best->version) + "\n" + best->value : ""));
}

// ---- HTTP ----

void Server::routes() {
  http_.Put(R"(/kv/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
    client_request(q, r, true);
  });
  http_.Get(R"(/kv/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
    client_request(q, r, false);
  });
  // Member to member: a batch of entries to keep.
  http_.Post("/replica", [this](const httplib::Request& q, httplib::Response& r) {
    std::optional<std::vector<Entry>> entries = decode(q.body);
    if (!entries) {
      r.status = 400;
      return r.set_content("malformed batch\n", "text/plain");
    }
    for (const Entry& e : *entries) store_.merge(e);
    r.set_content(std::to_string(entries->size()) + "\n", "text/plain");
  });
  // Member to member: this member's copy of a key.
  http_.Get(R"(/replica/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
    std::optional<Entry> e = store_.get(q.matches[1]);
    if (!e) {
      r.status = 404;
      return;
    }
    r.set_content(encode({*e}), "application/octet-stream");
  });
  // A member that started asks for what it holds a replica of.
  http_.Post("/pull", [this](const httplib::Request& q, httplib::Response& r) {
    // One pending pull per member: asking again while one waits adds none
    // (a peer cannot queue copies of the store without bound).
    {
      std::lock_guard lock(pulls_mu_);
      if (!pulls_.insert(q.body).second || pulls_.size() > kPullsMax) {
        if (pulls_.size() > kPullsMax) pulls_.erase(q.body);
        r.status = 202;
        return;
      }
    }
    worker_.post([this, who = q.body] {
      {
        std::lock_guard lock(pulls_mu_);
        pulls_.erase(who);
      }
      push_replicas_of(who);
    });
    r.status = 202;
  });
  http_.Get("/status", [this](const httplib::Request&, httplib::Response& r) {
    r.set_content(status_json(), "application/json");
  });
}

void Server::client_request(const httplib::Request& q, httplib::Response& r, bool put) {
  shoal::node::ForwardOptions o;
  o.timeout = milliseconds(3000);
  o.headers = {{"op", put ? "put" : "get"}};
  if (put) o.headers.emplace("version", q.get_param_value("version"));
  shoal::node::ForwardResult res =
      node_.handle_or_forward(q.matches[1], put ? q.body : std::string(), o).get();
  if (!res.ok()) {
    r.status = 503;
    r.set_content(std::string(shoal::node::to_string(res.error)) + ": " + res.message + "\n",
                  "text/plain");
    return;
  }
  r.set_header("X-Handled-By", res.handled_by);
  if (put) return r.set_content(res.payload, "application/octet-stream");
  // The owner's answer to a read: how many replicas it asked, then the entry.
  const size_t nl = res.payload.find('\n');
  r.set_header("X-Replicas-Read", res.payload.substr(0, nl));
  const std::string entry = nl == std::string::npos ? "" : res.payload.substr(nl + 1);
  if (entry.empty()) {
    r.status = 404;
    return;
  }
  r.set_content(entry, "application/octet-stream");
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
         ",\"writes_refused\":" + std::to_string(writes_refused_.load()) +
         ",\"reads_one_replica\":" + std::to_string(reads_one_replica_.load()) + "}\n";
}

// ---- member to member ----

std::string Server::kv_address(const std::string& member) {
  {
    std::lock_guard lock(kv_mu_);
    if (auto it = kv_of_.find(member); it != kv_of_.end()) return it->second;
  }
  std::optional<shoal::node::Member> m = node_.member(member);
  if (!m) return "";
  auto it = m->labels.find(kLabel);
  if (it == m->labels.end()) return "";
  std::lock_guard lock(kv_mu_);
  return kv_of_[member] = it->second;
}

std::unique_ptr<httplib::Client> Server::client_for(const std::string& member,
                                                    seconds read_timeout) {
  std::string host;
  int port = 0;
  if (!split_host_port(kv_address(member), host, port)) return nullptr;
  auto c = std::make_unique<httplib::Client>(host, port);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(seconds(1));
  c->set_read_timeout(read_timeout);
  return c;
}

bool Server::push(const std::string& member, const std::vector<Entry>& entries) {
  auto c = client_for(member, seconds(5));
  if (!c) return false;
  httplib::Result res = c->Post("/replica", encode(entries), "application/octet-stream");
  return res && res->status == 200;
}

std::optional<std::optional<Entry>> Server::fetch(const std::string& member,
                                                  const std::string& key) {
  auto c = client_for(member, seconds(2));
  if (!c) return std::nullopt;
  httplib::Result res = c->Get(("/replica/" + escape(key)).c_str());
  if (!res) return std::nullopt;
  if (res->status == 404) return std::optional<Entry>();
  std::optional<std::vector<Entry>> e = decode(res->body);
  if (res->status != 200 || !e || e->size() != 1) return std::nullopt;
  return std::optional<Entry>(std::move(e->front()));
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
  for (const std::string& m : change.after->members()) {
    if (m != self_) members.insert(m);
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
  for (const std::string& m : ring.members()) {
    if (m == self_) continue;
    auto c = client_for(m, seconds(5));
    if (!c) {
      all = false;
      continue;
    }
    httplib::Result res = c->Post("/pull", self_, "text/plain");
    all = all && res && res->status == 202;
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
  app.add_option("--http", f.http, "the HTTP address for clients and other kv-servers");
  app.add_option("--seeds", f.seeds, "members to join through")->delimiter(',');
  app.add_option("--cluster", f.cluster, "cluster name");
  app.add_option("--handler-threads", f.handler_threads, "threads running requests")
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  return kv::run(f);
}
