// Helpers shared by Portico's benchmarks: failure handling, formatting of figures, facts about
// the machine, cleanup of the directories a run creates, and the command line (ArgReader).
#pragma once

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <portico/log/log.hpp>
#include <string>
#include <string_view>
#include <type_traits>
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

// A benchmark's command line as a table: each entry names a flag, where its value goes and one
// line of help, and the usage is written from the table.
//
//   ArgReader args;
//   args.option("--dir", "DIR", &a.dir, "where the logs go")
//       .flag("--keep", &a.keep, "keep the logs")
//       .option("--events", "N", &a.events, "events in the log (default 1,000,000)");
//   if (!args.parse(argc, argv)) return 0;  // --help: the usage went to standard output
//
// Numbers: an integer target takes a whole number from 1 to `max` ("5", "1e6"); a floating one
// any positive number up to `max` ("0.5"). A std::optional target stays empty unless given. An
// unknown flag, a missing or bad value, or a required flag left out prints the problem and the
// usage to standard error and fails with status 2 (Failure); so does usage() for a check of the
// caller's own after parse().
class ArgReader {
 public:
  ArgReader() = default;
  ArgReader(const ArgReader&) = delete;  // the entries refer to it
  ArgReader& operator=(const ArgReader&) = delete;

  // Sets `*target` to `value` when the flag is given ("--keep": true, "--no-baseline": false).
  ArgReader& flag(std::string_view name, bool* target, std::string_view help, bool value = true) {
    return add(name, {}, help, [target, value](std::string_view) { *target = value; });
  }
  ArgReader& option(std::string_view name, std::string_view metavar, std::string* target,
                    std::string_view help) {
    return add(name, metavar, help, [target](std::string_view v) { *target = std::string(v); });
  }
  ArgReader& option(std::string_view name, std::string_view metavar,
                    std::optional<fs::path>* target, std::string_view help) {
    return add(name, metavar, help, [target](std::string_view v) { *target = fs::path(v); });
  }
  template <class T>
  requires std::is_arithmetic_v<T> ArgReader& option(std::string_view name,
                                                     std::string_view metavar, T* target,
                                                     std::string_view help, double max = 1e12) {
    return add(name, metavar, help, [this, n = std::string(name), target, max](std::string_view v) {
      *target = static_cast<T>(number(n, v, std::is_integral_v<T>, max));
    });
  }
  template <class T>
  requires std::is_arithmetic_v<T> ArgReader& option(std::string_view name,
                                                     std::string_view metavar,
                                                     std::optional<T>* target,
                                                     std::string_view help, double max = 1e12) {
    return add(name, metavar, help, [this, n = std::string(name), target, max](std::string_view v) {
      *target = static_cast<T>(number(n, v, std::is_integral_v<T>, max));
    });
  }
  // A value read by `set`, which may refuse it with usage().
  ArgReader& option(std::string_view name, std::string_view metavar,
                    std::function<void(std::string_view value)> set, std::string_view help) {
    return add(name, metavar, help, std::move(set));
  }
  // The option added last must be given (the usage shows it without brackets).
  ArgReader& required() {
    entries_.back().required = true;
    return *this;
  }

  // Reads argv[1..]: false after printing the usage for --help or -h (the caller exits 0).
  bool parse(int argc, char** argv) {
    std::vector<bool> given(entries_.size(), false);
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        fmt::print("{}", text());
        return false;
      }
      const auto it = std::find_if(entries_.begin(), entries_.end(),
                                   [&](const Entry& e) { return e.name == arg; });
      if (it == entries_.end()) usage(fmt::format("unknown argument '{}'", arg));
      std::string_view value;
      if (!it->metavar.empty()) {
        if (i + 1 >= argc) usage(fmt::format("{} needs a value", arg));
        value = argv[++i];
      }
      it->set(value);
      given[static_cast<std::size_t>(it - entries_.begin())] = true;
    }
    for (std::size_t k = 0; k < entries_.size(); ++k) {
      if (entries_[k].required && !given[k]) {
        usage(fmt::format("{} is needed", entries_[k].name));
      }
    }
    return true;
  }

  [[noreturn]] void usage(std::string_view problem) const {
    fmt::print(stderr, "{}: {}\n{}", g_program, problem, text());
    throw Failure{2};
  }

  // "usage: PROGRAM [--flag VALUE] ...", wrapped at 100 columns, then a line per entry.
  std::string text() const {
    std::string out = fmt::format("usage: {}", g_program);
    std::size_t column = out.size();
    std::size_t width = 0;
    for (const Entry& e : entries_) {
      std::string word = e.metavar.empty() ? e.name : fmt::format("{} {}", e.name, e.metavar);
      width = std::max(width, word.size());
      if (!e.required) word = "[" + word + "]";
      if (column + 1 + word.size() > 100) {
        out += "\n   ";
        column = 3;
      }
      out += " " + word;
      column += 1 + word.size();
    }
    out += "\n";
    for (const Entry& e : entries_) {
      const std::string word = e.metavar.empty() ? e.name : fmt::format("{} {}", e.name, e.metavar);
      out += fmt::format("  {:<{}}  {}\n", word, width, e.help);
    }
    return out;
  }

 private:
  struct Entry {
    std::string name;
    std::string metavar;  // empty: a flag without a value
    std::string help;
    std::function<void(std::string_view)> set;
    bool required = false;
  };

  ArgReader& add(std::string_view name, std::string_view metavar, std::string_view help,
                 std::function<void(std::string_view)> set) {
    entries_.push_back(
        {std::string(name), std::string(metavar), std::string(help), std::move(set)});
    return *this;
  }

  // A whole number from 1 to `max` (integer) or a positive number up to `max`.
  double number(std::string_view name, std::string_view value, bool integer, double max) const {
    const std::string text(value);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    const bool ok = !text.empty() && *end == '\0' && v > 0 && v <= max &&
                    (!integer || (v >= 1 && v == std::floor(v)));
    if (!ok) {
      usage(integer ? fmt::format("{} needs a whole number from 1 to {}, not '{}'", name,
                                  grouped(max), text)
                    : fmt::format("{} needs a positive number, not '{}'", name, text));
    }
    return v;
  }

  std::vector<Entry> entries_;
};

}  // namespace portico::bench
