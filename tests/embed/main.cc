// A complete embedding example (also in README "Embedding shoal"): three
// members in one process, a handler, and a request forwarded to the owner.
// The first member logs through a logger of the app's (spdlog comes with
// shoal's package: the app links nothing else).
#include <shoal/node/node.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  std::vector<std::unique_ptr<shoal::node::Node>> nodes;
  std::ostringstream log_lines;
  auto logger = std::make_shared<spdlog::logger>(
      "app", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_lines));
  for (int i = 0; i < 3; ++i) {
    shoal::node::NodeOptions options;
    options.listen = "127.0.0.1:0";  // any free port
    options.cluster = "embed-example";
    options.name = "member-" + std::to_string(i);
    if (i == 0) options.logger = logger;
    if (i > 0) options.seeds = {nodes[0]->address()};
    auto node = std::make_unique<shoal::node::Node>(options);
    node->set_simple_handler([](std::string_view key, std::string_view payload) {
      return shoal::node::HandlerResult{
          true, "value of " + std::string(key) + " for " + std::string(payload)};
    });
    if (auto err = node->start()) {
      std::fprintf(stderr, "start: %s\n", err.message.c_str());
      return 1;
    }
    nodes.push_back(std::move(node));
  }
  // Wait (bounded: 10 s) until every member's ring holds all three.
  bool ready = false;
  for (int i = 0; i < 500 && !ready; ++i) {
    ready = true;
    for (auto& n : nodes) ready = ready && n->ring()->member_count() == 3;
    if (!ready) std::this_thread::sleep_for(20ms);
  }
  if (!ready) {
    std::fprintf(stderr, "the three members' rings did not converge within 10 s\n");
    return 1;
  }
  // A key that node 1 does not own, so the request really is forwarded.
  std::string key;
  for (int i = 0; key.empty() && i < 10000; ++i) {
    const std::string k = "user:" + std::to_string(i);
    if (nodes[1]->ring()->lookup(k) != nodes[1]->name()) key = k;
  }
  const std::string owner(nodes[1]->ring()->lookup(key));
  std::printf("owner of %s: %s\n", key.c_str(), owner.c_str());
  shoal::node::ForwardResult r = nodes[1]->handle_or_forward(key, "embed").get();
  std::printf("%s -> %s (handled by %s)\n", key.c_str(),
              r.ok() ? r.payload.c_str() : std::string(to_string(r.error)).c_str(),
              r.handled_by.c_str());
  const bool forwarded = r.ok() && r.handled_by == owner && owner != nodes[1]->name() &&
                         nodes[1]->stats().forwards_sent >= 1;
  if (!forwarded) std::fprintf(stderr, "the request was not forwarded to its owner\n");
  // The owner by name: where it is reached.
  std::optional<shoal::node::Member> m = nodes[1]->member(owner);
  const bool found =
      m && shoal::node::address_of(*m) != "" && nodes[1]->reachable_members().size() == 3;
  if (!found) std::fprintf(stderr, "member(%s) or reachable_members() is wrong\n", owner.c_str());
  for (auto& n : nodes) n->leave(1000ms);
  // The app's logger got member-0's lines, each naming it.
  const bool logged = log_lines.str().find("member-0: member member-1") != std::string::npos;
  if (!logged)
    std::fprintf(stderr, "member-0 did not log to the app's logger:\n%s", log_lines.str().c_str());
  return forwarded && found && logged ? 0 : 1;
}
