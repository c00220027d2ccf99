// portico-log-bench — what portico::log::Log sustains on this machine.
//
//   portico-log-bench [--dir DIR] [--keep] [--events N] [--seconds S] [--appenders K] [--quick]
//
//   --dir DIR       where the logs go (default: a fresh mkdtemp directory under the system temp
//                   directory). What the bench creates there is removed at the end unless --keep.
//   --events N      size of the log that is replayed and verified (default 1,000,000)
//   --seconds S     duration of each append phase (default 5)
//   --appenders K   concurrent appenders of the group-commit phase (default 64)
//   --quick         small sizes (under 10 s in all) for a smoke run; explicit flags still win
//
// Phases (2b: the load of phase 2 from one thread through append_async), each append phase on a
// fresh log in its own subdirectory:
//   0. the disk alone: 4 KiB pwrite + fdatasync, in place and growing the file (the floor under
//      every durable figure);
//   1. one thread appends one event per call for S seconds: every event pays a commit + fsync;
//   2. K threads append one event per call each for S seconds, each to ticket streams of its own,
//      so appends that arrive together share a group commit;
//   3. a log of N events is filled in bulk (1,000 events per call: 100 tickets of 10 events),
//      then read back whole with read_all (decode only, then also parsing every payload) and
//      checked with Log::verify;
//   4. bytes per event of that log's data.mdb and of a compacted backup of it.
// Every event is a "MessagePosted" record of about kTargetRecordBytes bytes as stored.
//
// Figures go to stdout as Markdown (for docs/performance.md), progress to stderr. Nothing here
// asserts on timing; the program fails only when the log itself reports an error.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <mutex>
#include <optional>
#include <portico/log/log.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace {

using namespace portico::bench;

namespace fs = std::filesystem;
namespace plog = portico::log;
using Clock = std::chrono::steady_clock;

// ---- The events ----

constexpr std::size_t kTargetRecordBytes = 300;
// Fixed part of a stored record: the 96-byte header and the prev_hash + hash trailer
// (core/log/src/record_codec.hpp). The variable part is stream, type, actor id, payload, sealed.
constexpr std::size_t kRecordOverhead = 96 + 2 * 32;
constexpr std::size_t kEventsPerTicket = 10;  // a ticket's conversation, then a new ticket
constexpr std::size_t kTicketsPerFill = 100;  // bulk fill: streams per append call
constexpr std::size_t kReadChunk = 4096;      // records per read_all call

std::size_t stored_size(const plog::Record& r) {
  return kRecordOverhead + r.stream.size() + r.type.size() + r.actor.id.size() + r.payload.size() +
         r.sealed.size();
}

std::string stream_name(std::uint64_t ticket) { return fmt::format("ticket-{:07}", ticket); }

// Builds the MessagePosted events of the benchmark: customer and staff take turns on a ticket,
// and the body is sized once so that a stored record comes to about kTargetRecordBytes.
class Messages {
 public:
  Messages() {
    constexpr std::string_view kText =
        "Thanks for the quick answer. The export still fails after the update to 4.2; the job "
        "log says the archive is locked by another process. Could you have a look today? ";
    while (text_.size() < kTargetRecordBytes + kMaxShift) text_ += kText;
    // Size the body from a probe with an empty one (7-digit ticket, like the names in use).
    const plog::EventData probe = make(1'234'567, 1, 0);
    const std::size_t without_body = kRecordOverhead + stream_name(1'234'567).size() +
                                     probe.type.size() + probe.actor.id.size() +
                                     boost::json::serialize(probe.payload).size();
    body_bytes_ = kTargetRecordBytes > without_body + 16 ? kTargetRecordBytes - without_body : 16;
  }

  // Event number `seq` (0-based) of ticket `ticket`.
  plog::EventData make(std::uint64_t ticket, std::uint64_t seq) const {
    return make(ticket, seq, body_bytes_);
  }

