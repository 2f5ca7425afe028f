// Copyright shoal authors. How the `shoal` CLI reads and prints a node's
// answers (cli/shoal.cc asks; this file formats).
//
// A node's answer is input like any other: it may come from a node of
// another version, a broken one, or anyone who can answer on its port. So
// every field is read through get<T>(), which throws std::runtime_error
// (or nlohmann's json::exception, also a std::exception) when the field is
// missing or of another type; shoal.cc catches it and reports "malformed
// answer". Every text that came from a node goes through printable()
// before it reaches the terminal, so an answer cannot send terminal escape
// sequences. tests/fuzz/cli_answer_fuzzer.cc checks both promises on
// arbitrary JSON.
//
// Pure: no I/O; the callers print what these return.

#ifndef SHOAL_CLI_ANSWER_FORMAT_H_
#define SHOAL_CLI_ANSWER_FORMAT_H_

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace shoal::cli {

using nlohmann::json;

// Text from a peer, safe to print: control characters (terminal escapes
// included) are shown as \xNN.
std::string printable(std::string_view s);

// A field of a node's answer; throws if it is missing or of another type.
// An integer field must hold an integer that fits T: json's own get<T>()
// would convert 1e300 or -1 (undefined behaviour for a double out of
// range), and a node's answer picks the number.
template <class T>
T get(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) {
    throw std::runtime_error(std::string("no '") + key + "' in the answer");
  }
  const json& v = j.at(key);
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    bool fits = false;
    if (v.is_number_unsigned()) {
      fits = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    } else if constexpr (std::is_signed_v<T>) {
      fits = v.is_number_integer() && v.get<int64_t>() >= std::numeric_limits<T>::min() &&
             v.get<int64_t>() <= std::numeric_limits<T>::max();
    }
    if (!fits) throw std::runtime_error(std::string("'") + key + "' is not a valid integer");
  }
  return v.get<T>();
}
// A string field, printable.
std::string str(const json& j, const char* key);

// A member's labels as "k=v,k2=v2" ("-" for none), printable.
std::string labels_text(const json& labels);
// A keys.* answer as "primary ID, keys ID,ID".
std::string keys_text(const json& keyring);
// The addresses of the alive and suspect members of a members answer, in
// its order (as given: they are dialled, not printed).
std::vector<std::string> alive_members(const json& members);

// What a command prints: standard output, standard error, exit status.
struct Printed {
  std::string out;
  std::string err;
  int status = 0;
};

// A ring or membership checksum as every command prints it, text or
// JSON: 16 hex digits ("00c0ffee12345678").
std::string checksum_text(uint64_t checksum);

// `shoal members --status S --label K=V`: a member is shown if its status
// is one of `statuses` (any, if empty) and it has every label of `labels`.
struct MemberFilter {
  std::vector<std::string> statuses;
  std::vector<std::pair<std::string, std::string>> labels;
  bool matches(const json& member) const;
};

// `shoal members`: a table, or (json_out) the answer's members that pass
// `filter`.
Printed members_text(const json& members, bool json_out, const MemberFilter& filter = {});

// `shoal watch`: one line for an event of an `events` answer, stamped
// `when` (the CLI's clock).
std::string event_line(const std::string& when, const json& event);

// `shoal top`: what each member (a row) thinks of every member (a column):
// a = alive, S = suspect, F = faulty, L = leave (left), . = not known; a row is
// "unreachable" if that member did not answer. `views` pairs each asked
// member with its members answer (nullptr if it did not answer).
Printed top_text(const std::vector<std::pair<std::string, const json*>>& views, bool json_out);
// `shoal lookup KEY`: "KEY -> OWNER ...".
Printed lookup_text(const std::string& key, const json& answer, bool json_out);
// `shoal forward` and `shoal request` (`command`): who handled it and the
// response, or why it failed (exit status 1).
Printed forward_text(const json& answer, bool json_out, const std::string& command = "forward");
// `shoal stats`, `shoal leave`: the answer as JSON.
Printed simple_text(const json& answer, bool json_out);
// The answer of `labels`: address, incarnation, labels.
Printed labels_answer_text(const json& answer, bool json_out);

// `shoal status`: every alive or suspect member's status answer, and
// whether they agree on the ring (exit status 1 if not).
class StatusReport {
 public:
  // A member that did not answer, and why (printable already).
  void unreachable(const std::string& address, const std::string& error);
  // A member's status answer; throws if it is malformed.
  void add(const std::string& address, const json& status);
  bool converged() const { return by_checksum_.size() == 1 && unreachable_ == 0; }
  Printed printed(bool json_out) const;

 private:
  json nodes_ = json::array();
  std::map<uint64_t, std::vector<std::string>> by_checksum_;
  size_t unreachable_ = 0;
};

}  // namespace shoal::cli

#endif  // SHOAL_CLI_ANSWER_FORMAT_H_
