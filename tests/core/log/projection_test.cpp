// Projections kept by the log: inline ones commit with the events, async ones with their own
// checkpoint; rebuild, check, catch-up and crash safety.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "../../support/child_process.hpp"
#include "count_projection.hpp"
#include "fixtures.hpp"
#include "map_trap.hpp"

namespace plog = portico::log;
using namespace std::chrono_literals;
using portico::test::CountProjection;
using portico::test::open_log;
using portico::test::TempDir;
using portico::test::write;

namespace {

plog::Options with(std::shared_ptr<plog::Projection> p, bool is_inline = true) {
  plog::Options o;
  (is_inline ? o.projections : o.async_projections).push_back(std::move(p));
  return o;
}

struct Counts {
  std::uint64_t position = 0;
  long events = 0;
  long stream_a = 0;
};

Counts counts(const plog::Log& log, std::string_view name = "counts") {
  Counts c;
  auto ok = log.read_projection(name, [&](const plog::TableReader& t) {
    c.position = t.position();
    c.events = CountProjection::read(t, 1, "events");
    c.stream_a = CountProjection::read(t, 0, "a");
  });
  REQUIRE_MESSAGE(ok, ok.error().message);
  return c;
}

}  // namespace

TEST_CASE("an inline projection shows an append as soon as the append returns") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  CHECK(counts(*log).events == 0);
  REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 3)));
  REQUIRE(log->append(write("b", plog::ExpectedVersion::any(), 2)));
  const Counts c = counts(*log);
  CHECK(c.position == 5);
  CHECK(c.events == 5);
  CHECK(c.stream_a == 3);
}

TEST_CASE("readers never see the projection and the log disagree under concurrent appends") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  std::atomic<bool> stop{false};
  std::atomic<int> mismatches{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto ok = log->read_projection("counts", [&](const plog::TableReader& t) {
        if (CountProjection::read(t, 1, "events") != static_cast<long>(t.position())) ++mismatches;
      });
      if (ok) ++reads;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto r =
            log->append(write("s" + std::to_string(t), plog::ExpectedVersion::any(), 1 + i % 3));
        if (!r) FAIL_CHECK(r.error().message);
        // Read-your-writes: what this thread appended is already counted.
        const Counts c = counts(*log);
        CHECK(c.position >= r->events.back().position);
      }
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  CHECK(mismatches == 0);
  CHECK(reads > 0);
  const Counts c = counts(*log);
  CHECK(c.position == log->head().value());
  CHECK(c.events == static_cast<long>(log->head().value()));
}

TEST_CASE("an event a projection refuses fails its own append only and writes nothing") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  // Several appends queued together, so that they share one group commit.
  std::vector<std::shared_ptr<std::promise<plog::LogResult<plog::AppendResult>>>> promises;
  std::vector<std::future<plog::LogResult<plog::AppendResult>>> results;
  for (int i = 0; i < 6; ++i) {
    auto w = write("s" + std::to_string(i), plog::ExpectedVersion::any());
    if (i == 3) w.events.push_back(portico::test::event("Poison"));
    auto p = std::make_shared<std::promise<plog::LogResult<plog::AppendResult>>>();
    results.push_back(p->get_future());
    log->append_async(std::span(&w, 1), [p](auto r) { p->set_value(std::move(r)); });
  }
  for (int i = 0; i < 6; ++i) {
    auto r = results[static_cast<std::size_t>(i)].get();
    if (i == 3) {
      REQUIRE_FALSE(r);
      CHECK(r.error().code == plog::Errc::projection_failed);
      CHECK(r.error().message.find("Poison") != std::string::npos);
    } else {
      CHECK(r);
    }
  }
  CHECK(log->head().value() == 5);
  CHECK(log->stream_version("s3").value() == 0);
  CHECK(counts(*log).events == 5);
}

