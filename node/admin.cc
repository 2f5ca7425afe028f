// Copyright shoal authors. See admin.h.

#include "shoal/node/admin.h"

#include <algorithm>
#include <asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include "shoal/node/admin_log.h"
#include "shoal/node/version.h"

namespace shoal::node {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The arguments as a JSON object, or nullopt.
std::optional<json> parse_args(const std::string& args_json) {
  json args = json::parse(args_json.empty() ? "{}" : args_json, nullptr,
                          /*allow_exceptions=*/false);
  if (args.is_discarded() || !args.is_object()) return std::nullopt;
  return args;
}

bool has_string(const json& args, const char* key) {
  return args.contains(key) && args[key].is_string();
}

// "ip" of a TCP peer "ip:port" (IPv6 without brackets).
std::string peer_ip(const std::string& peer) { return peer.substr(0, peer.rfind(':')); }

bool is_loopback_peer(const std::string& peer) {
  asio::error_code ec;
  auto ip = asio::ip::make_address(peer_ip(peer), ec);
  if (ec) return false;
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6()).is_loopback();
  }
  return ip.is_loopback();
}

}  // namespace

std::string admin_refusal(const std::string& peer, bool sealed, Encryption mode) {
  if (mode != Encryption::kOff) {
    if (sealed) return "";
    return "admin from " + peer_ip(peer) +
           " needs the cluster key: this node takes admin requests sealed with a key of its "
           "keyring (shoal --keyring-file)";
  }
  if (is_loopback_peer(peer)) return "";
  return "admin from " + peer_ip(peer) +
         " refused: a node without a keyring takes admin requests from loopback only";
}

void Admin::handle(const proto::AdminRequest& request, Reply reply) {
  const std::optional<json> args = parse_args(request.args_json);
  if (!args) return reply({"", "args_json: not a JSON object"});
  const std::string& c = request.command;
  if (c == "members") return reply(members());
  if (c == "status") return reply(status());
  if (c == "stats") return reply({render_stats_json(hooks_.stats()), ""});
  if (c == "lookup") return reply(lookup(*args));
  if (c == "forward" || c == "request") return forward(c, *args, std::move(reply));
  if (c.starts_with("keys.")) return reply(keys(c, *args));
  if (c == "labels") return reply(labels(*args));
  if (c == "events") return reply(events(*args));
  if (c == "force-leave") return reply(force_leave(*args));
  if (c == "log-level") return reply(log_level(*args));
  if (c == "broadcast" || c == "event") return reply(app_send(c, *args));
  if (c == "query") return app_query(*args, std::move(reply));
  if (c == "app-events") return reply(app_events(*args));
  if (c == "leave") {
    hooks_.leave();
    return reply({dump({{"leaving", true}, {"address", engine_.address()}}), ""});
  }
  reply({"", "unknown command '" + c +
                 "' (members, status, events, lookup, forward, request, stats, leave, force-leave, "
                 "log-level, labels, broadcast, event, query, app-events, "
                 "keys.list, keys.install, keys.use, keys.remove)"});
}

proto::AdminResponse Admin::members() const {
  json out = json::array();
  for (const auto& m : engine_.core().members()) {
    out.push_back({{"name", m.name},
                   {"address", m.address},
                   {"status", std::string(to_string(m.status))},
                   {"incarnation", m.incarnation},
                   {"labels", m.labels}});
  }
  return {dump(out), ""};
}

proto::AdminResponse Admin::status() const {
  const auto& core = engine_.core();
  std::map<std::string, int> by_status;
  for (const auto& m : core.members()) ++by_status[std::string(to_string(m.status))];
  auto ring = engine_.ring().current();
  return {dump({{"address", engine_.address()},
                {"name", engine_.name()},
                {"displaced_by", core.displaced_by()},
                {"cluster", engine_.cluster()},
                {"incarnation", core.incarnation()},
                {"status", std::string(to_string(core.member(engine_.name())->status))},
                {"members", by_status},
                {"membership_checksum", core.checksum()},
                {"ring", {{"members", ring->member_count()}, {"checksum", ring->checksum()}}},
                {"health_score", core.health_score()},
                {"joined", core.joined()},
                {"seeds", core.seeds()},
                {"version", std::string(version())},
                {"protocol", protocol_version()},
                {"protocol_minor", protocol_minor()}}),
          ""};
}

