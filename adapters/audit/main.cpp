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
//   portico-audit rebuild DIR [--projection NAME]... [--force]
//                                                  rebuild read models from the log (all inline
//                                                  ones by default) and swap them in
//   portico-audit check DIR                        compare each inline read model with a fresh
//                                                  rebuild; exit 1 when any differs
//
// Exit status: 0 success, 1 verification failed (for rebuild and check: also any error), 2 usage
// or I/O error.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>
#include <memory>
#include <portico/log/log.hpp>
#include <portico/projections/register.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "history.hpp"
#include "progress.hpp"

namespace {

namespace plog = portico::log;
namespace pproj = portico::projections;

constexpr std::string_view kUsage =
    "usage: portico-audit verify DIR\n"
    "       portico-audit dump DIR [--stream S] [--from N]\n"
    "       portico-audit backup DIR DEST\n"
    "       portico-audit history DIR --project P --ticket N [--at TIME]\n"
    "       portico-audit rebuild DIR [--projection NAME]... [--force]   (NAME: views, outbox;\n"
    "                                 resetting the outbox, a work queue, needs --force)\n"
    "       portico-audit check DIR\n";

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

// ---- rebuild and check: the read models (projections) kept in the log's environment ----

// Portico's read models (portico::projections), registered as the server registers them
// (projections::register_all).
struct Registered {
  std::shared_ptr<plog::Projection> projection;
  bool is_inline;
};
std::vector<Registered> registered_projections() {
  plog::Options options;
  pproj::register_all(options);
  std::vector<Registered> out;
  for (auto& p : options.projections) out.push_back({std::move(p), true});
  for (auto& p : options.async_projections) out.push_back({std::move(p), false});
  return out;
}

// Errors of rebuild and check exit 1, like a failed check.
int failed(const plog::LogError& e) {
  report(e);
  return 1;
}

// Progress of a rebuild done by Log::open itself (a projection whose version changed, or one not
// built yet): one bar per projection, labelled with its name.
class OpenRebuildBars {
 public:
  void update(std::string_view projection, std::uint64_t done, std::uint64_t total) {
    if (!bar_ || projection != name_) {
      if (bar_) bar_->finish();
      name_ = std::string(projection);
      bar_ = std::make_unique<portico::cli::ProgressBar>(name_);
    }
    bar_->update(done, total);
  }
  void finish() {
    if (bar_) bar_->finish();
  }