TEST_CASE("a projection registered on an existing log catches up at open") {
  TempDir dir;
  {
    auto log = open_log(dir.path());
    for (int i = 0; i < 20; ++i)
      REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 1000)));
  }
  std::vector<std::uint64_t> progress;
  auto options = with(std::make_shared<CountProjection>());
  options.rebuild_progress = [&](std::string_view name, std::uint64_t done, std::uint64_t total) {
    CHECK(name == "counts");
    CHECK(done <= total);
    progress.push_back(done);
  };
  auto log = open_log(dir.path(), std::move(options));
  const Counts c = counts(*log);
  CHECK(c.position == 20'000);
  CHECK(c.events == 20'000);
  CHECK(progress.size() >= 2);  // in chunks
  CHECK(progress.back() == 20'000);
}

TEST_CASE("events appended by a process without the projection are projected at the next commit") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  REQUIRE(log->append(write("a", plog::ExpectedVersion::any())));
  auto child =
      portico::test::run({PORTICO_LOG_TEST_CHILD, "append", dir.path().string(), "a", "7"});
  REQUIRE(child.exit_code == 0);
  CHECK(counts(*log).events == 1);  // behind: nobody projected the other process's events yet
  REQUIRE(log->append(write("b", plog::ExpectedVersion::any())));
  const Counts c = counts(*log);
  CHECK(c.position == 9);
  CHECK(c.events == 9);
  CHECK(c.stream_a == 8);
}

TEST_CASE("a projection whose version changed is rebuilt at open") {
  TempDir dir;
  {
    auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(1, 1)));
    REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 4)));
    CHECK(log->projection_info("counts").value().slot == 0);
  }
  {
    // Same version, different code: nothing is rebuilt (this is what check_projections finds).
    auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(1, 10)));
    CHECK(counts(*log).events == 4);
  }
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(2, 10)));
  CHECK(counts(*log).events == 40);
  const auto info = log->projection_info("counts").value();
  CHECK(info.version == 2);
  CHECK(info.slot == 1);
  CHECK(info.position == 4);
}

TEST_CASE("check finds live tables that differ from a rebuild and rebuild repairs them") {
  TempDir dir;
  {
    auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(1, 1)));
    REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 3)));
    auto clean = log->check_projections();
    REQUIRE(clean);
    REQUIRE(clean->size() == 1);
    CHECK(clean->front().differences == 0);
    CHECK(clean->front().entries == 4);  // (a, events) on both sides
    CHECK(clean->front().position == 3);
  }
  // Code that changed without a version bump writes other bytes from here on.
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(1, 2)));
  REQUIRE(log->append(write("b", plog::ExpectedVersion::any(), 1)));
  auto report = log->check_projections();
  REQUIRE(report);
  CHECK(report->front().differences == 2);  // "a" and "events" hold counts of the old code
  REQUIRE(report->front().examples.size() == 2);
  CHECK(report->front().examples[0].find("table by_stream: key 'a'") != std::string::npos);

  std::vector<std::uint64_t> progress;
  REQUIRE(log->rebuild_projections(
      {}, [&](std::uint64_t done, std::uint64_t) { progress.push_back(done); }));
  CHECK_FALSE(progress.empty());
  CHECK(counts(*log).events == 8);
  CHECK(log->check_projections().value().front().differences == 0);
}

TEST_CASE("a rebuild while appends go on swaps in complete tables") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  for (int i = 0; i < 30; ++i) REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 1000)));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      if (!log->append(write("w", plog::ExpectedVersion::any(), 10))) FAIL_CHECK("append failed");
    }
  });
  REQUIRE(log->rebuild_projections());
  stop = true;
  writer.join();
  const Counts c = counts(*log);
  CHECK(c.position == log->head().value());
  CHECK(c.events == static_cast<long>(c.position));
  CHECK(c.stream_a == 30'000);
  CHECK(log->projection_info("counts").value().slot == 1);
  CHECK(log->check_projections().value().front().differences == 0);
}