proto::AdminResponse log_answer(const std::string& command, const json& args, const AdminLog& log,
                                size_t per_answer) {
  if (!args.contains("since")) {
    return {dump({{"next", log.last}, {"events", json::array()}, {"epoch", log.epoch}}), ""};
  }
  if (!args["since"].is_number_unsigned()) return {"", command + ": 'since' must be a number >= 0"};
  if (args.contains("epoch") && !args["epoch"].is_number_unsigned()) {
    return {"", command + ": 'epoch' must be a number >= 0"};
  }
  const bool restarted = args["since"].get<uint64_t>() > log.last ||
                         (args.contains("epoch") && args["epoch"].get<uint64_t>() != log.epoch);
  const uint64_t since = restarted ? 0 : args["since"].get<uint64_t>();
  const uint64_t first = log.size == 0 ? log.last + 1 : log.seq(0);
  json out = json::array();
  uint64_t next = log.last;
  for (size_t i = 0; i < log.size; ++i) {
    const uint64_t seq = log.seq(i);
    if (seq <= since) continue;
    if (out.size() == per_answer) {  // the rest on the next ask
      next = seq - 1;
      break;
    }
    out.push_back(log.render(i));
  }
  const uint64_t missed = first > since + 1 ? first - since - 1 : 0;
  return {dump({{"next", next},
                {"events", out},
                {"missed", missed},
                {"restarted", restarted},
                {"epoch", log.epoch}}),
          ""};
}

// events {since?, epoch?}: the member events (admin_log.h has the cursor),
// of the last Engine::kEventLogMax.
proto::AdminResponse Admin::events(const json& args) const {
  const auto& log = engine_.event_log();
  AdminLog view{engine_.last_event_seq(), engine_.core().config().incarnation, log.size(),
                [&log](size_t i) { return log[i].seq; },
                [&log](size_t i) {
                  const auto& [seq, e] = log[i];
                  return json{
                      {"seq", seq},
                      {"name", e.name},
                      {"address", e.address},
                      {"status", std::string(to_string(e.status))},
                      {"old_status", e.old_status ? std::string(to_string(*e.old_status)) : ""},
                      {"incarnation", e.incarnation},
                      {"source", e.source},
                      {"forgotten", e.forgotten},
                      {"labels", e.labels}};
                }};
  return log_answer("events", args, view, kEventsPerAnswer);
}

proto::AdminResponse Admin::lookup(const json& args) const {
  if (!has_string(args, "key")) return {"", "lookup: needs a string 'key'"};
  size_t n = 1;
  if (args.contains("n")) {
    if (!args["n"].is_number_unsigned() || args["n"].get<uint64_t>() < 1 ||
        args["n"].get<uint64_t>() > 100000) {
      return {"", "lookup: 'n' must be 1..100000"};
    }
    n = args["n"].get<size_t>();
  }
  const std::string key = args["key"].get<std::string>();
  auto ring = engine_.ring().current();
  json owners = json::array();
  json addresses = json::array();  // where each owner is reached
  for (auto o : ring->lookup_n(key, n)) {
    owners.push_back(std::string(o));
    const std::string* at = engine_.core().address_of_member(o);
    addresses.push_back(at ? *at : std::string(o));
  }
  return {dump({{"key", key},
                {"owners", owners},
                {"addresses", addresses},
                {"checksum", ring->checksum()}}),
          ""};
}

// {key, payload?, timeout_ms?, endpoint?}: handle_or_forward from this
// node; the answer says who handled it.
void Admin::forward(const std::string& command, const json& args, Reply reply) {
  // forward: to the key's owner; request: to the member named.
  const char* what = command == "forward" ? "key" : "member";
  if (!has_string(args, what)) {
    return reply({"", command + ": needs a JSON object with a string '" + what + "'"});
  }
  ForwardOptions fo;
  if (args.contains("timeout_ms") && args["timeout_ms"].is_number_unsigned()) {
    fo.timeout = std::chrono::milliseconds(
        std::clamp<uint64_t>(args["timeout_ms"].get<uint64_t>(), 1, 600000));
  }
  if (has_string(args, "endpoint")) fo.endpoint = args["endpoint"].get<std::string>();
  std::string payload = has_string(args, "payload") ? args["payload"].get<std::string>() : "";
  std::string target = args[what].get<std::string>();
  auto done = [reply = std::move(reply), what, target](ForwardResult r) {
    json j = {
        {what, target},          {"ok", r.ok()},         {"error", std::string(to_string(r.error))},
        {"message", r.message},  {"payload", r.payload}, {"handled_by", r.handled_by},
        {"attempts", r.attempts}};
    reply({dump(j), ""});
  };
  if (command == "request") {
    return engine_.request(std::move(target), std::move(payload), std::move(fo), std::move(done),
                           hooks_.now());
  }
  engine_.forward(std::move(target), std::move(payload), std::move(fo), std::move(done),
                  hooks_.now());
}

