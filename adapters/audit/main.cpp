// portico-audit — check, print and copy a Portico log.
//
//   portico-audit verify DIR                       every hash, the chain, dense positions and
//                                                  stream versions; exit 1 naming the first bad
//                                                  position
//   portico-audit dump DIR [--stream S] [--from N] JSON lines (N: a position, or with --stream a
//                                                  version)
//   portico-audit backup DIR DEST                  a compacted hot copy
//   portico-audit history DIR --project P --ticket N [--at TIME]
//                                                  who did what to a ticket, and when; and its
//                                                  state then (TIME: RFC 3339)
//
// Exit status: 0 success, 1 verification failed, 2 usage or I/O error.
#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>
#include <portico/log/log.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "history.hpp"
#include "progress.hpp"

namespace {

namespace plog = portico::log;

constexpr std::string_view kUsage =
    "usage: portico-audit verify DIR\n"
    "       portico-audit dump DIR [--stream S] [--from N]\n"
    "       portico-audit backup DIR DEST\n"
    "       portico-audit history DIR --project P --ticket N [--at TIME]\n";

int usage(std::string_view problem = {}) {
  if (!problem.empty()) fmt::print(stderr, "portico-audit: {}\n", problem);
  fmt::print(stderr, "{}", kUsage);
  return 2;
}

int report(const plog::LogError& e) {
  fmt::print(stderr, "portico-audit: {}: {}\n", plog::to_string(e.code), e.message);
  return 2;
}

plog::LogResult<std::unique_ptr<plog::Log>> open_log(const std::string& dir) {
  plog::Options options;
  options.read_only = true;
  options.create = false;
  return plog::Log::open(dir, std::move(options));
}

int verify(const std::string& dir) {
  auto log = open_log(dir);
  if (!log) return report(log.error());
  portico::cli::ProgressBar bar("verify");
  auto result =
      (*log)->verify([&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!result) return report(result.error());
  if (!result->ok) {
    fmt::print("FAILED at position {}: {}\n", result->first_bad_position, result->problem);
    return 1;
  }
  fmt::print("ok: {} events in {} streams; every hash and link of the chain verified\n",
             result->events, result->streams);
  return 0;
}

int dump(const std::string& dir, const std::string& stream, std::uint64_t from) {
  auto log = open_log(dir);
  if (!log) return report(log.error());
  constexpr std::size_t kChunk = 1024;
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  for (;;) {
    auto records = stream.empty()
                       ? (*log)->read_all(next, kChunk)
                       : (*log)->read_stream(stream, next, plog::Direction::forward, kChunk);
    if (!records) return report(records.error());
    for (const plog::Record& r : *records) {
      std::string line = boost::json::serialize(plog::to_json(r));
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    if (records->size() < kChunk) break;
    next = (stream.empty() ? records->back().position : records->back().stream_version) + 1;
  }
  return std::fflush(stdout) == 0 ? 0 : 2;
}

int backup(const std::string& dir, const std::string& dest) {
  auto log = open_log(dir);
  if (!log) return report(log.error());
  portico::cli::ProgressBar bar("backup");
  auto done = (*log)->backup(dest, [&](std::uint64_t d, std::uint64_t t) { bar.update(d, t); });
  bar.finish();
  if (!done) return report(done.error());
  fmt::print("backed up {} to {}\n", dir, dest);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") return usage();
  const std::string& command = args[0];
  if (command == "verify") {
    if (args.size() != 2) return usage("verify takes one directory");
    return verify(args[1]);
  }
  if (command == "backup") {
    if (args.size() != 3) return usage("backup takes a directory and a destination");
    return backup(args[1], args[2]);
  }
  if (command == "history") {
    if (args.size() < 2) return usage("history takes a directory");
    std::string project;
    std::optional<std::uint64_t> number;
    std::optional<std::int64_t> at;
    for (std::size_t i = 2; i < args.size(); ++i) {
      const bool has_value = i + 1 < args.size();
      if (args[i] == "--project" && has_value) {
        project = args[++i];
      } else if (args[i] == "--ticket" && has_value) {
        const std::string& n = args[++i];
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        if (ec != std::errc{} || end != n.data() + n.size() || v == 0) {
          return usage(fmt::format("--ticket needs a ticket number, not '{}'", n));
        }
        number = v;
      } else if (args[i] == "--at" && has_value) {
        at = portico::audit::parse_time(args[++i]);
        if (!at) return usage(fmt::format("--at needs an RFC 3339 time, not '{}'", args[i]));
      } else {
        return usage(fmt::format("unknown argument '{}'", args[i]));
      }
    }
    if (project.empty() || !number) return usage("history needs --project and --ticket");
    auto log = open_log(args[1]);
    if (!log) return report(log.error());
    return portico::audit::print_history(**log, project, *number, at);
  }
  if (command == "dump") {
    if (args.size() < 2) return usage("dump takes a directory");
    std::string stream;
    std::uint64_t from = 1;
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "--stream" && i + 1 < args.size()) {
        stream = args[++i];
      } else if (args[i] == "--from" && i + 1 < args.size()) {
        const std::string& n = args[++i];
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), from);
        if (ec != std::errc{} || end != n.data() + n.size()) {
          return usage(fmt::format("--from needs a number, not '{}'", n));
        }
      } else {
        return usage(fmt::format("unknown argument '{}'", args[i]));
      }
    }
    return dump(args[1], stream, from);
  }
  return usage(fmt::format("unknown command '{}'", command));
}
