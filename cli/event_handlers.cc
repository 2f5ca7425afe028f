// Copyright shoal authors. See event_handlers.h.

#include "shoal/cli/event_handlers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

extern char** environ;

namespace shoal::cli {

namespace {

const char* const kTypes[] = {"member-join", "member-leave", "member-failed", "member-update",
                              "member-reap", "user",         "query",         "*"};

bool known_filter(const std::string& f) {
  if (f.rfind("user:", 0) == 0 || f.rfind("query:", 0) == 0) return f.find(':') + 1 < f.size();
  return std::find(std::begin(kTypes), std::end(kTypes), f) != std::end(kTypes);
}

std::string labels_text(const membership::Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

// The child's environment: ours, then the event's.
std::vector<std::string> environment(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (env.count(entry.substr(0, entry.find('='))) == 0) out.push_back(entry);
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// Reads the child's stdout until EOF or `deadline`; true if EOF came first.
bool read_until(int fd, std::chrono::steady_clock::time_point deadline, size_t out_max,
                std::string& out) {
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return true;
    }
    const size_t room = out_max - std::min(out_max, out.size());
    out.append(buf, std::min(room, static_cast<size_t>(n)));  // the rest is read and dropped
  }
}

}  // namespace

std::string parse_event_handler(const std::string& text, EventHandlerSpec& out) {
  out = EventHandlerSpec{};
  const size_t eq = text.find('=');
  std::string filters;
  // What comes before the first '=' is a filter list if it is made of
  // filter characters only (then every filter must be known); else the
  // whole text is the script ('=' in a script: "*=VAR=x script").
  if (eq != std::string::npos &&
      std::all_of(text.begin(), text.begin() + static_cast<ptrdiff_t>(eq), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(":,*._-", c) != nullptr;
      })) {
    filters = text.substr(0, eq);
  }
  out.script = filters.empty() ? text : text.substr(eq + 1);
  if (out.script.empty()) return "--event-handler: no script in '" + text + "'";
  size_t at = 0;
  while (!filters.empty() && at <= filters.size()) {
    const size_t comma = std::min(filters.find(',', at), filters.size());
    const std::string f = filters.substr(at, comma - at);
    if (!known_filter(f)) {
      return "--event-handler: unknown filter '" + f +
             "' (member-join, member-leave, member-failed, member-update, member-reap, user, "
             "user:NAME, query, query:NAME, *)";
    }
    out.filters.push_back(f);
    at = comma + 1;
  }
  return "";
}

