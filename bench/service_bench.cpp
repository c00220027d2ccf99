// portico-service-bench — what the command handler (portico::service::Portal) sustains on a durable
// log on this machine.
//
//   portico-service-bench [--dir DIR] [--keep] [--seconds S] [--callers K] [--hot N] [--quick]
//
//   --dir DIR       where the logs go (default: a fresh mkdtemp directory under the system temp
//                   directory). What the bench creates there is removed at the end unless --keep.
//   --seconds S     duration of each command phase (default 5)
//   --callers K     concurrent callers of the command phases (default 64)
//   --hot N         tickets the callers of phase 2b share (default 8)
//   --quick         short phases (about 10 s in all) for a smoke run; explicit flags still win
//
// Every phase runs on a fresh log in its own subdirectory, with one Portal shared by all callers
// (as in a server) over one project that has 8 staff members, and one registered customer per
// caller who signed in on the project (register_customer + join_project) before the clock starts.
//   1. open ticket: K callers each call Portal::open_ticket for S seconds as their own customer.
//      Openers compete for the project's next number: when two try the same one, the log refuses
//      the loser's "no stream" append (counted from Log::stats().conflicts) and the handler tries
//      another.
//   2a. post message, own ticket: each caller opened a ticket of its own before the clock starts
//      and posts replies to it (Portal::execute with PostReply, as its creator) for S seconds.
//      Tickets grow all along (a handler that folds a whole ticket for every command slows down as
//      they do), so the rate of the last quarter of the phase is printed beside the first's.
//   2b. post message, N hot tickets: K staff callers post to N tickets only (PostStaffMessage as
//      staff member k mod 8 to ticket k mod N): writers of one ticket conflict, and the handler
//      retries on a fresh load.
//   3. load cost: tickets of 100 and of 1,000 events (TicketOpened through the Portal, then staff
//      MessagePosted events encoded as the handler encodes them, appended in bulk to the log),
//      each loaded over and over: the log read alone, the read plus JSON parsing of every payload,
//      then Portal::ticket (read, parse, decode, fold) on a fresh Portal each time (a full load
//      whatever the Portal caches) and on one Portal again and again (what the next read of the
//      ticket pays).
// Every message body is the same ~230 characters of plain text (no @mentions, which would add
// lookups).
//
// Figures go to stdout as Markdown, progress to stderr. Nothing here asserts on timing; the
// program fails only when the log or the handler reports an error other than a conflict that
// outlived the handler's retries (those are counted).
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/log/log.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/portal.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace {

using namespace portico::bench;

namespace fs = std::filesystem;
namespace plog = portico::log;
namespace svc = portico::service;
namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProject = "acme";
constexpr unsigned kStaff = 8;
constexpr std::string_view kBody =
    "Thanks for the quick answer. The export still fails after the update to 4.2; the job log "
    "says the archive is locked by another process. I restarted the worker twice and cleared "
    "the cache as suggested. Could you have a look today?";
constexpr std::size_t kBulkEvents = 500;  // events per append when a ticket is grown in bulk
constexpr std::uint64_t kLoadSizes[] = {100, 1'000};

// ---- Small helpers ----

// ---- The portal under test ----

svc::CommandMeta as_system() { return {dom::system_actor(), "", {}}; }
svc::CommandMeta as_customer(const std::string& id) { return {{dom::Realm::customer, id}, "", {}}; }
svc::CommandMeta as_staff(const std::string& id) { return {{dom::Realm::staff, id}, "", {}}; }
std::string customer_id(unsigned caller) { return fmt::format("c-{:05}", caller); }
std::string staff_id(unsigned member) { return fmt::format("s-{:02}", member); }

// Set by --views.
bool g_views = false;

// A log in `dir` and a Portal over it, with project kProject and its kStaff staff members.
struct Desk {
  std::unique_ptr<plog::Log> log;
  std::unique_ptr<svc::Portal> portal;

  explicit Desk(const fs::path& dir) {
    plog::Options options;
    // --views: the portal's read models, kept inline by the commit thread (issue 4).
    if (g_views) options.projections = {portico::projections::Views::projection()};
    auto opened = plog::Log::open(dir, std::move(options));
    if (!opened) die(fmt::format("open {}", dir.string()), opened.error());
    log = std::move(*opened);
    portal = std::make_unique<svc::Portal>(*log);
    dom::project::Settings settings;
    settings.name = "Acme Support";
    settings.organizations = {{"Globex", {"globex.test"}}};
    const std::string slug(kProject);
    if (auto p = portal->create_project(slug, settings, as_system()); !p) {
      die("create_project", p.error());
    }
    for (unsigned s = 0; s < kStaff; ++s) {
      const dom::project::AddStaff staff{staff_id(s), fmt::format("agent{}@acme.test", s),
                                         fmt::format("Agent {}", s), "agent"};
      if (auto p = portal->add_staff(slug, staff, as_system()); !p) die("add_staff", p.error());
    }
  }

  // Registers customer number `caller` and signs them in on the project; "" or the problem.
  std::string add_customer(unsigned caller) const {
    const std::string id = customer_id(caller);
    const dom::customer::Register r{id, fmt::format("user{}@globex.test", caller),
                                    fmt::format("User {}", caller), fmt::format("user{}", caller)};
    if (auto c = portal->register_customer(r, as_system()); !c) {
      return "register_customer: " + c.error().code + ": " + c.error().message;
    }
    if (auto c = portal->join_project(id, std::string(kProject), as_customer(id)); !c) {
      return "join_project: " + c.error().code + ": " + c.error().message;
    }
    return {};
  }

  // Opens a ticket as customer number `caller`: its number, or the problem.
  portico::Result<std::uint64_t> open(unsigned caller, std::uint64_t seq) const {
    dt::OpenTicket cmd;
    cmd.subject = fmt::format("Export fails after the update ({}-{})", caller, seq);
    cmd.body = std::string(kBody);
    cmd.message_id = fmt::format("m-{}-{}", caller, seq);
    auto r = portal->open_ticket(std::string(kProject), std::move(cmd),
                                 as_customer(customer_id(caller)));
    if (!r) return portico::Unexpected(r.error());
    return r->state->number;
  }

  // Setup: opens a ticket, again when the handler gave up on finding a free number (callers who
  // open at once collide on it; phase 1 counts that). Its number, or the problem.
  std::string open_for_setup(unsigned caller, std::uint64_t& number) const {
    for (int attempt = 0;; ++attempt) {
      auto opened = open(caller, 0);
      if (opened) {
        number = *opened;
        return {};
      }
      if (opened.error().code != "conflict" || attempt == 99) {
        return "open_ticket: " + opened.error().code + ": " + opened.error().message;
      }
    }
  }

  std::uint64_t events_in(std::uint64_t number) const {
    auto v = log->stream_version(dt::stream_id(kProject, number));
    if (!v) die("stream_version", v.error());
    return *v;
  }
};

// ---- Phases 1 and 2: K callers, one command per call ----

// What one command came to: "" when it went through, "conflict" when the handler gave up after
// its retries (counted), anything else stops the bench.
template <class T>
std::string verdict(const portico::Result<T>& r) {
  if (r) return {};
  if (r.error().code == "conflict") return "conflict";
  return r.error().code + ": " + r.error().message;
}

struct PhaseRun {
  std::uint64_t done = 0;     // commands that went through
  std::uint64_t gave_up = 0;  // commands answered "conflict" after the handler's retries
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  double first_quarter_rate = 0, last_quarter_rate = 0;  // commands/s
  std::uint64_t refused = 0;  // appends the log refused for a version conflict (retried)
  double group = 0;           // appends per commit
  double commit_ms = 0;       // average mdb_txn_commit (write + fsync)
  double projection_ms = 0;   // average time applying the inline projections, per commit
  double cpu_us_per_command = 0;
};

// `callers` threads: each runs setup(t) (before the clock starts), then command(t, i) for i = 0,
// 1, … until `seconds` have passed. Both answer "" on success (see verdict for command).
PhaseRun run_callers(plog::Log& log, unsigned callers, double seconds,
                     const std::function<std::string(unsigned)>& setup,
                     const std::function<std::string(unsigned, std::uint64_t)>& command) {
  std::latch ready(callers + 1), go(1);  // every setup is done; the clock has started
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::uint32_t>> latencies_us(callers), finished_us(callers);
  std::vector<std::uint64_t> gave_up(callers, 0);
  std::mutex error_mu;
  std::string error;
  Clock::time_point t0;  // written before `go` releases the callers
  auto record_error = [&](std::string problem) {
    std::lock_guard lock(error_mu);
    if (error.empty()) error = std::move(problem);
    stop = true;
  };

  std::vector<std::thread> pool;
  pool.reserve(callers);
  for (unsigned t = 0; t < callers; ++t) {
    pool.emplace_back([&, t] {
      std::vector<std::uint32_t>& mine = latencies_us[t];
      std::vector<std::uint32_t>& ends = finished_us[t];
      mine.reserve(1 << 14);
      ends.reserve(1 << 14);
      if (std::string problem = setup(t); !problem.empty()) record_error(std::move(problem));
      ready.arrive_and_wait();
      go.wait();
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const auto c0 = Clock::now();
        std::string problem = command(t, i);
        const auto c1 = Clock::now();
        if (problem == "conflict") {
          ++gave_up[t];
          continue;
        }
        if (!problem.empty()) {
          record_error(std::move(problem));
          return;
        }
        using std::chrono::duration_cast;
        using std::chrono::microseconds;
        mine.push_back(static_cast<std::uint32_t>(duration_cast<microseconds>(c1 - c0).count()));
        ends.push_back(static_cast<std::uint32_t>(duration_cast<microseconds>(c1 - t0).count()));
      }
    });
  }
  ready.arrive_and_wait();
  const plog::Stats before = log.stats();
  const double cpu0 = cpu_seconds();
  t0 = Clock::now();
  go.count_down();
  // Sleep in slices, so that a failing caller ends the phase early.
  const auto until =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (!stop && Clock::now() < until) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(50), until - Clock::now()));
  }
  stop = true;
  // Commands already under way finish and count; the clock runs until they have.
  for (std::thread& th : pool) th.join();
  const double elapsed = seconds_since(t0);
  const double cpu = cpu_seconds() - cpu0;
  const plog::Stats after = log.stats();
  if (!error.empty()) fail(1, error);

  PhaseRun run;
  run.seconds = elapsed;
  std::vector<std::uint32_t> all;
  const auto quarter_us = static_cast<std::uint32_t>(seconds * 1e6 / 4);
  const auto last_from_us = static_cast<std::uint32_t>(seconds * 1e6) - quarter_us;
  std::uint64_t first_quarter = 0, last_quarter = 0;
  for (unsigned t = 0; t < callers; ++t) {
    all.insert(all.end(), latencies_us[t].begin(), latencies_us[t].end());
    for (std::uint32_t end : finished_us[t]) {
      if (end < quarter_us) ++first_quarter;
      if (end >= last_from_us && end < last_from_us + quarter_us) ++last_quarter;
    }
    run.gave_up += gave_up[t];
  }
  run.done = all.size();
  run.first_quarter_rate = rate(first_quarter, seconds / 4);
  run.last_quarter_rate = rate(last_quarter, seconds / 4);
  run.p50_ms = quantile(all, 0.50) / 1000.0;
  run.p99_ms = quantile(all, 0.99) / 1000.0;
  run.refused = after.conflicts - before.conflicts;
  const std::uint64_t commits = after.commits - before.commits;
  if (commits > 0) {
    run.group = static_cast<double>(after.batched_appends - before.batched_appends) /
                static_cast<double>(commits);
    run.commit_ms = static_cast<double>(after.commit_ns - before.commit_ns) /
                    static_cast<double>(commits) / 1e6;
    run.projection_ms = static_cast<double>(after.projection_ns - before.projection_ns) /
                        static_cast<double>(commits) / 1e6;
  }
  const std::uint64_t commands = run.done + run.gave_up;
  if (commands > 0) run.cpu_us_per_command = cpu * 1e6 / static_cast<double>(commands);
  return run;
}