 private:
  std::string name_;
  std::unique_ptr<portico::cli::ProgressBar> bar_;
};

// Opens the existing log in `dir` (never creates one) with every projection registered. `bars`
// must outlive the log.
plog::LogResult<std::unique_ptr<plog::Log>> open_with_projections(const std::string& dir,
                                                                  bool read_only,
                                                                  OpenRebuildBars& bars) {
  plog::Options options;
  options.read_only = read_only;
  options.create = false;
  for (Registered& r : registered_projections()) {
    (r.is_inline ? options.projections : options.async_projections)
        .push_back(std::move(r.projection));
  }
  options.rebuild_progress = [&bars](std::string_view name, std::uint64_t done,
                                     std::uint64_t total) { bars.update(name, done, total); };
  auto log = plog::Log::open(dir, std::move(options));
  bars.finish();
  return log;
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// `names` are registered projection names, without duplicates; empty: every inline projection.
int rebuild(const std::string& dir, const std::vector<std::string>& names) {
  OpenRebuildBars open_bars;
  auto log = open_with_projections(dir, /*read_only=*/false, open_bars);
  if (!log) return failed(log.error());

  std::vector<std::string> chosen = names;
  if (chosen.empty()) {
    for (const Registered& r : registered_projections()) {
      if (r.is_inline) chosen.push_back(r.projection->name());
    }
  }
  std::vector<plog::ProjectionInfo> before;
  for (const std::string& name : chosen) {
    auto info = (*log)->projection_info(name);
    if (!info) return failed(info.error());
    before.push_back(std::move(*info));
  }

  std::string label = "rebuild";
  for (const std::string& name : chosen) label += " " + name;
  portico::cli::ProgressBar bar(label);
  auto done = (*log)->rebuild_projections(
      names, [&](std::uint64_t d, std::uint64_t t) { bar.update(d, t); });
  bar.finish();
  if (!done) return failed(done.error());

  for (std::size_t i = 0; i < chosen.size(); ++i) {
    auto info = (*log)->projection_info(chosen[i]);
    if (!info) return failed(info.error());
    if (info->is_inline) {
      fmt::print("{}: rebuilt, inline, version {}, position {}, slot {} (was {})\n", info->name,
                 info->version, info->position, info->slot, before[i].slot);
    } else {
      fmt::print(
          "{}: reset, async, version {}: its feed replays the log from the start (it was at "
          "position {}) and acts only on events after position {}\n",
          info->name, info->version, before[i].position, info->acted_until);
    }
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int check(const std::string& dir) {
  OpenRebuildBars open_bars;  // a read-only open rebuilds nothing
  auto log = open_with_projections(dir, /*read_only=*/true, open_bars);
  if (!log) return failed(log.error());

  portico::cli::ProgressBar bar("check");
  auto checks =
      (*log)->check_projections([&](std::uint64_t d, std::uint64_t t) { bar.update(d, t); });
  bar.finish();
  if (!checks) return failed(checks.error());

  std::uint64_t differences = 0, not_built = 0;
  for (const Registered& r : registered_projections()) {
    const std::string name = r.projection->name();
    auto info = (*log)->projection_info(name);
    if (!info) return failed(info.error());
    if (!r.is_inline) {
      fmt::print("{}: async, position {}: not compared (its rows change as deliveries go out)\n",
                 name, info->position);
      continue;
    }
    auto found = std::find_if(checks->begin(), checks->end(),
                              [&](const plog::ProjectionCheck& c) { return c.name == name; });
    if (found == checks->end()) {
      ++not_built;
      fmt::print("{}: not built in this log\n", name);
      continue;
    }
    const plog::ProjectionCheck& c = *found;
    differences += c.differences;
    fmt::print("{}: position {}, {} compared, {}\n", c.name, c.position,
               plural(c.entries, "entry", "entries"),
               plural(c.differences, "difference", "differences"));
    if (info->version != r.projection->version()) {
      fmt::print("  stored by version {} of its code; this build writes version {}\n",
                 info->version, r.projection->version());
    }
    for (const std::string& example : c.examples) fmt::print("  {}\n", example);
    if (c.differences > c.examples.size()) {
      fmt::print("  ... and {} more\n", c.differences - c.examples.size());
    }
  }
  int status = 0;
  if (differences > 0) {
    fmt::print("{}: run portico-audit rebuild {}\n",
               plural(differences, "difference", "differences"), dir);
    status = 1;
  }
  if (not_built > 0) {
    fmt::print("{} not built: run portico-audit rebuild {}\n",
               plural(not_built, "projection", "projections"), dir);
    status = 1;
  }
  if (status == 0) fmt::print("projections match the log\n");
  if (std::fflush(stdout) != 0) return 1;
  return status;
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
  if (command == "rebuild") {
    if (args.size() < 2) return usage("rebuild takes a directory");
    std::vector<std::string> names;
    bool force = false;
    for (std::size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "--projection" && i + 1 < args.size()) {
        const std::string& name = args[++i];
        std::string known;
        bool is_known = false;
        for (const Registered& r : registered_projections()) {
          const std::string n = r.projection->name();
          known += fmt::format("{}{} ({})", known.empty() ? "" : ", ", n,
                               r.is_inline ? "inline" : "async");
          is_known = is_known || n == name;
        }
        if (!is_known) {
          return usage(fmt::format("unknown projection '{}'; known: {}", name, known));
        }
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      } else if (args[i] == "--force") {
        force = true;
      } else {
        return usage(fmt::format("unknown argument '{}'", args[i]));
      }
    }
    for (const Registered& r : registered_projections()) {
      const bool named = std::find(names.begin(), names.end(), r.projection->name()) != names.end();
      if (named && !r.is_inline && !force) {
        return usage(fmt::format(
            "'{}' is a work queue: a reset drops what it holds (deliveries not made yet) and acts "
            "only on events after the log's head; add --force to do that",
            r.projection->name()));
      }
    }
    return rebuild(args[1], names);
  }
  if (command == "check") {
    if (args.size() != 2) return usage("check takes one directory");
    return check(args[1]);
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