 private:
  plog::EventData make(std::uint64_t ticket, std::uint64_t seq, std::size_t body) const {
    plog::EventData e;
    e.type = "MessagePosted";
    e.actor = seq % 2 == 0
                  ? plog::Actor{plog::Realm::customer, fmt::format("cust-{:05}", ticket % 100'000)}
                  : plog::Actor{plog::Realm::staff, fmt::format("staff-{:04}", ticket % 50)};
    // Vary the body a little so records are not byte-identical apart from their header.
    const std::size_t from = (ticket * 7 + seq * 13) % kMaxShift;
    e.payload = {{"ticket", ticket},
                 {"author", e.actor.id},
                 {"body", std::string_view(text_).substr(from, body)}};
    return e;
  }

  static constexpr std::size_t kMaxShift = 97;
  std::size_t body_bytes_ = 0;
  std::string text_;
};

// ---- Small helpers ----

std::string goal(double value, double target) {
  return fmt::format("≥ {} ({})", grouped(target), value >= target ? "met" : "not met");
}

std::uint64_t file_bytes(const fs::path& file) {
  std::error_code ec;
  const auto n = fs::file_size(file, ec);
  return ec ? 0 : n;
}

std::unique_ptr<plog::Log> open_log(const fs::path& dir) {
  auto log = plog::Log::open(dir);
  if (!log) die(fmt::format("open {}", dir.string()), log.error());
  return std::move(*log);
}

// ---- Phase 0: what the disk itself allows ----

struct DiskProbe {
  double syncs_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
};

// A 4 KiB pwrite + fdatasync, over and over for `seconds`, in a scratch file under `dir`: the
// floor under every durable figure. With `grow`, each write extends the file, so each fdatasync
// also writes file-system metadata (block allocation, file size); without, it rewrites blocks of
// a 1 MiB file in place. An LMDB commit pays one of each, roughly: its new pages usually land at
// the end of data.mdb and are synced, then its meta page is rewritten in place through an
// O_DSYNC descriptor.
DiskProbe probe_disk(const fs::path& dir, bool grow, double seconds) {
  const fs::path file = dir / "fsync-probe";
  const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) fail(1, fmt::format("open {}: {}", file.string(), std::strerror(errno)));
  constexpr std::size_t kPage = 4096, kInPlacePages = 256;
  const std::string page(kPage, 'x');
  auto write_at = [&](std::size_t index) {
    const auto offset = static_cast<off_t>(index * kPage);
    if (::pwrite(fd, page.data(), kPage, offset) != static_cast<ssize_t>(kPage) ||
        ::fdatasync(fd) != 0) {
      const int err = errno;
      ::close(fd);
      fail(1, fmt::format("write {}: {}", file.string(), std::strerror(err)));
    }
  };
  if (!grow) {
    for (std::size_t i = 0; i < kInPlacePages; ++i) write_at(i);
  }
  std::vector<std::uint32_t> latencies_us;
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration<double>(seconds);
  for (std::size_t i = 0; Clock::now() < until; ++i) {
    const auto t = Clock::now();
    write_at(grow ? i : i % kInPlacePages);
    latencies_us.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count()));
  }
  DiskProbe out;
  out.syncs_per_s = rate(latencies_us.size(), seconds_since(t0));
  ::close(fd);
  std::error_code ec;
  fs::remove(file, ec);
  out.p50_ms = quantile(latencies_us, 0.50) / 1000.0;
  out.p99_ms = quantile(latencies_us, 0.99) / 1000.0;
  return out;
}

// ---- Phases 1 and 2: appenders, one event per call ----

struct AppendRun {
  std::uint64_t events = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  double group = 0;  // appends per commit
  std::uint64_t max_group = 0;
  double commit_ms = 0;         // average mdb_txn_commit (write + fsync)
  double cpu_us_per_event = 0;  // user + system CPU of the whole process, all threads
};

// The figures of one append phase from its latencies, CPU time and the log's counters.
AppendRun summarize(std::vector<std::uint32_t>& latencies_us, double seconds, double cpu,
                    const plog::Stats& before, const plog::Stats& after) {
  AppendRun run;
  run.seconds = seconds;
  run.events = latencies_us.size();
  if (run.events > 0) run.cpu_us_per_event = cpu * 1e6 / static_cast<double>(run.events);
  run.p50_ms = quantile(latencies_us, 0.50) / 1000.0;
  run.p99_ms = quantile(latencies_us, 0.99) / 1000.0;
  const std::uint64_t commits = after.commits - before.commits;
  if (commits > 0) {
    run.group = static_cast<double>(after.batched_appends - before.batched_appends) /
                static_cast<double>(commits);
    run.commit_ms = static_cast<double>(after.commit_ns - before.commit_ns) /
                    static_cast<double>(commits) / 1e6;
  }
  run.max_group = after.max_batch;  // a fresh log per phase, so this is the phase's maximum
  return run;
}

