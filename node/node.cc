// Copyright shoal authors. The public API (node.h): each method reads a
// published snapshot or hands its work to the io thread. What the io
// thread then does lives in the files node_impl.h lists.

#include "shoal/node/node.h"

#include <spdlog/spdlog.h>

#include "shoal/node/node_impl.h"

namespace shoal::node {

namespace {

ForwardResult not_running() {
  return ForwardResult{ForwardError::kShuttingDown, "node is not running", "", "", 0};
}

// The future forms wait for the io thread: from the io thread itself that
// would never end.
ForwardResult on_io_thread_error() {
  return ForwardResult{ForwardError::kBadRequest,
                       "handle_or_forward's future form called on the node's io thread (in a "
                       "callback or listener): waiting there would never end; use the form "
                       "that takes a done callback",
                       "", "", 0};
}

}  // namespace

Node::Node(NodeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Node::~Node() {
  stop();
  impl_->handlers.close();
}

Error Node::start() {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.state_mu);
    if (d.started) {
      return {ErrorCode::kAlreadyStarted,
              "start() was called before (a node starts once; after a failed bind, make a new "
              "Node)"};
    }
    d.started = true;
  }
  if (auto err = d.opts.validate()) {
    std::lock_guard lock(d.state_mu);
    d.started = false;  // nothing was bound: the app may fix the options and retry
    return err;
  }
  if (!d.opts.logger) d.log.logger()->set_level(spdlog::get_level());
  if (auto err = d.bind()) return err;
  d.make_engine();
  d.udp.start([&d](const std::string& from, std::string_view bytes) {
    ++d.counters.datagrams_in;
    d.counters.bytes_in += bytes.size();
    auto drop = d.engine->on_datagram(from, bytes, mono_now());
    if (drop.dropped()) return d.log_drop(drop.error, drop.detail, from);
    d.pump();
  });
  d.tcp.start();
  if (d.metrics.is_open()) d.metrics.start();
  d.engine->join(d.opts.seeds, mono_now());
  d.seeds.set(d.opts.seeds, d.seed_attempts());
  d.pump();
  d.start_thread();
  return {};
}

void Node::join(std::vector<std::string> seeds) {
  impl_->on_io([this, &seeds] {
    if (!impl_->on_io_thread()) return;  // not running
    impl_->engine->join(seeds, mono_now());
    impl_->seeds.set(seeds, impl_->seed_attempts());
    impl_->pump();
  });
}

void Node::leave() { leave(impl_->opts.leave_timeout); }

void Node::leave(std::chrono::milliseconds timeout) {
  Impl& d = *impl_;
  {
    std::lock_guard lock(d.state_mu);
    if (!d.running) return;
  }
  asio::post(d.io, [&d, timeout] { d.begin_leave(timeout); });
  if (d.on_io_thread()) return;  // it cannot wait for itself
  std::unique_lock lock(d.state_mu);
  d.stopped_cv.wait_for(lock, d.opts.drain_timeout + timeout + std::chrono::seconds(1),
                        [&d] { return d.stopped; });
  lock.unlock();
  stop();
}

void Node::stop() {
  Impl& d = *impl_;
  if (d.on_io_thread()) {  // it cannot join itself: the thread ends after this
    asio::post(d.io, [&d] { d.shutdown(); });
    return;
  }
  if (d.thread.joinable()) {
    asio::post(d.io, [&d] { d.shutdown(); });
    d.thread.join();
    d.relief.stop();  // it handed the loop back before the io thread could end
    // Handlers running now finish (their answers are dropped: the forwarder
    // has shut down); queued ones never run.
    d.handlers.stop();
    {
      std::lock_guard lock(d.state_mu);
      d.running = false;
    }
    // Requests posted after the io thread stopped still get their result
    // (kShuttingDown: the forwarder is shut down): run what is queued, here,
    // once.
    d.io.restart();
    d.io.poll();
  }
  std::lock_guard lock(d.state_mu);
  d.running = false;
  d.stopped = true;
  d.stopped_cv.notify_all();
}

bool Node::wait_stopped(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->state_mu);
  return impl_->stopped_cv.wait_for(lock, timeout, [this] { return impl_->stopped; });
}