TEST_CASE("an async projection applies each event once and in order with its checkpoint") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(), false));
  REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 5)));
  CHECK(counts(*log).events == 0);  // nobody fed it yet
  auto all = log->read_all(1, 100).value();
  REQUIRE(log->apply_projection("counts", std::span(all).subspan(0, 3)).value() == 3);
  // Delivered again with the rest: the first three are skipped.
  CHECK(log->apply_projection("counts", all).value() == 5);
  CHECK(counts(*log).events == 5);
  // A gap is refused and changes nothing.
  REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 2)));
  auto later = log->read_all(7, 1).value();
  auto gap = log->apply_projection("counts", later);
  REQUIRE_FALSE(gap);
  CHECK(gap.error().code == plog::Errc::invalid_argument);
  CHECK(counts(*log).position == 5);
  // Inline projections cannot be written beside their events; async ones can.
  REQUIRE(log->write_projection("counts", [](plog::TableWriter& t) -> portico::Result<void> {
    t.put(1, "events", "100");
    return {};
  }));
  CHECK(counts(*log).events == 100);
  // Rebuilding an async projection clears it and starts it over.
  const std::string name = "counts";
  REQUIRE(log->rebuild_projections(std::span(&name, 1)));
  CHECK(counts(*log).position == 0);
  CHECK(counts(*log).events == 0);
}

TEST_CASE("bad projection names and unknown projections are refused clearly") {
  TempDir dir;
  auto bad = plog::Log::open(dir.path(),
                             with(std::make_shared<CountProjection>(1, 1, "Poison", "Bad Name")));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == plog::Errc::invalid_argument);
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  auto missing = log->read_projection("nope", [](const plog::TableReader&) {});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == plog::Errc::invalid_argument);
  auto inline_write = log->write_projection(
      "counts", [](plog::TableWriter&) -> portico::Result<void> { return {}; });
  CHECK_FALSE(inline_write);
}

TEST_CASE("after SIGKILL under load the inline projection matches the log exactly (10 kills)") {
  TempDir dir;
  std::mt19937 rng(4);
  for (int round = 0; round < 10; ++round) {
    {
      portico::test::ChildProcess child(
          {PORTICO_LOG_TEST_CHILD, "crash-projected", dir.path().string(), "4"});
      REQUIRE(child.read_line(30s));
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 80));
      child.kill(SIGKILL);
      child.read_rest();
      child.wait();
    }
    // Read-only: nothing catches up at open, so this sees exactly what the crash left.
    plog::Options options = with(std::make_shared<CountProjection>());
    options.read_only = true;
    options.create = false;
    auto log = open_log(dir.path(), std::move(options));
    const Counts c = counts(*log);
    const auto head = log->head().value();
    REQUIRE(head > 0);
    CHECK_MESSAGE(c.position == head, "round " << round);
    CHECK(c.events == static_cast<long>(head));
  }
}

TEST_CASE(
    "an event another program appended that a projection refuses stalls only the projection") {
  TempDir dir;
  // This program's projection refuses MessagePosted; it appends other events itself.
  auto options = with(std::make_shared<CountProjection>(1, 1, "MessagePosted"));
  std::mutex warnings_mu;
  std::vector<std::string> warnings;
  options.on_warning = [&](std::string_view line) {
    std::lock_guard lock(warnings_mu);
    warnings.emplace_back(line);
  };
  auto log = open_log(dir.path(), options);
  REQUIRE(log->append(write("mine", plog::ExpectedVersion::any())  // "MessagePosted": refused
                      )
              .error()
              .code == plog::Errc::projection_failed);
  plog::StreamWrite other{"mine", plog::ExpectedVersion::any(), {portico::test::event("Other")}};
  REQUIRE(log->append(other));
  // Another program, without the projection, appends what it refuses.
  auto child =
      portico::test::run({PORTICO_LOG_TEST_CHILD, "append", dir.path().string(), "x", "2"});
  REQUIRE(child.exit_code == 0);
  // This program's appends go on...
  REQUIRE(log->append(other));
  REQUIRE(log->append(other));
  // ...while the projection says where it stopped and why.
  auto info = log->projection_info("counts");
  REQUIRE(info);
  CHECK(info->stalled_at == 2);
  CHECK(info->problem.find("refuses MessagePosted") != std::string::npos);
  auto read = log->read_projection("counts", [](const plog::TableReader&) {});
  REQUIRE_FALSE(read);
  CHECK(read.error().code == plog::Errc::projection_failed);
  CHECK(read.error().message.find("stopped at position 2") != std::string::npos);
  {
    // The operator hears of it through Options::on_warning.
    std::lock_guard lock(warnings_mu);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("projection 'counts' stalled:") == 0);
    CHECK(warnings[0].find("refuses MessagePosted") != std::string::npos);
  }
  log.reset();
  // A fixed program rebuilds it, and it goes again.
  log = open_log(dir.path(), with(std::make_shared<CountProjection>(1, 1, "Poison")));
  REQUIRE(log->rebuild_projections());
  CHECK(log->projection_info("counts").value().stalled_at == 0);
  CHECK(counts(*log).events == 5);
}

