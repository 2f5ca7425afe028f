// Fuzz target for cli/answer_format.h: how the shoal CLI reads and prints what a
// node answers (a node, or anyone answering on its port, picks the bytes).
//
// The input, parsed as JSON (inputs that are not JSON are dropped by the
// CLI before any of this), is given as the answer to every command: members,
// lookup, forward, stats/leave, keys, top (as every member's view), watch
// (as one event, and each of its "events"), and to status both as the members
// list and, element by element, as the members' status answers. The raw
// input also goes through printable().
// Checks, each a trap when broken:
//   * every formatter returns, or throws a std::exception (the CLI says
//     "malformed answer"); nothing else escapes, and nothing crashes or
//     hits undefined behaviour (ASan+UBSan in the libFuzzer build);
//   * printable() output has no byte below 0x20 and no 0x7f, and keeps
//     every other byte in order;
//   * text output (not --json) holds no control character but the line
//     ends: an answer cannot reach the terminal with escape sequences;
//     JSON output (--json, and stats and leave always) holds none but the
//     line ends of pretty-printing (JSON escapes the rest; DEL it need not);
//   * exit statuses are 0 or 1; forward's is 1 exactly when it printed to
//     standard error; status's is 0 exactly when it says "converged".
// Built as shoal_cli_answer_fuzzer (libFuzzer) and as
// shoal_cli_answer_fuzz_replay (ctest fuzz.cli_answer_replay).

#include <cstddef>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoal/cli/answer_format.h"

namespace {

namespace c = ::shoal::cli;
using nlohmann::json;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool control_free(std::string_view s, bool newlines_ok) {
  for (unsigned char ch : s) {
    if (ch == '\n' && newlines_ok) continue;
    if (ch < 0x20 || ch == 0x7f) return false;
  }
  return true;
}

void check_printable(std::string_view raw) {
  const std::string out = c::printable(raw);
  check(control_free(out, false));
  // The other bytes are all there, in order.
  size_t at = 0;
  for (unsigned char ch : raw) {
    if (ch < 0x20 || ch == 0x7f) continue;
    at = out.find(static_cast<char>(ch), at);
    check(at != std::string::npos);
    ++at;
  }
}

void check_printed(const c::Printed& p, bool json_out) {
  check(p.status == 0 || p.status == 1);
  check(control_free(p.out, true) || json_out);
  check(control_free(p.err, true));
  if (json_out) {
    // JSON escapes every control character (DEL is not one to JSON).
    for (unsigned char ch : p.out) check(ch >= 0x20 || ch == '\n');
  }
}

// Runs `f`; a std::exception is a malformed answer, reported, and fine.
template <class F>
void guarded(F f) {
  try {
    f();
  } catch (const std::exception&) {
  }
}

void status(const json& answer, bool json_out) {
  guarded([&] { (void)c::alive_members(answer); });
  guarded([&] {
    c::StatusReport report;
    report.unreachable("10.0.0.9:7000", c::printable("10.0.0.9:7000: timed out\x1b[2J"));
    if (answer.is_array() || answer.is_object()) {
      int i = 0;
      for (const json& s : answer) {
        const std::string address = "10.0.0." + std::to_string(++i) + ":7000";
        guarded([&] { report.add(address, s); });
      }
    }
    guarded([&] { report.add("10.0.0.100:7000", answer); });
    const c::Printed p = report.printed(json_out);
    check_printed(p, json_out);
    check((p.status == 0) == report.converged());
    check(json_out || (p.out.find("\nconverged: ") != std::string::npos) == report.converged());
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  check_printable(raw);
  const json answer = json::parse(raw.begin(), raw.end(), nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) return 0;
  for (bool json_out : {false, true}) {
    guarded([&] { check_printed(c::members_text(answer, json_out), json_out); });
    guarded([&] {
      c::MemberFilter f{{"alive"}, {{"zone", "eu"}}};
      check_printed(c::members_text(answer, json_out, f), json_out);
    });
    guarded([&] {
      // `shoal top`: the answer as every member's view, and one silent.
      std::vector<std::pair<std::string, const json*>> views = {
          {"10.0.0.1:7000", &answer}, {"10.0.0.2:7000", nullptr}, {"10.0.0.3:7000", &answer}};
      check_printed(c::top_text(views, json_out), json_out);
    });
    guarded([&] { check_printed(c::lookup_text("k\x1b]0;x\x07", answer, json_out), json_out); });
    guarded([&] {
      const c::Printed p = c::forward_text(answer, json_out);
      check_printed(p, json_out);
      check(json_out || (p.status == 1) == !p.err.empty());
    });
    // stats and leave print JSON with or without --json.
    guarded([&] { check_printed(c::simple_text(answer, json_out), true); });
    status(answer, json_out);
  }
  guarded([&] { check(control_free(c::keys_text(answer), false)); });
  guarded([&] { check(control_free(c::event_line("2026-12-01T00:00:00Z", answer), false)); });
  if (answer.is_object() && answer.contains("events") && answer["events"].is_array()) {
    for (const json& e : answer["events"]) {
      guarded([&] { check(control_free(c::event_line("t", e), false)); });
    }
  }
  guarded([&] { check(control_free(c::labels_text(answer), false)); });
  guarded([&] { check(control_free(c::str(answer, "address"), false)); });
  return 0;
}
