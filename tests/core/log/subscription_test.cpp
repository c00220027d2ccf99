// Subscriptions: catch-up then live, in order, no gap, no duplicate, across processes.
#include <doctest/doctest.h>

#include <thread>

#include "../../support/child_process.hpp"
#include "fixtures.hpp"

namespace plog = portico::log;
using namespace std::chrono_literals;
using portico::test::open_log;
using portico::test::TempDir;
using portico::test::write;
using EV = plog::ExpectedVersion;

TEST_CASE("a subscription catches up from a position - then delivers new commits") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("a", EV::any(), 5)));
  auto sub = log->subscribe(3);
  CHECK(sub.position() == 2);
  auto first = sub.next(2, 1s);
  REQUIRE(first);
  REQUIRE(first->size() == 2);
  CHECK(first->at(0).position == 3);
  CHECK(first->at(1).position == 4);
  auto second = sub.next(100, 1s);
  REQUIRE(second->size() == 1);
  CHECK(second->at(0).position == 5);

  auto idle = sub.next(100, 20ms);
  REQUIRE(idle);
  CHECK(idle->empty());

  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    CHECK(log->append(write("b", EV::any())));
  });
  // Woken by the commit: the generous timeout only bounds a broken test.
  auto live = sub.next(100, 30s);
  writer.join();
  REQUIRE(live);
  REQUIRE(live->size() == 1);
  CHECK(live->at(0).position == 6);
  CHECK(live->at(0).stream == "b");
}

TEST_CASE("a subscriber reading while writers append sees every position exactly once - in order") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("before", EV::any(), 50)));
  constexpr int kWriters = 4, kPerWriter = 200;
  constexpr std::uint64_t kTotal = 50 + kWriters * kPerWriter;

  std::vector<std::uint64_t> seen;
  std::thread reader([&] {
    auto sub = log->subscribe(1);
    while (seen.size() < kTotal) {
      auto batch = sub.next(37, 30s);  // an odd chunk size crosses commit boundaries
      if (!batch || batch->empty()) break;
      for (const auto& r : *batch) seen.push_back(r.position);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        CHECK(log->append(write("w" + std::to_string(w), EV::any())));
      }
    });
  }
  for (auto& t : writers) t.join();
  reader.join();
  REQUIRE(seen.size() == kTotal);
  for (std::uint64_t i = 0; i < kTotal; ++i) CHECK(seen[i] == i + 1);
}

TEST_CASE("a subscription may wait for ever: the longest timeout does not overflow") {
  TempDir dir;
  auto log = open_log(dir.path());
  auto sub = log->subscribe(1);
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    CHECK(log->append(write("a", EV::any())));
  });
  auto r = sub.next(10, std::chrono::milliseconds::max());
  writer.join();
  REQUIRE(r);
  CHECK(r->size() == 1);
}

TEST_CASE("close() wakes a subscriber blocked in next()") {
  TempDir dir;
  auto log = open_log(dir.path());
  auto sub = log->subscribe(1);
  std::optional<plog::LogResult<std::vector<plog::Record>>> result;
  std::thread waiter([&] { result.emplace(sub.next(10, 60s)); });
  std::this_thread::sleep_for(50ms);
  sub.close();
  waiter.join();
  REQUIRE(result);
  REQUIRE_FALSE(*result);
  CHECK(result->error().code == plog::Errc::closed);
  CHECK(sub.next(10, 1ms).error().code == plog::Errc::closed);
}

TEST_CASE("a subscription sees appends made by another process") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("mine", EV::any())));
  auto sub = log->subscribe(2);
  CHECK(sub.next(10, 10ms)->empty());
  portico::test::ChildProcess child(
      {PORTICO_LOG_TEST_CHILD, "append", dir.path().string(), "theirs", "25"});
  std::vector<plog::Record> got;
  while (got.size() < 25) {
    auto batch = sub.next(100, 30s);
    REQUIRE(batch);
    if (batch->empty()) {
      child.kill(SIGKILL);
      FAIL("no event from the other process; it wrote: " << child.read_rest() << " head "
                                                         << log->head().value());
    }
    for (auto& r : *batch) got.push_back(std::move(r));
  }
  CHECK(child.read_line(30s) == "done 25");
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].position == i + 2);
    CHECK(got[i].stream == "theirs");
    CHECK(got[i].stream_version == i + 1);
  }
}

TEST_CASE("a moved subscription keeps its place") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("a", EV::any(), 3)));
  auto sub = log->subscribe(1);
  REQUIRE(sub.next(1, 1s)->size() == 1);
  plog::Subscription moved = std::move(sub);
  CHECK(moved.position() == 1);
  auto rest = moved.next(10, 1s);
  REQUIRE(rest->size() == 2);
  CHECK(rest->at(0).position == 2);
}