// Phase 1: every caller opens tickets as its own customer.
PhaseRun open_tickets(const fs::path& dir, unsigned callers, double seconds) {
  const Desk desk(dir);
  PhaseRun run = run_callers(
      *desk.log, callers, seconds, [&](unsigned t) { return desk.add_customer(t); },
      [&](unsigned t, std::uint64_t i) {
        auto opened = desk.open(t, i);
        return verdict(opened);
      });
  // Numbers are dense and each opened ticket took one: the highest is the count.
  if (run.done > 0 && (desk.events_in(run.done) != 1 || desk.events_in(run.done + 1) != 0)) {
    fail(1,
         fmt::format("{} tickets opened, but ticket {} is not the last one", run.done, run.done));
  }
  return run;
}

struct PostRun {
  PhaseRun run;
  double events_per_ticket = 0;  // at the end of the phase
};

// Phase 2a: every caller replies to a ticket of its own, as its creator.
PostRun post_own(const fs::path& dir, unsigned callers, double seconds) {
  const Desk desk(dir);
  std::vector<std::uint64_t> tickets(callers, 0);
  const std::string slug(kProject);
  PostRun out;
  out.run = run_callers(
      *desk.log, callers, seconds,
      [&](unsigned t) {
        if (std::string problem = desk.add_customer(t); !problem.empty()) return problem;
        return desk.open_for_setup(t, tickets[t]);
      },
      [&](unsigned t, std::uint64_t i) {
        return verdict(desk.portal->execute(
            slug, tickets[t], dt::PostReply{fmt::format("r-{}-{}", t, i), std::string(kBody)},
            as_customer(customer_id(t))));
      });
  std::uint64_t events = 0;
  for (std::uint64_t n : tickets) events += desk.events_in(n);
  if (events != callers + out.run.done) {
    fail(1, fmt::format("the tickets hold {} events; expected {}", events, callers + out.run.done));
  }
  out.events_per_ticket = static_cast<double>(events) / callers;
  return out;
}