TEST_CASE("a large backlog from a program without the projection is caught up in chunks") {
  TempDir dir;
  auto log = open_log(dir.path(), with(std::make_shared<CountProjection>()));
  REQUIRE(log->append(write("a", plog::ExpectedVersion::any())));
  auto child =
      portico::test::run({PORTICO_LOG_TEST_CHILD, "append", dir.path().string(), "b", "9000"});
  REQUIRE(child.exit_code == 0);
  REQUIRE(log->append(write("a", plog::ExpectedVersion::any())));
  const Counts c = counts(*log);
  CHECK(c.position == 9002);
  CHECK(c.events == 9002);
}

TEST_CASE("two programs of a new version opening together both open and share one rebuild") {
  TempDir dir;
  {
    auto log = open_log(dir.path(), with(std::make_shared<CountProjection>(1)));
    for (int i = 0; i < 40; ++i) {
      REQUIRE(log->append(write("a", plog::ExpectedVersion::any(), 2500)));
    }
  }
  portico::test::ChildProcess a(
      {PORTICO_LOG_TEST_CHILD, "open-projected", dir.path().string(), "2"});
  portico::test::ChildProcess b(
      {PORTICO_LOG_TEST_CHILD, "open-projected", dir.path().string(), "2"});
  const std::string out_a = a.read_rest(), out_b = b.read_rest();
  CHECK(a.wait() == 0);
  CHECK(b.wait() == 0);
  CHECK(out_a == "ok 100000 \n");
  CHECK(out_b == "ok 100000 \n");
}

TEST_CASE(
    "the watcher of other commits never reads the map while it grows - a subscription waits and "
    "an async projection commits") {
  // A waiting subscription starts the watcher of other processes' commits, which reads LMDB's
  // environment (in the memory map) every 2 to 50 ms, and async projection commits keep it looking
  // every few milliseconds; the appends grow the map meanwhile. Each growth is trapped
  // (map_trap.hpp): the map stays unreadable until someone waits for the map lock. A watcher that
  // reads the environment under the lock waits there; one that reads it without the lock faults.
  TempDir dir;
  auto options = with(std::make_shared<CountProjection>(), /*is_inline=*/false);
  options.initial_map_size = 1 << 20;
  auto log = open_log(dir.path(), options);
  auto sub = log->subscribe(1);
  REQUIRE(sub.next(64, 1ms));  // nothing yet: it waits, and the watcher starts
  portico::test::MapTrap trap(dir.path() / "data.mdb");
  constexpr long kEvents = 1200;
  std::atomic<long> delivered{0};
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    while (!done && delivered < kEvents) {
      auto records = sub.next(64, 10s);
      if (!records) break;
      delivered += static_cast<long>(records->size());
    }
  });
  std::uint64_t applied = 0;
  for (int i = 0; i < kEvents / 4; ++i) {
    REQUIRE(log->append(write("big", plog::ExpectedVersion::any(), 4, std::string(16'000, 'x'))));
    auto records = log->read_all(applied + 1, 64);
    REQUIRE(records);
    auto at = log->apply_projection("counts", *records);
    REQUIRE_MESSAGE(at, at.error().message);
    applied = *at;
  }
  for (int i = 0; i < 1000 && delivered < kEvents; ++i) std::this_thread::sleep_for(10ms);
  done = true;
  sub.close();
  waiter.join();
  MESSAGE("growths trapped: " << trap.windows() << ", a reader waiting in " << trap.caught());
  CHECK(log->stats().map_grows >= 5);
  CHECK(trap.windows() >= 5);
  CHECK(trap.trapped_bytes() > 0);
  CHECK(trap.caught() == trap.windows());  // the watcher (or a reader) waited out every growth
  CHECK(delivered == kEvents);
  CHECK(counts(*log).events == kEvents);
}
