// Many threads and several processes appending to overlapping streams.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <thread>

#include "../../support/child_process.hpp"
#include "fixtures.hpp"

namespace plog = portico::log;
using portico::test::open_log;
using portico::test::TempDir;
using portico::test::write;
using EV = plog::ExpectedVersion;

TEST_CASE("threads appending with expected versions to overlapping streams lose nothing") {
  TempDir dir;
  auto log = open_log(dir.path());
  constexpr int kThreads = 12, kAppendsPerThread = 150, kStreams = 5;
  std::vector<std::map<std::string, int>> wins(kThreads);  // per thread: successful appends
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < kAppendsPerThread; ++i) {
        const std::string stream = "s" + std::to_string(rng() % kStreams);
        // Read-decide-append, retried on conflict: the optimistic concurrency pattern.
        for (;;) {
          const std::uint64_t v = log->stream_version(stream).value();
          auto r = log->append(write(stream, EV::exactly(v)));
          if (r) {
            CHECK(r->events[0].stream_version == v + 1);
            ++wins[t][stream];
            break;
          }
          // Assertions that throw must not run on these threads.
          CHECK(r.error().code == plog::Errc::conflict);
          if (r.error().code != plog::Errc::conflict) return;
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  std::map<std::string, std::uint64_t> expected;
  for (const auto& w : wins) {
    for (const auto& [stream, n] : w) expected[stream] += n;
  }
  std::uint64_t total = 0;
  for (const auto& [stream, n] : expected) {
    CHECK(log->stream_version(stream).value() == n);
    auto records = log->read_stream(stream, 1, plog::Direction::forward, 100'000);
    REQUIRE(records->size() == n);
    for (std::uint64_t v = 0; v < n; ++v) CHECK((*records)[v].stream_version == v + 1);
    total += n;
  }
  CHECK(total == kThreads * kAppendsPerThread);
  CHECK(log->head().value() == total);
  auto report = log->verify();
  REQUIRE(report);
  CHECK(report->ok);
  CHECK(report->events == total);
  CHECK(log->stats().conflicts == static_cast<std::uint64_t>(conflicts.load()));
  MESSAGE("conflicts retried: " << conflicts.load() << ", commits: " << log->stats().commits
                                << " for " << total << " appends");
}

TEST_CASE("another process appends while this one has the log open: positions stay dense") {
  TempDir dir;
  auto log = open_log(dir.path());
  portico::test::ChildProcess child(
      {PORTICO_LOG_TEST_CHILD, "append", dir.path().string(), "from-child", "300"});
  for (int i = 0; i < 300; ++i) REQUIRE(log->append(write("from-parent", EV::any())));
  auto line = child.read_line(std::chrono::seconds(60));
  REQUIRE(line);
  CHECK(*line == "done 300");
  child.wait();

  CHECK(log->head().value() == 600);
  CHECK(log->stream_version("from-child").value() == 300);
  CHECK(log->stream_version("from-parent").value() == 300);
  auto report = log->verify();
  REQUIRE(report);
  CHECK(report->ok);
  CHECK(report->streams == 2);
}