// Phase 2b: every caller posts as staff to one of `hot` tickets shared by all.
PostRun post_hot(const fs::path& dir, unsigned callers, unsigned hot, double seconds) {
  const Desk desk(dir);
  std::vector<std::uint64_t> tickets(hot, 0);
  const std::string slug(kProject);
  PostRun out;
  out.run = run_callers(
      *desk.log, callers, seconds,
      [&](unsigned t) {
        if (t >= hot) return std::string();
        if (std::string problem = desk.add_customer(t); !problem.empty()) return problem;
        return desk.open_for_setup(t, tickets[t]);
      },
      [&](unsigned t, std::uint64_t i) {
        return verdict(
            desk.portal->execute(slug, tickets[t % hot],
                                 dt::PostStaffMessage{fmt::format("s-{}-{}", t, i),
                                                      std::string(kBody), false, std::nullopt},
                                 as_staff(staff_id(t % kStaff))));
      });
  std::uint64_t events = 0;
  for (std::uint64_t n : tickets) events += desk.events_in(n);
  if (events != hot + out.run.done) {
    fail(1, fmt::format("the tickets hold {} events; expected {}", events, hot + out.run.done));
  }
  out.events_per_ticket = static_cast<double>(events) / hot;
  return out;
}

// ---- Phase 3: the cost of loading a ticket ----

