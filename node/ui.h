// Copyright shoal authors. The web page of the cluster (GET /ui on the
// metrics listener; read-only, loopback unless --metrics-public):
//
//   GET /ui          the page: HTML, CSS and JavaScript compiled in
//                    (ui_page.cc), no CDN, nothing downloaded
//   GET /ui/state    JSON, polled by the page every second: this node, its
//                    members (status, incarnation, address, labels), the
//                    view matrix (every member's view of every member, as
//                    `shoal top` shows it), each member's share of the
//                    ring, the last member events
//   GET /ui/key?k=K  JSON: the key's owners in this node's ring (K
//                    percent-encoded, at most 1 KiB)
//
// The matrix: each poll that finds the views older than a second asks
// every reachable member (at most kViewsMax) for its view, by a directed
// request to the endpoint kViewEndpoint that every node serves (with a
// keyring, sealed like every request: the page shows what this node may
// read); answers fill the matrix as they come, so a poll shows the last
// answers. Thread safety: the io thread only.

#ifndef SHOAL_NODE_UI_H_
#define SHOAL_NODE_UI_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "shoal/node/engine.h"

namespace shoal::node {

inline constexpr char kViewEndpoint[] = "shoal.view";

class Ui {
 public:
  static constexpr size_t kViewsMax = 128;
  static constexpr size_t kKeyBytesMax = 1024;
  static constexpr size_t kEventsShown = 30;

  explicit Ui(Engine& engine) : engine_(engine) {}

  // The answer to GET `target` under /ui: (content type, body), or an
  // empty type for 404 and "400" as the type for a bad key.
  std::pair<std::string, std::string> serve(std::string_view target, membership::Instant now);
  // This node's view for a peer's matrix: JSON {member: status}.
  std::string own_view() const;

 private:
  using View = std::map<std::string, std::string>;  // member -> status
  View view() const;
  std::string state(membership::Instant now);
  std::pair<std::string, std::string> key_owners(std::string_view query) const;
  void refresh_views(membership::Instant now);
  // Each member's share of the current ring, computed once per ring.
  const std::map<std::string, double>& shares();

  Engine& engine_;
  // asker -> (member -> status), from its last answer.
  std::map<std::string, View> views_;
  membership::Instant asked_at_{};
  std::shared_ptr<const ring::Ring> shares_ring_;  // the snapshot shares_ is of
  std::map<std::string, double> shares_;
};

// The page (ui_page.cc).
extern const char* const kUiPage;

}  // namespace shoal::node

#endif  // SHOAL_NODE_UI_H_