std::shared_future<void> Node::ready() const { return impl_->ready_future; }

bool Node::wait_ready(std::chrono::milliseconds timeout) const {
  return impl_->ready_future.wait_for(timeout) == std::future_status::ready;
}

std::string Node::address() const { return impl_->advertised; }

std::string Node::name() const {
  return impl_->opts.name.empty() ? impl_->advertised : impl_->opts.name;
}

std::string Node::metrics_address() const { return impl_->metrics.address(); }

std::vector<Member> Node::members() const {
  return impl_->on_io(
      [this] { return impl_->engine ? impl_->engine->core().members() : std::vector<Member>{}; });
}

std::optional<Member> Node::member(std::string_view name) const {
  return impl_->on_io([this, name]() -> std::optional<Member> {
    if (!impl_->engine) return std::nullopt;
    return impl_->engine->core().member(name);
  });
}

std::vector<Member> Node::reachable_members(std::function<bool(const Member&)> keep) const {
  std::vector<Member> all = members();
  std::erase_if(all,
                [&keep](const Member& m) { return !is_pingable(m.status) || (keep && !keep(m)); });
  return all;
}

std::shared_ptr<const ring::Ring> Node::ring() const { return impl_->ring_publisher.current(); }

const ring::RingPublisher& Node::ring_publisher() const { return impl_->ring_publisher; }

uint64_t Node::membership_checksum() const {
  return impl_->on_io(
      [this] { return impl_->engine ? impl_->engine->core().checksum() : uint64_t{0}; });
}

Incarnation Node::incarnation() const {
  return impl_->on_io(
      [this] { return impl_->engine ? impl_->engine->core().incarnation() : Incarnation{0}; });
}

NodeStats Node::stats() const {
  return impl_->on_io([this] { return impl_->stats_now(); });
}

Error Node::set_labels(Labels labels) {
  if (std::string why = membership::check_labels(labels); !why.empty()) {
    return {ErrorCode::kInvalidArgument, why};
  }
  return impl_->on_io([this, &labels]() -> Error {
    Impl& d = *impl_;
    if (!d.on_io_thread()) return {ErrorCode::kNotRunning, "the node is not running"};
    // New labels now would drop draining=true and put a leaving node back
    // on every ring.
    if (d.engine->draining() || d.engine->core().leaving()) {
      return {ErrorCode::kLeaving, "this node is leaving"};
    }
    std::string why = d.engine->set_labels(std::move(labels), mono_now());
    d.pump();
    if (why.empty()) return {};
    return {ErrorCode::kInvalidArgument, why};
  });
}

void Node::set_handler(AsyncHandler handler) {
  impl_->handlers.set_handler("", std::move(handler));
}

void Node::set_simple_handler(RequestHandler handler) {
  set_handler(handler ? adapt(std::move(handler)) : AsyncHandler());
}

Error Node::set_handler(const std::string& endpoint, AsyncHandler handler) {
  if (std::string why = check_endpoint(endpoint); !why.empty()) {
    return {ErrorCode::kInvalidArgument, why};
  }
  impl_->handlers.set_handler(endpoint, std::move(handler));
  return {};
}

Error Node::set_simple_handler(const std::string& endpoint, RequestHandler handler) {
  return set_handler(endpoint, handler ? adapt(std::move(handler)) : AsyncHandler());
}

void Node::handle_or_forward(std::string key, std::string payload, ForwardOptions options,
                             std::function<void(ForwardResult)> done) {
  auto call = [&d = *impl_, key = std::move(key), payload = std::move(payload),
               options = std::move(options), done]() mutable {
    d.engine->forward(std::move(key), std::move(payload), std::move(options), std::move(done),
                      mono_now());
  };
  if (!impl_->with_engine(std::move(call)) && done) done(not_running());
}

void Node::handle_or_forward_all(std::vector<std::string> keys, std::string payload,
                                 ForwardOptions options,
                                 std::function<void(std::vector<KeyResult>)> done) {
  auto call = [&d = *impl_, keys, payload = std::move(payload), options = std::move(options),
               done]() mutable {
    d.engine->forward_all(std::move(keys), std::move(payload), std::move(options), std::move(done),
                          mono_now());
  };
  if (!impl_->with_engine(std::move(call)) && done) {
    std::vector<KeyResult> results;
    for (std::string& k : keys) results.push_back({std::move(k), not_running()});
    done(std::move(results));
  }
}