// Appends staff messages to ticket `number` (which holds one event) until it holds `events`,
// encoded as the handler encodes them (type name, schema version, actor, payload).
void grow_ticket(plog::Log& log, std::uint64_t number, std::uint64_t events) {
  const std::string stream = dt::stream_id(kProject, number);
  const dom::TimeUs at = 1'795'000'000'000'000;
  for (std::uint64_t version = 1; version < events;) {
    plog::StreamWrite write{stream, plog::ExpectedVersion::exactly(version), {}};
    while (write.events.size() < kBulkEvents && version + write.events.size() < events) {
      const std::uint64_t seq = version + write.events.size();
      const std::string author = staff_id(static_cast<unsigned>(seq % kStaff));
      const dt::Event e = dt::MessagePosted{at + static_cast<dom::TimeUs>(seq),
                                            fmt::format("s-{}-{}", number, seq),
                                            {dom::Realm::staff, author},
                                            std::string(kBody),
                                            false,
                                            {}};
      plog::EventData& d = write.events.emplace_back();
      d.type = std::string(dt::type_name(e));
      d.schema_version = dt::schema_version(e);
      d.actor = {plog::Realm::staff, author};
      d.payload = dt::to_payload(e);
    }
    if (auto appended = log.append(write); !appended) die("grow ticket", appended.error());
    version += write.events.size();
  }
}

struct LoadCost {
  std::uint64_t events = 0;  // in the ticket
  double read_us = 0;        // Log::read_stream alone
  double parse_us = 0;       // read_stream + Record::payload_object() of every record
  double cold_us = 0;        // Portal::ticket on a fresh Portal
  double warm_us = 0;        // Portal::ticket on one Portal, again and again
  std::uint64_t cold_loads = 0;
};

// Calls `load` for about `seconds` (at least 5 times); the average microseconds per call.
double time_loads(double seconds, std::uint64_t* count, const std::function<void()>& load) {
  const auto t0 = Clock::now();
  std::uint64_t n = 0;
  while (n < 5 || seconds_since(t0) < seconds) {
    load();
    ++n;
  }
  if (count) *count = n;
  return seconds_since(t0) * 1e6 / static_cast<double>(n);
}