// `threads` appenders each append one event per call until `seconds` have passed. Appender t owns
// tickets t, t + threads, t + 2 * threads, …: it writes kEventsPerTicket events to one (checking
// the expected version, as a real command handler would), then starts the next ticket.
AppendRun run_appenders(plog::Log& log, const Messages& messages, unsigned threads,
                        double seconds) {
  std::latch start(threads + 1);
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::uint32_t>> latencies_us(threads);
  std::mutex error_mu;
  std::optional<plog::LogError> error;

  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<std::uint32_t>& mine = latencies_us[t];
      mine.reserve(1 << 16);
      std::uint64_t ticket = t, version = 0;
      start.arrive_and_wait();
      while (!stop.load(std::memory_order_relaxed)) {
        plog::StreamWrite write{stream_name(ticket),
                                plog::ExpectedVersion::exactly(version),
                                {messages.make(ticket, version)}};
        const auto t0 = Clock::now();
        auto appended = log.append(write);
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
        if (!appended) {
          std::lock_guard lock(error_mu);
          if (!error) error = appended.error();
          stop = true;
          return;
        }
        mine.push_back(static_cast<std::uint32_t>(us.count()));
        if (++version == kEventsPerTicket) {  // the ticket is done: on to this appender's next
          version = 0;
          ticket += threads;
        }
      }
    });
  }
  const plog::Stats before = log.stats();
  start.arrive_and_wait();
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  // Appends already in flight finish and count; the clock runs until they have.
  for (std::thread& th : pool) th.join();
  const double elapsed = seconds_since(t0);
  const double cpu = cpu_seconds() - cpu0;
  if (error) die("append", *error);
  std::vector<std::uint32_t> all;
  for (const auto& v : latencies_us) all.insert(all.end(), v.begin(), v.end());
  return summarize(all, elapsed, cpu, before, log.stats());
}

// ---- Phase 2b: appends in flight from one thread (append_async) ----

// What a server built on an event loop does: one thread keeps `in_flight` appends queued with
// Log::append_async and issues the next one for a ticket when the commit thread answers the last.
// Same tickets and expected versions as run_appenders; no thread blocks per append.
AppendRun run_async(plog::Log& log, const Messages& messages, unsigned in_flight, double seconds) {
  struct Slot {
    std::uint64_t ticket = 0, version = 0;
    Clock::time_point sent{};
  };
  std::vector<Slot> slots(in_flight);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<unsigned> answered;  // slots whose append completed, for the issuing thread
  std::optional<plog::LogError> error;
  std::vector<std::uint32_t> latencies_us;
  latencies_us.reserve(1 << 20);

  auto issue = [&](unsigned i) {
    Slot& slot = slots[i];
    plog::StreamWrite write{stream_name(slot.ticket),
                            plog::ExpectedVersion::exactly(slot.version),
                            {messages.make(slot.ticket, slot.version)}};
    slot.sent = Clock::now();
    log.append_async(
        std::span<const plog::StreamWrite>(&write, 1),
        [&, i](plog::LogResult<plog::AppendResult> r) {
          const auto done = Clock::now();
          std::lock_guard lock(mu);
          if (!r && !error) error = r.error();
          latencies_us.push_back(static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(done - slots[i].sent).count()));
          answered.push_back(i);
          cv.notify_one();
        });
  };

  const plog::Stats before = log.stats();
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (unsigned i = 0; i < in_flight; ++i) {
    slots[i].ticket = i;
    issue(i);
  }
  std::size_t outstanding = in_flight;
  std::vector<unsigned> ready;
  while (outstanding > 0) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !answered.empty(); });
      ready.swap(answered);
    }
    outstanding -= ready.size();
    const bool more = Clock::now() < deadline && !error;
    for (unsigned i : ready) {
      if (!more) continue;
      Slot& slot = slots[i];
      if (++slot.version == kEventsPerTicket) {
        slot.version = 0;
        slot.ticket += in_flight;
      }
      issue(i);
      ++outstanding;
    }
    ready.clear();
  }
  const double elapsed = seconds_since(t0);
  const double cpu = cpu_seconds() - cpu0;
  if (error) die("append_async", *error);
  return summarize(latencies_us, elapsed, cpu, before, log.stats());
}

