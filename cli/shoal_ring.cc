// shoal-ring: build a consistent hash ring from a member list and query it.
//
//   shoal-ring lookup  (--members A,B,.. | --count N) [-n N] [--json] KEY...
//   shoal-ring balance (--members A,B,.. | --count N) [--keys K]
//   shoal-ring move    (--members A,B,.. | --count N) [--add A].. [--remove A].. [--keys K]
//
// Same placement as every shoal node (ring/ring.h), so it answers "who owns
// this key" offline for a known member list. Bad arguments exit 2.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "shoal/ring/ring.h"

namespace {

using shoal::ring::Ring;
using shoal::ring::RingBuilder;

struct Common {
  std::vector<std::string> members;
  int count = 0;
  int base_port = 7000;
  uint32_t points = shoal::ring::kDefaultReplicaPoints;
};

void add_common(CLI::App* cmd, Common& c) {
  auto* members =
      cmd->add_option("--members", c.members, "members: NAME or NAME=WEIGHT (host:port)")
          ->delimiter(',');
  auto* count = cmd->add_option("--count", c.count, "use N members 127.0.0.1:BASE..BASE+N-1")
                    ->check(CLI::Range(1, 100000));
  members->excludes(count);
  cmd->add_option("--base-port", c.base_port, "first port for --count")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--points", c.points, "replica points per member")
      ->check(CLI::Range(1u, shoal::ring::kMaxPointsPerMember))
      ->capture_default_str();
}

std::shared_ptr<const Ring> make_ring(const Common& c) {
  RingBuilder builder(c.points);
  std::vector<std::string> members = c.members;
  for (int i = 0; i < c.count; ++i) {
    members.push_back("127.0.0.1:" + std::to_string(c.base_port + i));
  }
  if (members.empty()) {
    std::fprintf(stderr, "shoal-ring: give --members A,B,... or --count N\n");
    std::exit(2);
  }
  // MEMBER or MEMBER=WEIGHT (the weight label's meaning: about WEIGHT
  // times the keys of a member at 1).
  for (const std::string& m : members) {
    const size_t eq = m.rfind('=');
    double weight = 1.0;
    if (eq != std::string::npos) {
      char* end = nullptr;
      weight = std::strtod(m.c_str() + eq + 1, &end);
      if (end == m.c_str() + eq + 1 || *end != '\0') weight = 0;  // invalid: refused below
    }
    const std::string name = m.substr(0, eq);
    if (!builder.add(name, weight)) {
      std::fprintf(stderr, "shoal-ring: invalid member '%s' (NAME or NAME=WEIGHT, WEIGHT > 0)\n",
                   m.c_str());
      std::exit(2);
    }
  }
  return builder.build();
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

void print_summary(const Ring& ring) {
  std::printf("ring: %zu members, %zu points, checksum %016llx\n", ring.member_count(),
              ring.point_count(), static_cast<unsigned long long>(ring.checksum()));
}

std::map<std::string_view, size_t> owner_counts(const Ring& ring, size_t keys) {
  std::map<std::string_view, size_t> counts;
  for (std::string_view m : ring.members()) counts[m] = 0;
  for (size_t i = 0; i < keys; ++i) ++counts[ring.lookup("key-" + std::to_string(i))];
  return counts;
}

int cmd_lookup(const Common& c, const std::vector<std::string>& keys, size_t n, bool json) {
  auto ring = make_ring(c);
  for (const std::string& key : keys) {
    auto owners = ring->lookup_n(key, n);
    if (json) {
      std::printf("{\"key\": \"%s\", \"owners\": [", json_escape(key).c_str());
      for (size_t i = 0; i < owners.size(); ++i) {
        std::printf("%s\"%s\"", i ? ", " : "", json_escape(owners[i]).c_str());
      }
      std::printf("], \"checksum\": %llu}\n", static_cast<unsigned long long>(ring->checksum()));
    } else {
      std::printf("%s ->", key.c_str());
      for (auto o : owners) std::printf(" %.*s", static_cast<int>(o.size()), o.data());
      std::printf("\n");
    }
  }
  return 0;
}

int cmd_balance(const Common& c, size_t sample) {
  auto ring = make_ring(c);
  print_summary(*ring);
  auto counts = owner_counts(*ring, sample);
  const double mean = static_cast<double>(sample) / static_cast<double>(ring->member_count());
  double max = 0;
  for (const auto& [member, count] : counts) {
    std::printf("  %-24.*s %8zu keys  %5.2fx mean\n", static_cast<int>(member.size()),
                member.data(), count, static_cast<double>(count) / mean);
    max = std::max(max, static_cast<double>(count));
  }
  std::printf("max/mean load: %.3f\n", max / mean);
  return 0;
}

int cmd_move(const Common& c, const std::vector<std::string>& adds,
             const std::vector<std::string>& removes, size_t sample) {
  RingBuilder builder(make_ring(c));
  for (const std::string& a : adds) {
    if (!builder.add(a)) {
      std::fprintf(stderr, "shoal-ring: invalid member address '%s'\n", a.c_str());
      return 2;
    }
  }
  for (const std::string& r : removes) builder.remove(r);
  auto before = builder.current();
  auto after = builder.build();
  size_t moved = 0;
  for (size_t i = 0; i < sample; ++i) {
    const std::string key = "key-" + std::to_string(i);
    if (before->lookup(key) != after->lookup(key)) ++moved;
  }
  print_summary(*before);
  print_summary(*after);
  std::printf("moved: %zu of %zu sampled keys (%.2f%%)\n", moved, sample,
              100.0 * static_cast<double>(moved) / static_cast<double>(sample));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shoal-ring: query a shoal consistent hash ring offline"};
  app.require_subcommand(1);

  Common lookup_c;
  size_t n = 1;
  bool json = false;
  std::vector<std::string> keys;
  auto* lookup = app.add_subcommand("lookup", "print the owner(s) of each KEY");
  add_common(lookup, lookup_c);
  lookup->add_option("-n", n, "owners per key (clockwise, distinct)")
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  lookup->add_flag("--json", json, "one JSON object per key");
  lookup->add_option("KEY", keys, "keys to look up")->required();

  Common balance_c;
  size_t sample = 100000;
  auto* balance = app.add_subcommand("balance", "share of sampled keys per member");
  add_common(balance, balance_c);
  balance->add_option("--keys", sample, "sampled keys")
      ->check(CLI::Range(size_t{1}, size_t{100000000}))
      ->capture_default_str();

  Common move_c;
  std::vector<std::string> adds, removes;
  size_t move_sample = 100000;
  auto* move = app.add_subcommand("move", "how many sampled keys change owner");
  add_common(move, move_c);
  move->add_option("--add", adds, "member to add");
  move->add_option("--remove", removes, "member to remove");
  move->add_option("--keys", move_sample, "sampled keys")
      ->check(CLI::Range(size_t{1}, size_t{100000000}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (lookup->parsed()) return cmd_lookup(lookup_c, keys, n, json);
  if (balance->parsed()) return cmd_balance(balance_c, sample);
  if (move->parsed()) return cmd_move(move_c, adds, removes, move_sample);
  return 0;
}
