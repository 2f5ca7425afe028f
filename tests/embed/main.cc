// A complete embedding example (also in README "Embedding shoal"): three
// members in one process, a handler, and a request forwarded to the owner.
#include <node/node.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  std::vector<std::unique_ptr<shoal::node::Node>> nodes;
  for (int i = 0; i < 3; ++i) {
    shoal::node::NodeOptions options;
    options.listen = "127.0.0.1:0";  // any free port
    options.cluster = "embed-example";
    if (i > 0) options.seeds = {nodes[0]->address()};
    auto node = std::make_unique<shoal::node::Node>(options);
    node->set_handler([](std::string_view key, std::string_view payload) {
      return shoal::node::HandlerResult{
          true, "value of " + std::string(key) + " for " + std::string(payload)};
    });
    if (auto err = node->start(); !err.empty()) {
      std::fprintf(stderr, "start: %s\n", err.c_str());
      return 1;
    }
    nodes.push_back(std::move(node));
  }
  // Wait (bounded) until every member's ring holds all three.
  for (int i = 0; i < 500; ++i) {
    bool ready = true;
    for (auto& n : nodes) ready = ready && n->ring()->member_count() == 3;
    if (ready) break;
    std::this_thread::sleep_for(20ms);
  }
  const std::string key = "user:42";
  std::printf("owner of %s: %.*s\n", key.c_str(),
              static_cast<int>(nodes[0]->ring()->lookup(key).size()),
              nodes[0]->ring()->lookup(key).data());
  shoal::node::ForwardResult r = nodes[1]->handle_or_forward(key, "embed").get();
  std::printf("%s -> %s (handled by %s)\n", key.c_str(),
              r.ok() ? r.payload.c_str() : std::string(to_string(r.error)).c_str(),
              r.handled_by.c_str());
  for (auto& n : nodes) n->leave(1000ms);
  return r.ok() ? 0 : 1;
}