// ---- Phase 3: fill, replay, verify ----

// Appends `events` events, kTicketsPerFill tickets of kEventsPerTicket events per call.
double fill(plog::Log& log, const Messages& messages, std::uint64_t events) {
  const auto t0 = Clock::now();
  const std::uint64_t report_every = std::max<std::uint64_t>(events / 10, 1);
  std::uint64_t written = 0, ticket = 0, next_report = report_every;
  std::vector<plog::StreamWrite> writes;
  while (written < events) {
    writes.clear();
    for (std::size_t s = 0; s < kTicketsPerFill && written < events; ++s, ++ticket) {
      plog::StreamWrite& w = writes.emplace_back();
      w.stream = stream_name(ticket);
      w.expected = plog::ExpectedVersion::no_stream();
      for (std::uint64_t seq = 0; seq < kEventsPerTicket && written < events; ++seq, ++written) {
        w.events.push_back(messages.make(ticket, seq));
      }
    }
    if (auto appended = log.append(writes); !appended) die("fill", appended.error());
    if (written >= next_report && written < events) {
      fmt::print(stderr, "  filled {} of {} events\n", grouped(static_cast<double>(written)),
                 grouped(static_cast<double>(events)));
      next_report += report_every;
    }
  }
  return seconds_since(t0);
}

struct Replay {
  std::uint64_t events = 0;
  std::uint64_t record_bytes = 0;  // sum of stored record sizes
  std::uint64_t payload_bytes = 0;
  double seconds = 0;
};

// Reads the whole log in chunks of kReadChunk; with `parse`, also parses every payload to JSON.
Replay replay(const plog::Log& log, bool parse) {
  Replay out;
  std::uint64_t keys = 0;  // consumed so the parse cannot be optimised away
  const auto t0 = Clock::now();
  for (std::uint64_t from = 1;;) {
    auto records = log.read_all(from, kReadChunk);
    if (!records) die("read_all", records.error());
    if (records->empty()) break;
    for (const plog::Record& r : *records) {
      out.record_bytes += stored_size(r);
      out.payload_bytes += r.payload.size();
      if (parse) keys += r.payload_object().size();
    }
    out.events += records->size();
    from = records->back().position + 1;
  }
  out.seconds = seconds_since(t0);
  if (parse && keys != 3 * out.events) {
    fail(1, fmt::format("payloads parsed to {} keys, expected {}", keys, 3 * out.events));
  }
  return out;
}

// ---- Command line ----

struct Args {
  std::optional<fs::path> dir;
  bool keep = false;
  bool quick = false;
  std::optional<std::uint64_t> events;
  std::optional<double> seconds;
  std::optional<unsigned> appenders;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args a;
  ArgReader args;
  args.option("--dir", "DIR", &a.dir,
              "where the logs go (default: a fresh temporary directory); removed unless --keep")
      .flag("--keep", &a.keep, "keep what the bench created")
      .option("--events", "N", &a.events,
              "size of the log replayed and verified (default 1,000,000; --quick 100,000)")
      .option("--seconds", "S", &a.seconds, "duration of each append phase (default 5; --quick 2)")
      .option("--appenders", "K", &a.appenders,
              "concurrent appenders of the group-commit phase (default 64)")
      .flag("--quick", &a.quick, "small sizes for a smoke run; explicit flags still win");
  if (!args.parse(argc, argv)) return std::nullopt;
  return a;
}

}  // namespace