std::vector<LoadCost> load_costs(const fs::path& dir, double seconds) {
  const Desk desk(dir);
  if (std::string problem = desk.add_customer(0); !problem.empty()) fail(1, problem);
  const std::string slug(kProject);
  std::vector<LoadCost> out;
  std::uint64_t seq = 0;
  for (std::uint64_t size : kLoadSizes) {
    auto number = desk.open(0, seq++);
    if (!number) die("open_ticket", number.error());
    grow_ticket(*desk.log, *number, size);
    const std::string stream = dt::stream_id(kProject, *number);
    LoadCost cost;
    cost.events = desk.events_in(*number);
    std::uint64_t sink = 0;  // consumed so that nothing is optimised away
    auto read = [&](bool parse) {
      auto records = desk.log->read_stream(stream, 1, plog::Direction::forward, 1024);
      if (!records) die("read_stream", records.error());
      sink += records->size();
      if (parse) {
        for (const plog::Record& r : *records) sink += r.payload_object().size();
      }
    };
    auto check = [&](const portico::Result<std::shared_ptr<const dt::State>>& t) {
      if (!t) die("Portal::ticket", t.error());
      if ((*t)->messages.size() != size) {
        fail(1, fmt::format("ticket {} folds to {} messages, expected {}", *number,
                            (*t)->messages.size(), size));
      }
      sink += (*t)->messages.size();
    };
    cost.read_us = time_loads(seconds, nullptr, [&] { read(false); });
    cost.parse_us = time_loads(seconds, nullptr, [&] { read(true); });
    cost.cold_us = time_loads(seconds, &cost.cold_loads, [&] {
      const svc::Portal fresh(*desk.log);
      check(fresh.ticket(slug, *number));
    });
    cost.warm_us = time_loads(seconds, nullptr, [&] { check(desk.portal->ticket(slug, *number)); });
    if (sink == 0) fail(1, "nothing was loaded");
    out.push_back(cost);
  }
  return out;
}

// ---- Command line ----

struct Args {
  std::optional<fs::path> dir;
  bool keep = false;
  bool quick = false;
  std::optional<double> seconds;
  std::optional<unsigned> callers;
  std::optional<unsigned> hot;
  bool views = false;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args a;
  ArgReader args;
  args.option("--dir", "DIR", &a.dir,
              "where the logs go (default: a fresh temporary directory); removed unless --keep")
      .flag("--keep", &a.keep, "keep what the bench created")
      .option("--seconds", "S", &a.seconds, "duration of each command phase (default 5; --quick 2)")
      .option("--callers", "K", &a.callers, "concurrent callers of the command phases (default 64)")
      .option("--hot", "N", &a.hot, "tickets the callers of phase 2b share (default 8)")
      .flag("--views", &a.views, "keep the read models inline (projections::Views)")
      .flag("--quick", &a.quick, "short phases for a smoke run; explicit flags still win");
  if (!args.parse(argc, argv)) return std::nullopt;
  return a;
}

}  // namespace