ScriptOutcome run_script(const std::string& script, const std::map<std::string, std::string>& env,
                         const std::string& input, std::chrono::milliseconds timeout,
                         size_t out_max, std::atomic<int>& running) {
  ScriptOutcome r;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return r.error = std::strerror(errno), r;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return r.error = std::strerror(errno), r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // shoald blocks its signals for sigwaitinfo: the script gets none blocked.
  // And SIGPIPE, which shoald ignores, back to its default.
  sigset_t none, pipe_default;
  sigemptyset(&none);
  sigemptyset(&pipe_default);
  sigaddset(&pipe_default, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe_default);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<std::string> envs = environment(env);
  std::vector<char*> envp;
  for (std::string& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string sh = "sh", dash_c = "-c", body = script;
  char* argv[] = {sh.data(), dash_c.data(), body.data(), nullptr};
  pid_t pid = 0;
  const int err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (err != 0) {
    ::close(in[1]), ::close(out[0]);
    return r.error = std::strerror(err), r;
  }
  running = pid;
  // Small (a payload, a member line): the pipe takes it whole. A script
  // that exits without reading: EPIPE here (SIGPIPE is ignored), fine.
  (void)!::write(in[1], input.data(), input.size());
  ::close(in[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool eof = read_until(out[0], deadline, out_max, r.out);
  ::close(out[0]);
  if (!eof) {
    r.timed_out = true;
    ::kill(-pid, SIGKILL);  // its process group: the script and what it started
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  running = 0;
  if (!r.timed_out && WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  return r;
}

EventHandlers::EventHandlers(std::vector<EventHandlerSpec> specs, std::string self_name,
                             std::string self_address, Answer answer, Log log)
    : self_name_(std::move(self_name)),
      self_address_(std::move(self_address)),
      answer_(std::move(answer)),
      log_(std::move(log)) {
  for (auto& spec : specs) {
    auto w = std::make_unique<Worker>();
    w->spec = std::move(spec);
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->thread = std::thread([this, p = w.get()] { work(*p); });
}

EventHandlers::~EventHandlers() {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      w->stop = true;
      w->queue.clear();
    }
    w->cv.notify_one();
    if (const int pid = w->running.load(); pid > 0) ::kill(-pid, SIGKILL);
  }
  for (auto& w : workers_) w->thread.join();
}

std::string EventHandlers::member_type(const node::MemberEvent& e) {
  using membership::Status;
  if (e.forgotten) return "member-reap";
  switch (e.status) {
    case Status::kAlive:
      return !e.old_status || *e.old_status != Status::kAlive ? "member-join" : "member-update";
    case Status::kLeave:
      return "member-leave";
    case Status::kFaulty:
      return "member-failed";
    default:
      return "";
  }
}

bool EventHandlers::matches(const std::vector<std::string>& filters, const std::string& type,
                            const std::string& name) {
  if (filters.empty()) return true;
  for (const std::string& f : filters) {
    if (f == "*" || f == type) return true;
    if (f.size() > type.size() + 1 && f.compare(0, type.size() + 1, type + ":") == 0 &&
        f.compare(type.size() + 1, std::string::npos, name) == 0) {
      return true;
    }
  }
  return false;
}

void EventHandlers::member(const node::MemberEvent& e) {
  ScriptEvent s;
  s.type = member_type(e);
  if (s.type.empty() || e.name == self_name_) return;
  s.input = e.name + "\t" + (e.address.empty() ? e.name : e.address) + "\t" +
            std::string(membership::to_string(e.status)) + "\t" + labels_text(e.labels) + "\n";
  s.timeout = kScriptTimeout;
  offer(std::move(s));
}

void EventHandlers::app(const node::AppMessage& m) {
  if (m.kind == node::AppKind::kBroadcast) return;
  ScriptEvent s;
  const bool query = m.kind == node::AppKind::kQuery;
  s.type = query ? "query" : "user";
  s.name = m.name;
  s.input = m.payload;
  s.env[query ? "SHOAL_QUERY_NAME" : "SHOAL_USER_EVENT"] = m.name;
  s.env[query ? "SHOAL_QUERY_LTIME" : "SHOAL_USER_LTIME"] = std::to_string(m.seq);
  s.env["SHOAL_ORIGIN"] = m.origin;
  s.timeout = kScriptTimeout;
  if (query) {
    s.query_id = m.id;
    s.timeout = std::min(kScriptTimeout, std::chrono::milliseconds(m.timeout_ms));
  }
  offer(std::move(s));
}

void EventHandlers::offer(ScriptEvent e) {
  e.env["SHOAL_EVENT"] = e.type;
  e.env["SHOAL_SELF_NAME"] = self_name_;
  e.env["SHOAL_SELF_ADDRESS"] = self_address_;
  for (auto& w : workers_) {
    if (!matches(w->spec.filters, e.type, e.name)) continue;
    {
      std::lock_guard lock(w->mu);
      if (w->stop) continue;
      if (w->queue.size() >= kQueueMax) {
        ++dropped_;
        continue;
      }
      w->queue.push_back(e);
    }
    w->cv.notify_one();
  }
}

void EventHandlers::work(Worker& w) {
  for (;;) {
    ScriptEvent e;
    {
      std::unique_lock lock(w.mu);
      w.cv.wait(lock, [&] { return w.stop || !w.queue.empty(); });
      if (w.stop) return;
      e = std::move(w.queue.front());
      w.queue.pop_front();
    }
    ++runs_;
    ScriptOutcome r = run_script(w.spec.script, e.env, e.input, e.timeout, kAnswerMax, w.running);
    if (!r.error.empty()) {
      log_("event handler '" + w.spec.script + "' did not start: " + r.error);
    } else if (r.timed_out) {
      log_("event handler '" + w.spec.script + "' for " + e.type + " killed after " +
           std::to_string(e.timeout.count()) + " ms");
    } else if (r.exit_status != 0) {
      log_("event handler '" + w.spec.script + "' for " + e.type + " exited " +
           std::to_string(r.exit_status));
    }
    if (e.query_id != 0 && !r.timed_out && r.error.empty() && answer_) {
      answer_(e.query_id, std::move(r.out));
    }
  }
}

}  // namespace shoal::cli