// force-leave {name}: a suspect or faulty member marked left at once, the
// claim gossiped (Membership::force_leave).
proto::AdminResponse Admin::force_leave(const json& args) {
  if (!has_string(args, "name")) return {"", "force-leave: needs a string 'name'"};
  const std::string name = args["name"].get<std::string>();
  if (std::string why = engine_.force_leave(name, hooks_.now()); !why.empty()) {
    return {"", "force-leave: " + why};
  }
  auto m = engine_.core().member(name);
  return {dump({{"name", name},
                {"status", m ? std::string(to_string(m->status)) : std::string("unknown")}}),
          ""};
}

// log-level {level?}: sets the node's log level if given; answers it.
proto::AdminResponse Admin::log_level(const json& args) {
  if (!hooks_.log_level || !hooks_.set_log_level) return {"", "log-level: not available here"};
  if (args.contains("level")) {
    if (!args["level"].is_string()) return {"", "log-level: 'level' must be a string"};
    if (std::string why = hooks_.set_log_level(args["level"].get<std::string>()); !why.empty()) {
      return {"", "log-level: " + why};
    }
  }
  return {dump({{"level", hooks_.log_level()}}), ""};
}

// keys.list | keys.install | keys.use | keys.remove {key}. A change is
// made on a copy, saved, and only then applied: the file and the running
// ring never disagree.
// labels {set?: {K: V}, unset?: [K]}: merged into this node's labels, which
// are gossiped with a new incarnation (at most 512 bytes in all).
proto::AdminResponse Admin::labels(const json& args) {
  membership::Labels next = engine_.own_labels();
  const bool changes = args.contains("set") || args.contains("unset");
  if (args.contains("set")) {
    const json& set = args.at("set");
    if (!set.is_object()) return {"", "labels: 'set' must be an object of strings"};
    for (auto it = set.begin(); it != set.end(); ++it) {
      if (it.key().empty()) return {"", "labels: a label needs a name"};
      if (!it.value().is_string()) {
        return {"", "labels: the value of '" + it.key() + "' is not a string"};
      }
      next[it.key()] = it.value().get<std::string>();
    }
  }
  if (args.contains("unset")) {
    const json& unset = args.at("unset");
    if (!unset.is_array()) return {"", "labels: 'unset' must be an array of names"};
    for (const json& name : unset) {
      if (!name.is_string()) return {"", "labels: 'unset' must be an array of names"};
      next.erase(name.get<std::string>());
    }
  }
  if (changes) {
    if (std::string why = engine_.set_labels(std::move(next), hooks_.now()); !why.empty()) {
      return {"", "labels: " + why};
    }
  }
  const auto self = engine_.core().member(engine_.name());
  return {dump({{"address", engine_.address()},
                {"incarnation", self->incarnation},
                {"labels", self->labels}}),
          ""};
}

proto::AdminResponse Admin::keys(const std::string& command, const json& args) {
  Seal& seal = engine_.seal();
  if (seal.mode() == Encryption::kOff) {
    return {"", command + ": this node has no keyring (start it with --keyring-file)"};
  }
  auto listing = [&seal] {
    json ids = json::array();
    for (const Key& k : seal.keyring().keys()) ids.push_back(key_id_hex(key_id(k)));
    return dump({{"primary", key_id_hex(seal.keyring().primary_id())},
                 {"keys", ids},
                 {"encryption", std::string(to_string(seal.mode()))}});
  };
  if (command == "keys.list") return {listing(), ""};
  if (!has_string(args, "key")) return {"", command + ": needs a string 'key' (base64)"};
  std::string why;
  const std::optional<Key> key = decode_key(args["key"].get<std::string>(), &why);
  if (!key) return {"", command + ": " + why};
  Keyring next = seal.keyring();
  if (command == "keys.install") {
    why = next.install(*key);
  } else if (command == "keys.use") {
    why = next.use(*key);
  } else if (command == "keys.remove") {
    why = next.remove(*key);
  } else {
    return {"",
            "unknown command '" + command + "' (keys.list, keys.install, keys.use, keys.remove)"};
  }
  if (!why.empty()) return {"", command + ": " + why};
  if (hooks_.save_keyring) {
    if (why = hooks_.save_keyring(next); !why.empty()) return {"", command + ": " + why};
  }
  seal.keyring() = std::move(next);
  return {listing(), ""};
}

}  // namespace shoal::node
