// Copyright shoal authors. shoald's event handlers (serf agent's
// -event-handler): scripts run for member events, user events and
// queries, one at a time per handler, off the node's io thread.
//
//   --event-handler [FILTER[,FILTER...]=]SCRIPT
//
// FILTER: member-join, member-leave, member-failed, member-update,
// member-reap, user, user:NAME, query, query:NAME, or * (no filter: all).
// SCRIPT runs as `/bin/sh -c SCRIPT` with the event in the environment:
//
//   SHOAL_EVENT         member-join | ... | user | query
//   SHOAL_SELF_NAME     this member's name; SHOAL_SELF_ADDRESS its address
//   SHOAL_USER_EVENT, SHOAL_USER_LTIME     a user event's name, Lamport time
//   SHOAL_QUERY_NAME, SHOAL_QUERY_LTIME    a query's
//   SHOAL_ORIGIN        the member that sent the user event or query
//
// and on stdin the payload (user event, query) or, for a member event, the
// member: "NAME<TAB>ADDRESS<TAB>STATUS<TAB>K=V,K=V<LF>". A query's answer
// is the script's stdout: at most kAnswerMax bytes (more is cut), within
// the query's timeout. A script that runs past its timeout (a query's, or
// kScriptTimeout) is killed. Each handler queues at most kQueueMax events;
// beyond that, new ones are dropped and counted.
//
// Thread safety: member() and app() from any thread (the node's io
// thread); the destructor stops every handler and kills its script.

#ifndef SHOAL_CLI_EVENT_HANDLERS_H_
#define SHOAL_CLI_EVENT_HANDLERS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shoal/node/app.h"
#include "shoal/node/events.h"

namespace shoal::cli {

struct EventHandlerSpec {
  std::vector<std::string> filters;  // empty: every event
  std::string script;
};

// Parses "[FILTER[,FILTER...]=]SCRIPT": "" or what is wrong.
std::string parse_event_handler(const std::string& text, EventHandlerSpec& out);

// One script run's input.
struct ScriptEvent {
  std::string type;  // SHOAL_EVENT
  std::string name;  // a user event's or query's name
  std::map<std::string, std::string> env;
  std::string input;
  uint64_t query_id = 0;  // a query: answer with stdout
  std::chrono::milliseconds timeout{0};
};

struct ScriptOutcome {
  int exit_status = -1;  // -1: did not exit by itself (killed, not started)
  std::string out;       // stdout, at most the bound given
  bool timed_out = false;
  std::string error;  // why it did not start
};

// Runs `/bin/sh -c script` with `env` added to this process's environment
// and `input` on stdin, for at most `timeout`; keeps at most `out_max`
// bytes of stdout. `running` holds the child's pid while it runs (0 else),
// so that another thread may kill it.
ScriptOutcome run_script(const std::string& script, const std::map<std::string, std::string>& env,
                         const std::string& input, std::chrono::milliseconds timeout,
                         size_t out_max, std::atomic<int>& running);

class EventHandlers {
 public:
  static constexpr size_t kQueueMax = 64;
  static constexpr size_t kAnswerMax = 1024;
  static constexpr std::chrono::milliseconds kScriptTimeout{10000};
  // `answer(query_id, stdout)` gives a query's answer back (Node::answer_query).
  using Answer = std::function<void(uint64_t id, std::string payload)>;
  using Log = std::function<void(const std::string& line)>;

  EventHandlers(std::vector<EventHandlerSpec> specs, std::string self_name,
                std::string self_address, Answer answer, Log log);
  ~EventHandlers();
  EventHandlers(const EventHandlers&) = delete;
  EventHandlers& operator=(const EventHandlers&) = delete;

  void member(const node::MemberEvent& e);
  void app(const node::AppMessage& m);
  uint64_t dropped() const { return dropped_; }
  uint64_t runs() const { return runs_; }

  // The event type of a member change ("" for one no handler sees:
  // suspect, tombstone).
  static std::string member_type(const node::MemberEvent& e);
  // Whether `filters` let an event of `type` named `name` through.
  static bool matches(const std::vector<std::string>& filters, const std::string& type,
                      const std::string& name);

 private:
  struct Worker {
    EventHandlerSpec spec;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<ScriptEvent> queue;  // guarded by mu
    bool stop = false;              // guarded by mu
    std::atomic<int> running{0};
    std::thread thread;
  };
  void offer(ScriptEvent e);
  void work(Worker& w);

  const std::string self_name_;
  const std::string self_address_;
  Answer answer_;
  Log log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> runs_{0};
};

}  // namespace shoal::cli

#endif  // SHOAL_CLI_EVENT_HANDLERS_H_