int run(int argc, char** argv) {
  const std::optional<Args> args = parse_args(argc, argv);
  if (!args) return 0;
  const std::uint64_t n_events = args->events.value_or(args->quick ? 100'000 : 1'000'000);
  const double seconds = args->seconds.value_or(args->quick ? 2.0 : 5.0);
  const unsigned appenders = args->appenders.value_or(64);

  Cleanup cleanup(args->keep);
  const fs::path root = cleanup.root(args->dir, "portico-log-bench");
  // Every log gets a directory of its own, claimed up front so that a used --dir fails at once.
  const fs::path single_dir = cleanup.make(root, "single");
  const fs::path group_dir = cleanup.make(root, "group");
  const fs::path async_dir = cleanup.make(root, "async");
  const fs::path replay_dir = cleanup.make(root, "replay");
  const fs::path backup_dir = cleanup.make(root, "replay-backup");
  const Messages messages;

  // Phase 0: the disk alone.
  const double probe_seconds = std::min(seconds, 1.0);
  fmt::print(stderr, "phase 0: pwrite + fdatasync for {} s\n", probe_seconds);
  const DiskProbe in_place = probe_disk(root, false, probe_seconds / 2);
  const DiskProbe growing = probe_disk(root, true, probe_seconds / 2);

  // Phase 1: one appender, so one event per commit.
  fmt::print(stderr, "phase 1: one appender for {} s\n", seconds);
  AppendRun single;
  {
    auto log = open_log(single_dir);
    single = run_appenders(*log, messages, 1, seconds);
  }

  // Phase 2: K appenders under group commit.
  fmt::print(stderr, "phase 2: {} appenders for {} s\n", appenders, seconds);
  AppendRun group;
  {
    auto log = open_log(group_dir);
    group = run_appenders(*log, messages, appenders, seconds);
  }

  // Phase 2b: the same load from one thread through append_async.
  fmt::print(stderr, "phase 2b: {} appends in flight from one thread for {} s\n", appenders,
             seconds);
  AppendRun async;
  {
    auto log = open_log(async_dir);
    async = run_async(*log, messages, appenders, seconds);
  }

  // Phase 3: fill, replay, verify; phase 4: bytes per event.
  fmt::print(stderr, "phase 3: fill a log with {} events\n",
             grouped(static_cast<double>(n_events)));
  auto log = open_log(replay_dir);
  const double fill_seconds = fill(*log, messages, n_events);
  fmt::print(stderr, "phase 3: replay and verify\n");
  const Replay decoded = replay(*log, false);
  const Replay parsed = replay(*log, true);
  if (decoded.events != n_events || parsed.events != n_events) {
    fail(1, fmt::format("read back {} and {} events, expected {}", decoded.events, parsed.events,
                        n_events));
  }
  auto t0 = Clock::now();
  auto verified = log->verify();
  const double verify_seconds = seconds_since(t0);
  if (!verified) die("verify", verified.error());
  if (!verified->ok || verified->events != n_events) {
    fail(1, fmt::format("verify checked {} events and failed at position {}: {}", verified->events,
                        verified->first_bad_position, verified->problem));
  }
  fmt::print(stderr, "phase 4: compacted backup\n");
  t0 = Clock::now();
  if (auto ok = log->backup(backup_dir); !ok) die("backup", ok.error());
  const double backup_seconds = seconds_since(t0);
  const std::uint64_t data_bytes = file_bytes(replay_dir / "data.mdb");
  const std::uint64_t backup_bytes = file_bytes(backup_dir / "data.mdb");
  log.reset();

  // ---- Report ----
  const double n = static_cast<double>(n_events);
  const double single_rate = rate(single.events, single.seconds);
  const double group_rate = rate(group.events, group.seconds);
  const double decode_rate = rate(decoded.events, decoded.seconds);
  const double parse_rate = rate(parsed.events, parsed.seconds);
  const double verify_rate = rate(verified->events, verify_seconds);
  auto row = [](std::string_view phase, std::string_view figure, std::string_view value,
                std::string_view target = {}) {
    fmt::print("| {} | {} | {} | {} |\n", phase, figure, value, target);
  };
  auto latency = [](const AppendRun& r) {
    return fmt::format("{:.2f} / {:.2f} ms", r.p50_ms, r.p99_ms);
  };

  fmt::print("## portico-log-bench\n\n");
  fmt::print("- command: `{}`\n", command_line(argc, argv));
  fmt::print("- machine: {} hardware threads, {}, {}\n", std::thread::hardware_concurrency(),
             cpu_model(), kernel());
  fmt::print("- logs in: {} ({})\n", root.string(), filesystem_of(root));
  fmt::print(
      "- events: MessagePosted, {:.0f} bytes per stored record on average ({:.0f} bytes of "
      "JSON payload), tickets of {} events\n\n",
      static_cast<double>(decoded.record_bytes) / n, static_cast<double>(decoded.payload_bytes) / n,
      kEventsPerTicket);
  fmt::print("| phase | figure | value | goal |\n| --- | --- | ---: | --- |\n");
  auto disk_row = [](const DiskProbe& d) {
    return fmt::format("{} (p50 {:.2f}, p99 {:.2f} ms)", grouped(d.syncs_per_s), d.p50_ms,
                       d.p99_ms);
  };
  row("0. the disk alone", "4 KiB pwrite + fdatasync in place: per second", disk_row(in_place));
  row("", "4 KiB pwrite + fdatasync growing the file: per second", disk_row(growing));
  row("1. one appender, one event per commit", "durable appends/s", grouped(single_rate));
  row("", "append latency p50 / p99", latency(single));
  row("", "commit (write + fsync), average", fmt::format("{:.2f} ms", single.commit_ms));
  row("", "CPU per event (user + sys)", fmt::format("{:.0f} µs", single.cpu_us_per_event));
  row(fmt::format("2. {} appenders, one event per call, group commit", appenders),
      "durable events/s", grouped(group_rate), goal(group_rate, 100'000));
  row("", "appends per commit: average / largest",
      fmt::format("{:.1f} / {}", group.group, group.max_group));
  row("", "append latency p50 / p99", latency(group));
  row("", "commit (write + fsync), average", fmt::format("{:.2f} ms", group.commit_ms));
  row("", "CPU per event (user + sys)", fmt::format("{:.0f} µs", group.cpu_us_per_event));
  const double async_rate = rate(async.events, async.seconds);
  row(fmt::format("2b. {} appends in flight from one thread (append_async)", appenders),
      "durable events/s", grouped(async_rate), goal(async_rate, 100'000));
  row("", "appends per commit: average / largest",
      fmt::format("{:.1f} / {}", async.group, async.max_group));
  row("", "append latency p50 / p99", latency(async));
  row("", "commit (write + fsync), average", fmt::format("{:.2f} ms", async.commit_ms));
  row("", "CPU per event (user + sys)", fmt::format("{:.0f} µs", async.cpu_us_per_event));
  row(fmt::format("3. log of {} events", grouped(n)),
      fmt::format("bulk fill, {} events per append: events/s", kTicketsPerFill * kEventsPerTicket),
      grouped(rate(n_events, fill_seconds)));
  row("", fmt::format("replay, read_all by {} (read + decode): events/s", kReadChunk),
      grouped(decode_rate), goal(decode_rate, 1'000'000));
  row("", "replay + Record::payload_object(): events/s", grouped(parse_rate));
  row("", "Log::verify(): events/s", grouped(verify_rate), goal(verify_rate, 1'000'000));
  row("4. log size", "data.mdb bytes per event",
      fmt::format("{:.0f}", static_cast<double>(data_bytes) / n));
  row("", "compacted backup bytes per event",
      fmt::format("{:.0f}", static_cast<double>(backup_bytes) / n));
  row("", "Log::backup() time", fmt::format("{:.2f} s", backup_seconds));
  fmt::print(
      "\nAppend phases ran {:.1f} s each ({}, {} and {} events); latencies include the wait for "
      "a group commit. Reads ran on a warm page cache; the first replay also mapped the pages "
      "in.\n",
      seconds, grouped(static_cast<double>(single.events)),
      grouped(static_cast<double>(group.events)), grouped(static_cast<double>(async.events)));
  return 0;
}

int main(int argc, char** argv) {
  portico::bench::g_program = "portico-log-bench";
  try {
    return run(argc, argv);
  } catch (const Failure& f) {
    return f.status;
  }
}