int run(int argc, char** argv) {
  const std::optional<Args> args = parse_args(argc, argv);
  if (!args) return 0;
  const double seconds = args->seconds.value_or(args->quick ? 2.0 : 5.0);
  const unsigned callers = args->callers.value_or(64);
  const unsigned hot = std::min(args->hot.value_or(8), callers);
  g_views = args->views;
  const double load_seconds = args->quick ? 0.2 : 1.0;  // per figure of phase 3

  Cleanup cleanup(args->keep);
  const fs::path root = cleanup.root(args->dir, "portico-service-bench");
  // Every log gets a directory of its own, claimed up front so that a used --dir fails at once.
  const fs::path open_dir = cleanup.make(root, "open");
  const fs::path own_dir = cleanup.make(root, "post-own");
  const fs::path hot_dir = cleanup.make(root, "post-hot");
  const fs::path load_dir = cleanup.make(root, "load");

  fmt::print(stderr, "phase 1: {} callers open tickets for {} s\n", callers, seconds);
  const PhaseRun opened = open_tickets(open_dir, callers, seconds);
  fmt::print(stderr, "phase 2a: {} callers post to a ticket each for {} s\n", callers, seconds);
  const PostRun own = post_own(own_dir, callers, seconds);
  fmt::print(stderr, "phase 2b: {} callers post to {} tickets for {} s\n", callers, hot, seconds);
  const PostRun shared = post_hot(hot_dir, callers, hot, seconds);
  fmt::print(stderr, "phase 3: loading tickets of {} and {} events\n", kLoadSizes[0],
             kLoadSizes[1]);
  const std::vector<LoadCost> loads = load_costs(load_dir, load_seconds);

  // ---- Report ----
  auto row = [](std::string_view phase, std::string_view figure, std::string_view value) {
    fmt::print("| {} | {} | {} |\n", phase, figure, value);
  };
  auto command_rows = [&](const PhaseRun& r, std::string_view refused) {
    row("", "commands/s", grouped(rate(r.done, r.seconds)));
    row("", "latency p50 / p99 (of the commands that went through)",
        fmt::format("{:.2f} / {:.2f} ms", r.p50_ms, r.p99_ms));
    row("", "commands/s in the first / last quarter of the phase",
        fmt::format("{} / {}", grouped(r.first_quarter_rate), grouped(r.last_quarter_rate)));
    row("", refused,
        fmt::format("{} ({:.2f} per command)", grouped(r.refused),
                    r.done ? static_cast<double>(r.refused) / static_cast<double>(r.done) : 0.0));
    row("", "gave up (conflict after the handler's retries)", grouped(r.gave_up));
    row("", "appends per commit, average",
        fmt::format("{:.1f} (commit {:.2f} ms, projections {:.2f} ms)", r.group, r.commit_ms,
                    r.projection_ms));
    row("", "CPU per command (user + sys, all threads)",
        fmt::format("{:.0f} µs", r.cpu_us_per_command));
  };

  fmt::print("## portico-service-bench\n\n");
  fmt::print("- command: `{}`\n", command_line(argc, argv));
  fmt::print("- machine: {} hardware threads, {}, {}\n", std::thread::hardware_concurrency(),
             cpu_model(), kernel());
  fmt::print("- logs in: {} ({})\n", root.string(), filesystem_of(root));
  fmt::print(
      "- one Portal, one project with {} staff, one customer per caller; message bodies of {} "
      "characters; read models (views projection, inline): {}\n\n",
      kStaff, kBody.size(), g_views ? "on" : "off");
  fmt::print("| phase | figure | value |\n| --- | --- | ---: |\n");
  row(fmt::format("1. open ticket, {} callers", callers), "tickets opened", grouped(opened.done));
  command_rows(opened, "number collisions (appends refused, then a new number)");
  row(fmt::format("2a. post reply, {} callers, a ticket each", callers), "messages posted",
      grouped(own.run.done));
  command_rows(own.run, "version conflicts (appends refused, then decided again)");
  row("", "events per ticket at the end", fmt::format("{:.0f}", own.events_per_ticket));
  row(fmt::format("2b. post staff message, {} callers, {} tickets", callers, hot),
      "messages posted", grouped(shared.run.done));
  command_rows(shared.run, "version conflicts (appends refused, then decided again)");
  row("", "events per ticket at the end", fmt::format("{:.0f}", shared.events_per_ticket));
  for (const LoadCost& c : loads) {
    const double n = static_cast<double>(c.events);
    auto per_load = [&](double us) {
      return fmt::format("{:.0f} µs ({} events/s)", us, grouped(n * 1e6 / us));
    };
    row(fmt::format("3. load a ticket of {} events", grouped(c.events)),
        "Log::read_stream alone (read + decode records)", per_load(c.read_us));
    row("", "read_stream + Record::payload_object() (JSON parse)", per_load(c.parse_us));
    row("", "Portal::ticket on a fresh Portal: full load + fold", per_load(c.cold_us));
    row("", "Portal::ticket on the same Portal again (what the next read of the ticket pays)",
        fmt::format("{:.0f} µs", c.warm_us));
  }
  fmt::print(
      "\nCommand phases ran {:.1f} s each; a latency is one handler call, retries included. "
      "Phase 3 timed each figure for about {:.1f} s on a warm page cache ({} full loads of the "
      "{}-event ticket).\n",
      seconds, load_seconds, grouped(loads.back().cold_loads), grouped(loads.back().events));
  return 0;
}

int main(int argc, char** argv) {
  portico::bench::g_program = "portico-service-bench";
  try {
    return run(argc, argv);
  } catch (const Failure& f) {
    return f.status;
  }
}
