// Helpers shared by Portico's benchmarks: failure handling, formatting of figures, facts about
// the machine, and cleanup of the directories a run creates.
#pragma once

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <portico/log/log.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::bench {

namespace fs = std::filesystem;
namespace plog = portico::log;
using Clock = std::chrono::steady_clock;

// The program name that failure messages start with; each benchmark's main() sets it.
inline const char* g_program = "portico-bench";

// Thrown after the problem was printed; main() exits with `status` once the logs are closed and
// the directories removed.
struct Failure {
  int status;
};

[[noreturn]] inline void fail(int status, std::string_view message) {
  fmt::print(stderr, "{}: {}\n", g_program, message);
  throw Failure{status};
}

[[noreturn]] inline void die(std::string_view what, const plog::LogError& e) {
  fail(1, fmt::format("{}: {}: {}", what, plog::to_string(e.code), e.message));
}

[[noreturn]] inline void die(std::string_view what, const portico::Error& e) {
  fail(1, fmt::format("{}: {}: {}", what, e.code, e.message));
}

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// 1234567.8 -> "1,234,568"
inline std::string grouped(double value) {
  const auto n = static_cast<long long>(value + 0.5);
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

inline std::string grouped(std::uint64_t value) { return grouped(static_cast<double>(value)); }

inline double rate(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

// The q-quantile (0..1) of `values`, which it reorders.
inline double quantile(std::vector<std::uint32_t>& values, double q) {
  if (values.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

inline std::string kernel() {
  utsname u{};
  return ::uname(&u) == 0 ? fmt::format("{} {}", u.sysname, u.release) : "unknown kernel";
}

// The file system under `dir`, by statfs magic; fsync is free on tmpfs, which would make the
// durable figures meaningless, so the report says so.
inline std::string filesystem_of(const fs::path& dir) {
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) != 0) return "unknown file system";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs (fsync is free: durable figures are not meaningful)";
    case 0x794C7630:
      return "overlayfs";
    default:
      return fmt::format("file system 0x{:x}", static_cast<unsigned long>(s.f_type));
  }
}

// User + system CPU time of the whole process so far.
inline double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

inline std::string command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i) out += ' ';
    out += arg.find_first_of(" \t'\"") == std::string_view::npos ? std::string(arg)
                                                                 : fmt::format("'{}'", arg);
  }
  return out;
}

// Removes, unless told to keep them, the directories the bench created.
class Cleanup {
 public:
  explicit Cleanup(bool keep) : keep_(keep) {}
  ~Cleanup() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      std::error_code ec;
      if (keep_) {
        fmt::print(stderr, "kept {}\n", it->string());
      } else {
        fs::remove_all(*it, ec);
      }
    }
  }
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;

  // A fresh directory `name` under `parent`; refuses one that already exists, so that old logs
  // never mix into the figures.
  fs::path make(const fs::path& parent, const std::string& name) {
    const fs::path dir = parent / name;
    std::error_code ec;
    if (fs::exists(dir, ec)) {
      fail(2, fmt::format("{} already exists; use an empty --dir", dir.string()));
    }
    made_.push_back(dir);  // the log creates it on open
    return dir;
  }
  void adopt(const fs::path& dir) { made_.push_back(dir); }

  // Where a benchmark's logs go: `dir` (created, and removed afterwards, when missing) or a fresh
  // temporary directory named after `name`.
  fs::path root(const std::optional<fs::path>& dir, std::string_view name) {
    if (dir) {
      std::error_code ec;
      if (!fs::exists(*dir, ec)) {
        fs::create_directories(*dir, ec);
        if (ec) fail(2, fmt::format("cannot create {}: {}", dir->string(), ec.message()));
        adopt(*dir);
      }
      return *dir;
    }
    std::string tmpl = (fs::temp_directory_path() / fmt::format("{}-XXXXXX", name)).string();
    if (!::mkdtemp(tmpl.data())) fail(2, fmt::format("mkdtemp {}: {}", tmpl, std::strerror(errno)));
    adopt(tmpl);
    return tmpl;
  }

 private:
  bool keep_;
  std::vector<fs::path> made_;
};

// Reads "--flag [value]" arguments; any problem prints the usage and fails with status 2.
class ArgReader {
 public:
  ArgReader(int argc, char** argv, std::string_view usage)
      : argc_(argc), argv_(argv), usage_(usage) {}

  // Moves to the next flag; false when there is none.
  bool next() { return ++i_ < argc_; }
  std::string_view flag() const { return argv_[i_]; }
  std::string_view value() {
    if (i_ + 1 >= argc_) usage(fmt::format("{} needs a value", flag()));
    return argv_[++i_];
  }
  // The flag's value as a positive number ("5", "0.5", "1e6"); an integer one is at least 1.
  double number(bool integer, double max = 1e12) {
    const std::string_view name = flag();
    const std::string text(value());
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v > 0) || (integer && v < 1) || v > max) {
      usage(fmt::format("{} needs a positive number, not '{}'", name, text));
    }
    return v;
  }
  [[noreturn]] void usage(std::string_view problem) const {
    fmt::print(stderr, "{}: {}\n{}", g_program, problem, usage_);
    throw Failure{2};
  }
  void print_usage() const { fmt::print("{}", usage_); }

 private:
  int argc_;
  char** argv_;
  std::string_view usage_;
  int i_ = 0;
};

}  // namespace portico::bench
