// Copyright shoal authors. The snapshot file (snapshot.h has its text):
// reading it with its mode checked (a file others may write could plant
// seeds), and SnapshotWriter, which writes it atomically (a temporary file
// in the same directory, fsync, rename), at most once a second, only when
// the set of alive members changed. shoald only.

#ifndef SHOAL_CLI_SNAPSHOT_FILE_H_
#define SHOAL_CLI_SNAPSHOT_FILE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shoal/cli/snapshot.h"

namespace shoal::cli {

// "" if the file at `path` may be read as a snapshot (or does not exist),
// else why not: others may write it, or it is not a regular file.
std::string snapshot_file_refusal(const std::string& path);
// The snapshot at `path`: its members, or none and `warning` says why
// (missing: no warning; garbage or truncated: a warning, the file is
// rewritten later).
std::vector<SnapshotMember> read_snapshot(const std::string& path, std::string* warning);

// Keeps the current set of alive members and writes it to `path` at most
// once a second when it changed. Thread safety: update()/remove() from any
// thread (the node's member listener); the writing is its own thread's.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(std::string path,
                          std::chrono::milliseconds every = std::chrono::seconds(1));
  ~SnapshotWriter();  // writes a last time if the set changed
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  void alive(const std::string& name, const std::string& address);
  void gone(const std::string& name);
  // Writes done, and the last error ("" if none).
  uint64_t writes() const;
  std::string last_error() const;

 private:
  void run();
  std::string write_now(const std::string& text);

  const std::string path_;
  const std::chrono::milliseconds every_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> members_;  // name -> address; guarded by mu_
  bool dirty_ = false;                          // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  uint64_t writes_ = 0;                         // guarded by mu_
  std::string error_;                           // guarded by mu_
  std::thread thread_;                          // last: starts once the rest is ready
};

}  // namespace shoal::cli

#endif  // SHOAL_CLI_SNAPSHOT_FILE_H_
