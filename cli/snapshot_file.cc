// Copyright shoal authors. See snapshot_file.h.

#include "shoal/cli/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shoal::cli {

std::string snapshot_file_refusal(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";  // none yet: it will be written
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    return path + " may be written by others (mode 0" + mode.str() +
           "): anyone could plant seeds in it; chmod go-w it";
  }
  return "";
}

std::vector<SnapshotMember> read_snapshot(const std::string& path, std::string* warning) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string text(kSnapshotBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  std::string why;
  auto members = parse_snapshot(text, &why);
  if (!members) {
    if (warning != nullptr) *warning = "snapshot " + path + " " + why + ": not used";
    return {};
  }
  return std::move(*members);
}

SnapshotWriter::SnapshotWriter(std::string path, std::chrono::milliseconds every)
    : path_(std::move(path)), every_(every), thread_([this] { run(); }) {}

SnapshotWriter::~SnapshotWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SnapshotWriter::alive(const std::string& name, const std::string& address) {
  std::lock_guard lock(mu_);
  auto [it, added] = members_.try_emplace(name, address);
  if (!added && it->second == address) return;
  it->second = address;
  dirty_ = true;
}

void SnapshotWriter::gone(const std::string& name) {
  std::lock_guard lock(mu_);
  if (members_.erase(name) != 0) dirty_ = true;
}

uint64_t SnapshotWriter::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

std::string SnapshotWriter::last_error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void SnapshotWriter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, every_, [this] { return stopping_; });
    if (dirty_) {
      std::vector<SnapshotMember> list;
      for (const auto& [name, address] : members_) list.push_back({name, address});
      dirty_ = false;
      lock.unlock();
      std::string error = write_now(encode_snapshot(list));
      lock.lock();
      if (error.empty()) {
        ++writes_;
      } else {
        dirty_ = true;  // tried again next time
      }
      error_ = std::move(error);
    }
    if (stopping_) return;
  }
}

// A temporary file beside the snapshot, fsynced, renamed over it: a reader
// (the next start) sees the old snapshot or the new one, never half.
std::string SnapshotWriter::write_now(const std::string& text) {
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot write " + tmp + ": " + std::strerror(errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return "cannot write " + tmp + ": " + why;
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    return "cannot replace " + path_ + ": " + std::strerror(errno);
  }
  return "";
}

}  // namespace shoal::cli
