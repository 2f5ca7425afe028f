// Copyright shoal authors. Seeds given by DNS name, resolved off the io
// thread.
//
// A seed named by DNS ("shoal.prod.svc:7946", a headless service) stands
// for every A/AAAA record of the name (of this node's address family). The
// names are resolved by Asio's resolver thread, never the io thread: at
// the start and again whenever the core has made a join or heal attempt
// since (so on every attempt while alone or cut off). Each round ends in
// one call of `resolved` with every seed as addresses: IP seeds as given,
// names as their records, or as the name itself while it has none (an
// exchange then resolves it when it dials). A name that failed to resolve
// is not asked again for kFailureCache.
//
//   set(specs) --names?--> resolve every name (async) --all done--> resolved(addresses)
//   poll(attempts): a join/heal attempt since the last round? --> another round
//
// Thread safety: the io thread only; `resolved` runs on it.

#ifndef SHOAL_NODE_SEED_RESOLVER_H_
#define SHOAL_NODE_SEED_RESOLVER_H_

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "shoal/node/log.h"

namespace shoal::node {

class SeedResolver {
 public:
  static constexpr auto kFailureCache = std::chrono::seconds(5);
  using Resolved = std::function<void(std::vector<std::string> addresses)>;

  SeedResolver(asio::io_context& io, NodeLog& log) : io_(io), log_(log) {}
  SeedResolver(const SeedResolver&) = delete;
  SeedResolver& operator=(const SeedResolver&) = delete;

  // Where rounds report, and which address family the node has (records
  // of the other are unreachable from it). Before the first set().
  void configure(bool v6, Resolved resolved) {
    v6_ = v6;
    resolved_ = std::move(resolved);
  }
  // The seeds as given; starts a round if any is a name. `attempts`: the
  // core's join + heal attempts so far.
  void set(const std::vector<std::string>& specs, uint64_t attempts);
  // Starts a round if the core has attempted a join or heal since the
  // last one began and none is running.
  void poll(uint64_t attempts) {
    if (!names_.empty() && !resolving_ && attempts != resolved_for_) resolve(attempts);
  }

 private:
  struct Name {
    std::vector<std::string> addresses;                 // its records, last time
    std::chrono::steady_clock::time_point failed_at{};  // last failure, if any
  };
  void resolve(uint64_t attempts);
  void one_resolved(const std::string& name, const asio::error_code& ec,
                    const asio::ip::tcp::resolver::results_type& results);
  void all_resolved();

  asio::io_context& io_;
  NodeLog& log_;
  bool v6_ = false;
  Resolved resolved_;
  std::vector<std::string> specs_;  // as given
  std::map<std::string, Name> names_;
  bool resolving_ = false;
  uint64_t resolved_for_ = 0;  // attempts when the last round began
};

}  // namespace shoal::node

#endif  // SHOAL_NODE_SEED_RESOLVER_H_
