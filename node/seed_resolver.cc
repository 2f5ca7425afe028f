// Copyright shoal authors. See seed_resolver.h.

#include "shoal/node/seed_resolver.h"

#include <algorithm>
#include <memory>

#include "shoal/node/host_port.h"

namespace shoal::node {

using asio::ip::tcp;
using std::chrono::steady_clock;

namespace {

bool is_ip_seed(const std::string& seed) {
  auto hp = parse_host_port(seed);
  asio::error_code ec;
  if (hp) (void)asio::ip::make_address(hp->host, ec);
  return hp && !ec;
}

}  // namespace

void SeedResolver::set(const std::vector<std::string>& specs, uint64_t attempts) {
  specs_ = specs;
  names_.clear();
  for (const std::string& s : specs) {
    if (!is_ip_seed(s) && parse_host_port(s)) names_.try_emplace(s);
  }
  if (!names_.empty() && !resolving_) resolve(attempts);
}

void SeedResolver::resolve(uint64_t attempts) {
  resolving_ = true;
  resolved_for_ = attempts;
  auto pending = std::make_shared<size_t>(1);  // one for this loop
  const auto now = steady_clock::now();
  for (auto& [name, seed] : names_) {
    if (seed.failed_at != steady_clock::time_point{} && now - seed.failed_at < kFailureCache) {
      continue;
    }
    auto hp = *parse_host_port(name);
    auto resolver = std::make_shared<tcp::resolver>(io_);
    ++*pending;
    resolver->async_resolve(
        hp.host, std::to_string(hp.port),
        [this, resolver, name = name, pending](const asio::error_code& ec,
                                               const tcp::resolver::results_type& results) {
          one_resolved(name, ec, results);
          if (--*pending == 0) all_resolved();
        });
  }
  if (--*pending == 0) all_resolved();
}

void SeedResolver::one_resolved(const std::string& name, const asio::error_code& ec,
                                const tcp::resolver::results_type& results) {
  auto it = names_.find(name);
  if (it == names_.end()) return;  // the seeds changed meanwhile
  std::vector<std::string> addresses;
  for (const auto& r : results) {
    if (r.endpoint().address().is_v6() != v6_) continue;  // unreachable from here
    HostPort hp{r.endpoint().address().to_string(), r.endpoint().port(), v6_};
    if (std::find(addresses.begin(), addresses.end(), hp.to_string()) == addresses.end()) {
      addresses.push_back(hp.to_string());
    }
  }
  if (ec || addresses.empty()) {
    it->second.failed_at = steady_clock::now();
    if (log_.due("seed_resolve")) {
      log_.warn("seed {}: {}", name,
                ec ? ec.message() : "no address of this node's family (IPv4/IPv6)");
    }
    return;
  }
  if (addresses != it->second.addresses) {
    std::string list;
    for (const std::string& a : addresses) list += (list.empty() ? "" : ", ") + a;
    log_.info("seed {} is {} address(es): {}", name, addresses.size(), list);
  }
  it->second.addresses = std::move(addresses);
  it->second.failed_at = {};
}

void SeedResolver::all_resolved() {
  resolving_ = false;
  std::vector<std::string> out;
  for (const std::string& s : specs_) {
    auto it = names_.find(s);
    if (it == names_.end() || it->second.addresses.empty()) {
      out.push_back(s);
    } else {
      out.insert(out.end(), it->second.addresses.begin(), it->second.addresses.end());
    }
  }
  if (resolved_) resolved_(std::move(out));
}

}  // namespace shoal::node