std::future<ForwardResult> Node::handle_or_forward(std::string key, std::string payload,
                                                   ForwardOptions options) {
  auto promise = std::make_shared<std::promise<ForwardResult>>();
  auto fut = promise->get_future();
  if (impl_->future_form_refused()) {
    promise->set_value(on_io_thread_error());
    return fut;
  }
  handle_or_forward(std::move(key), std::move(payload), std::move(options),
                    [promise](ForwardResult r) { promise->set_value(std::move(r)); });
  return fut;
}

std::future<std::vector<KeyResult>> Node::handle_or_forward_all(std::vector<std::string> keys,
                                                                std::string payload,
                                                                ForwardOptions options) {
  auto promise = std::make_shared<std::promise<std::vector<KeyResult>>>();
  auto fut = promise->get_future();
  if (impl_->future_form_refused()) {
    std::vector<KeyResult> results;
    for (std::string& k : keys) results.push_back({std::move(k), on_io_thread_error()});
    promise->set_value(std::move(results));
    return fut;
  }
  handle_or_forward_all(std::move(keys), std::move(payload), std::move(options),
                        [promise](std::vector<KeyResult> r) { promise->set_value(std::move(r)); });
  return fut;
}

void Node::request(std::string member, std::string endpoint, std::string payload,
                   ForwardOptions options, std::function<void(ForwardResult)> done) {
  options.endpoint = std::move(endpoint);
  auto call = [&d = *impl_, member = std::move(member), payload = std::move(payload),
               options = std::move(options), done]() mutable {
    d.engine->request(std::move(member), std::move(payload), std::move(options), std::move(done),
                      mono_now());
  };
  if (!impl_->with_engine(std::move(call)) && done) done(not_running());
}

std::future<ForwardResult> Node::request(std::string member, std::string endpoint,
                                         std::string payload, ForwardOptions options) {
  auto promise = std::make_shared<std::promise<ForwardResult>>();
  auto fut = promise->get_future();
  if (impl_->future_form_refused()) {
    promise->set_value(on_io_thread_error());
    return fut;
  }
  request(std::move(member), std::move(endpoint), std::move(payload), std::move(options),
          [promise](ForwardResult r) { promise->set_value(std::move(r)); });
  return fut;
}

void Node::replicate(std::string key, std::string payload, ReplicaOptions options,
                     std::function<void(ReplicaResult)> done) {
  auto call = [&d = *impl_, key = std::move(key), payload = std::move(payload),
               options = std::move(options), done]() mutable {
    d.engine->replicate(std::move(key), std::move(payload), std::move(options), std::move(done),
                        mono_now());
  };
  if (!impl_->with_engine(std::move(call)) && done) {
    ForwardResult r = not_running();
    done(ReplicaResult{r.error, std::move(r.message), 0, {}});
  }
}

std::future<ReplicaResult> Node::replicate(std::string key, std::string payload,
                                           ReplicaOptions options) {
  auto promise = std::make_shared<std::promise<ReplicaResult>>();
  auto fut = promise->get_future();
  if (impl_->future_form_refused()) {
    ForwardResult r = on_io_thread_error();
    promise->set_value(ReplicaResult{r.error, std::move(r.message), 0, {}});
    return fut;
  }
  replicate(std::move(key), std::move(payload), std::move(options),
            [promise](ReplicaResult r) { promise->set_value(std::move(r)); });
  return fut;
}

Node::ListenerId Node::on_member_change(std::function<void(const MemberEvent&)> callback,
                                        Executor executor) {
  return impl_->listeners.add_member(std::move(callback), std::move(executor));
}

Node::ListenerId Node::on_ring_change(std::function<void(const RingChange&)> callback,
                                      Executor executor) {
  return impl_->listeners.add_ring(std::move(callback), std::move(executor));
}

void Node::remove_listener(ListenerId id) { impl_->listeners.remove(id); }

void Node::on_leave(std::function<void()> before, std::function<void()> after) {
  impl_->listeners.add_leave_hooks(std::move(before), std::move(after));
}

}  // namespace shoal::node
