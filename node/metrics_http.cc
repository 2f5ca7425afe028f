// Copyright shoal authors. See metrics_http.h.

#include "shoal/node/metrics_http.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <utility>

#include "shoal/node/address.h"

namespace shoal::node {

namespace {

constexpr size_t kThreads = 2;
constexpr time_t kIoSeconds = 2;
constexpr size_t kBodyMax = 1024;

}  // namespace

struct MetricsServer::Server {
  httplib::Server http;
  std::atomic<bool> done{false};  // listen_after_bind returned
};

MetricsServer::MetricsServer(Handlers handlers) : handlers_(std::move(handlers)) {}

MetricsServer::~MetricsServer() { close(); }

std::string MetricsServer::open(const std::string& address) {
  std::string err;
  auto hp = parse_host_port(address, &err, /*allow_port_zero=*/true);
  if (!hp) return err;
  auto s = std::make_unique<Server>();
  httplib::Server& http = s->http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  http.set_read_timeout(kIoSeconds, 0);
  http.set_write_timeout(kIoSeconds, 0);
  http.set_keep_alive_timeout(kIoSeconds);
  http.set_payload_max_length(kBodyMax);
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
    std::optional<std::string> text = handlers_.metrics();
    if (!text) {
      r.status = 503;
      return r.set_content("io loop not answering\n", "text/plain");
    }
    r.set_content(std::move(*text), "text/plain; version=0.0.4");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
    const bool ok = handlers_.healthy();
    r.status = ok ? 200 : 503;
    r.set_content(ok ? "ok\n" : "io loop not answering\n", "text/plain");
  });
  http.Get("/ready", [this](const httplib::Request&, httplib::Response& r) {
    auto [ready, why] = handlers_.ready();
    r.status = ready ? 200 : 503;
    r.set_content(why, "application/json");
  });
  const int port = hp->port == 0 ? http.bind_to_any_port(hp->host)
                                 : (http.bind_to_port(hp->host, hp->port) ? hp->port : -1);
  if (port <= 0) return "cannot bind " + address;
  hp->port = static_cast<uint16_t>(port);
  address_ = hp->to_string();
  server_ = std::move(s);
  return "";
}

void MetricsServer::start() {
  if (!server_ || thread_.joinable()) return;
  thread_ = std::thread([s = server_.get()] {
    s->http.listen_after_bind();
    s->done = true;
  });
}

void MetricsServer::close() {
  if (thread_.joinable()) {
    // stop() only stops a server that is listening: wait (bounded) for the
    // thread to get there if close() came right after start().
    for (int i = 0; i < 2000 && !server_->http.is_running() && !server_->done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server_->http.stop();
    thread_.join();
  }
  server_.reset();
  address_.clear();
}

}  // namespace shoal::node
