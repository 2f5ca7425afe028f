// Corpus replay for a libFuzzer target, with any compiler and no libFuzzer:
// runs every file of a corpus directory through LLVMFuzzerTestOneInput,
// then deterministic pseudo-random mutations of those files, so the fuzz
// target's checks run in every ctest (label "fuzz"), not only in fuzzing
// sessions.
//
//   shoal_<target>_fuzz_replay CORPUS_DIR [MUTATIONS [SEED]]
//
// One main for every target (tests/fuzz/CMakeLists.txt links it with each).
// A failing input traps (the target's checks) or trips a sanitizer; the
// runner then names it (corpus file, or mutation number and seed) and saves
// it as replay-crash.bin in the working directory, ready for
// `shoal_<target>_fuzzer replay-crash.bin` or a debugger. Exits 2 on a usage
// or I/O problem (an empty corpus is one: the test would prove nothing).

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Present only when a sanitizer runtime is linked in (weak: null otherwise).
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

namespace {

constexpr uint64_t kDefaultMutations = 20000;
constexpr uint64_t kDefaultSeed = 0x5ea1c0dec;
// Mutants stay small: the target's limits are far below, and big inputs
// only slow the run down.
constexpr size_t kMutantMax = 16 * 1024;

constexpr char kCrashFile[] = "replay-crash.bin";

// What is running, for the crash report: set before each input.
char g_label[512] = "";
const std::string* g_input = nullptr;

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n <= 0) return;
    s.remove_prefix(static_cast<size_t>(n));
  }
}

// Async-signal-safe: write(2), open(2) and close(2) only.
void report_crash() {
  write_all(STDERR_FILENO, "replay: FAILED on ");
  write_all(STDERR_FILENO, g_label);
  if (g_input != nullptr) {
    const int fd = ::open(kCrashFile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      write_all(fd, *g_input);
      ::close(fd);
      write_all(STDERR_FILENO, "; input saved to ");
      write_all(STDERR_FILENO, kCrashFile);
    }
  }
  write_all(STDERR_FILENO, "\n");
}

void on_fatal_signal(int sig) {
  report_crash();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_crash_report() {
  if (__sanitizer_set_death_callback != nullptr) {
    // Sanitizers print their report, then call this; they also own SIGSEGV.
    __sanitizer_set_death_callback(report_crash);
  } else {
    std::signal(SIGSEGV, on_fatal_signal);
    std::signal(SIGBUS, on_fatal_signal);
    std::signal(SIGFPE, on_fatal_signal);
  }
  std::signal(SIGILL, on_fatal_signal);  // __builtin_trap: the target's checks
  std::signal(SIGTRAP, on_fatal_signal);
  std::signal(SIGABRT, on_fatal_signal);
}

void run(const std::string& input) {
  g_input = &input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  g_input = nullptr;
}

// Raw mt19937_64 output is specified by the standard; distributions are not.
uint64_t below(std::mt19937_64& rng, uint64_t n) { return n == 0 ? 0 : rng() % n; }

// One mutation of the kinds that break protobuf decoders: bit flips, bytes
// that are varint or tag edges, cuts, insertions, duplicated slices, splices
// with another input, and overlong varints; and of the kinds that break
// text parsers (JSON, addresses, HTTP heads): a token inserted or replacing
// a byte.
void mutate(std::string& s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  static constexpr unsigned char kInteresting[] = {0x00, 0x01, 0x02, 0x08, 0x0a, 0x10, 0x12,
                                                   0x1a, 0x52, 0x7f, 0x80, 0x81, 0xff};
  static constexpr std::string_view kTokens[] = {"\"",
                                                 "{",
                                                 "}",
                                                 "[",
                                                 "]",
                                                 ":",
                                                 ",",
                                                 "\\",
                                                 "\\u0000",
                                                 "\\ud800",
                                                 "\n",
                                                 "\r\n\r\n",
                                                 "::",
                                                 ".",
                                                 "0",
                                                 "-1",
                                                 "1e309",
                                                 "-0.5",
                                                 "18446744073709551616",
                                                 "null",
                                                 "true",
                                                 "{}",
                                                 "[]",
                                                 "\x1b[2J",
                                                 "\xc3\xa9",
                                                 "\xff\xfe"};
  const size_t pos = below(rng, s.size() + 1);
  switch (below(rng, 9)) {
    case 0:
      if (!s.empty()) s[pos % s.size()] ^= static_cast<char>(1u << below(rng, 8));
      break;
    case 1:
      if (!s.empty()) {
        s[pos % s.size()] = static_cast<char>(kInteresting[below(rng, std::size(kInteresting))]);
      }
      break;
    case 2:
      s.erase(pos, below(rng, 16) + 1);
      break;
    case 3:
      for (uint64_t n = below(rng, 8) + 1; n > 0; --n) {
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<char>(rng()));
      }
      break;
    case 4:
      s.resize(pos);
      break;
    case 5: {
      const size_t from = below(rng, s.size() + 1);
      const std::string slice = s.substr(from, below(rng, 64) + 1);
      s.insert(pos, slice);
      break;
    }
    case 6: {
      const std::string& other = corpus[below(rng, corpus.size())];
      s = s.substr(0, pos) + other.substr(below(rng, other.size() + 1));
      break;
    }
    case 7:
      s.insert(pos, std::string(below(rng, 10) + 1, '\xff') + '\x01');
      break;
    default: {
      const std::string_view token = kTokens[below(rng, std::size(kTokens))];
      if (!s.empty() && below(rng, 2) == 0) s.erase(pos % s.size(), 1);
      s.insert(std::min(pos, s.size()), token);
      break;
    }
  }
  if (s.size() > kMutantMax) s.resize(kMutantMax);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS [SEED]]\n", argv[0]);
    return 2;
  }
  const uint64_t mutations = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : kDefaultMutations;
  const uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : kDefaultSeed;
  install_crash_report();

  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1], ec)) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  if (ec || paths.empty()) {
    std::fprintf(stderr, "replay: no corpus files in %s\n", argv[1]);
    return 2;
  }
  std::sort(paths.begin(), paths.end());  // directory order is not stable

  std::vector<std::string> corpus;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 2;
    }
    std::snprintf(g_label, sizeof g_label, "corpus file %s", path.c_str());
    run(bytes);
    corpus.push_back(std::move(bytes));
  }

  std::fprintf(stderr, "replay: %llu mutations, seed %llu\n",
               static_cast<unsigned long long>(mutations), static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < mutations; ++i) {
    std::string input = corpus[below(rng, corpus.size())];
    for (uint64_t n = below(rng, 4) + 1; n > 0; --n) mutate(input, corpus, rng);
    std::snprintf(g_label, sizeof g_label, "mutation %llu of seed %llu",
                  static_cast<unsigned long long>(i), static_cast<unsigned long long>(seed));
    run(input);
  }
  std::fprintf(stderr, "replay: %zu files and %llu mutations passed\n", corpus.size(),
               static_cast<unsigned long long>(mutations));
  return 0;
}
