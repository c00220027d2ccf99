// Appending: atomicity, expected versions, idempotent retries, limits; and reading back.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "fixtures.hpp"

namespace plog = portico::log;
using portico::test::event;
using portico::test::open_log;
using portico::test::TempDir;
using portico::test::write;
using EV = plog::ExpectedVersion;

TEST_CASE("appended events read back with dense positions and stream versions") {
  TempDir dir;
  auto log = open_log(dir.path());
  auto a = log->append(write("ticket-1", EV::no_stream(), 2));
  REQUIRE(a);
  CHECK_FALSE(a->duplicate);
  REQUIRE(a->events.size() == 2);
  CHECK(a->events[0].position == 1);
  CHECK(a->events[0].stream_version == 1);
  CHECK(a->events[1].position == 2);
  CHECK(a->events[1].stream_version == 2);
  auto b = log->append(write("ticket-2", EV::no_stream()));
  REQUIRE(b);
  CHECK(b->events[0].position == 3);
  CHECK(b->events[0].stream_version == 1);

  auto all = log->read_all(1, 100);
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].stream == "ticket-1");
  CHECK((*all)[2].stream == "ticket-2");
  CHECK((*all)[1].prev_hash == (*all)[0].hash);
  CHECK((*all)[2].prev_hash == (*all)[1].hash);
  CHECK((*all)[0].prev_hash == plog::Hash{});
  CHECK((*all)[0].hash == a->events[0].hash);
  CHECK((*all)[0].payload_object().at("body") == "hello");
  CHECK((*all)[0].actor == plog::Actor{plog::Realm::customer, "cust-1"});
  CHECK(log->head().value() == 3);
  CHECK(log->stream_version("ticket-1").value() == 2);
  CHECK(log->stream_version("nobody").value() == 0);
}

TEST_CASE("the log assigns UUIDv7 ids when none is given and keeps given ids") {
  TempDir dir;
  auto log = open_log(dir.path());
  plog::StreamWrite w = write("s", EV::any(), 2);
  const plog::Uuid mine = plog::new_uuid_v4();
  w.events[1].id = mine;
  auto a = log->append(w);
  REQUIRE(a);
  CHECK((a->events[0].id.bytes[6] >> 4) == 7);
  CHECK(a->events[1].id == mine);
  CHECK(log->read_all(2, 1)->at(0).id == mine);
}

TEST_CASE("an append to a stream at another version is a typed conflict and writes nothing") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("t", EV::no_stream(), 3)));

  SUBCASE("exactly N with the stream elsewhere") {
    auto r = log->append(write("t", EV::exactly(2)));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == plog::Errc::conflict);
    REQUIRE(r.error().conflict);
    CHECK(r.error().conflict->stream == "t");
    CHECK(r.error().conflict->expected == EV::exactly(2));
    CHECK(r.error().conflict->actual == 3);
  }
  SUBCASE("no_stream on an existing stream") {
    auto r = log->append(write("t", EV::no_stream()));
    REQUIRE_FALSE(r);
    CHECK(r.error().conflict->actual == 3);
  }
  SUBCASE("exactly N on a stream that does not exist") {
    auto r = log->append(write("other", EV::exactly(1)));
    REQUIRE_FALSE(r);
    CHECK(r.error().conflict->actual == 0);
    CHECK(log->stream_version("other").value() == 0);
  }
  CHECK(log->head().value() == 3);
  CHECK(log->stats().conflicts == 1);
  CHECK(log->append(write("t", EV::exactly(3))));
  CHECK(log->append(write("t", EV::any())));
  CHECK(log->stream_version("t").value() == 5);
}

TEST_CASE("an append to several streams is atomic: one conflict and none is written") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("a", EV::no_stream())));
  std::vector<plog::StreamWrite> writes{write("a", EV::exactly(1), 2), write("b", EV::no_stream()),
                                        write("c", EV::exactly(5))};
  auto r = log->append(writes);
  REQUIRE_FALSE(r);
  CHECK(r.error().conflict->stream == "c");
  CHECK(log->head().value() == 1);
  CHECK(log->stream_version("a").value() == 1);
  CHECK(log->stream_version("b").value() == 0);

  writes[2].expected = EV::no_stream();
  auto ok = log->append(writes);
  REQUIRE(ok);
  REQUIRE(ok->events.size() == 4);
  CHECK(ok->events[0].position == 2);
  CHECK(ok->events[3].position == 5);
  CHECK(log->stream_version("a").value() == 3);
  CHECK(log->stream_version("b").value() == 1);
  CHECK(log->stream_version("c").value() == 1);
  CHECK(log->verify()->ok);
}

TEST_CASE("re-appending stored event ids returns the original positions and writes nothing") {
  TempDir dir;
  auto log = open_log(dir.path());
  plog::StreamWrite w = write("t", EV::no_stream(), 2);
  for (auto& e : w.events) e.id = plog::new_uuid_v7();
  auto first = log->append(w);
  REQUIRE(first);
  REQUIRE(log->append(write("t", EV::any())));

  // The retry carries the stale expected version of the first try: still the first answer.
  auto again = log->append(w);
  REQUIRE(again);
  CHECK(again->duplicate);
  REQUIRE(again->events.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(again->events[i].position == first->events[i].position);
    CHECK(again->events[i].stream_version == first->events[i].stream_version);
    CHECK(again->events[i].hash == first->events[i].hash);
    CHECK(again->events[i].id == first->events[i].id);
  }
  CHECK(log->head().value() == 3);

  SUBCASE("a retry that mixes stored and new ids is refused") {
    plog::StreamWrite mixed = w;
    mixed.events.push_back(event());
    auto r = log->append(mixed);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == plog::Errc::conflict);
    CHECK(log->head().value() == 3);
  }
  SUBCASE("an id stored in another stream is refused") {
    plog::StreamWrite elsewhere = w;
    elsewhere.stream = "other";
    auto r = log->append(elsewhere);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == plog::Errc::conflict);
    CHECK(log->stream_version("other").value() == 0);
  }
}

TEST_CASE("limits are enforced with invalid_argument and nothing is written") {
  TempDir dir;
  auto log = open_log(dir.path());
  auto refused = [&](const plog::StreamWrite& w) {
    auto r = log->append(w);
    return !r && r.error().code == plog::Errc::invalid_argument;
  };
  CHECK(refused(write("", EV::any())));
  CHECK(refused(write(std::string(plog::kMaxStreamIdBytes + 1, 's'), EV::any())));
  CHECK_FALSE(refused(write(std::string(plog::kMaxStreamIdBytes, 's'), EV::any())));
  CHECK(refused(write("tab\there", EV::any())));
  CHECK(refused(write("bad\xff utf8", EV::any())));
  CHECK(refused(write("cut \xe2\x82", EV::any())));
  CHECK_FALSE(refused(write("caf\xc3\xa9-\xe2\x82\xac", EV::any())));
  CHECK(refused(plog::StreamWrite{"no-events", EV::any(), {}}));

  plog::StreamWrite w = write("s", EV::any());
  w.events[0].type = "";
  CHECK(refused(w));
  w.events[0].type = "Has Space";
  CHECK(refused(w));
  w.events[0].type = std::string(plog::kMaxTypeBytes + 1, 'T');
  CHECK(refused(w));
  w.events[0].type = "ok.Type:v-1_x";
  CHECK_FALSE(refused(w));

  w = write("s", EV::any());
  w.events[0].schema_version = 0;
  CHECK(refused(w));
  w = write("s", EV::any());
  w.events[0].actor = {plog::Realm::staff, ""};
  CHECK(refused(w));
  w.events[0].actor = {plog::Realm::staff, std::string(plog::kMaxActorIdBytes + 1, 'a')};
  CHECK(refused(w));
  w.events[0].actor = {static_cast<plog::Realm>(9), "x"};
  CHECK(refused(w));

  w = write("s", EV::any(), 1, std::string(plog::kMaxPayloadBytes, 'x'));
  CHECK(refused(w));
  w = write("s", EV::any(), 1, std::string(plog::kMaxPayloadBytes - 100, 'x'));
  CHECK_FALSE(refused(w));
  w = write("s", EV::any());
  w.events[0].sealed = std::string(plog::kMaxSealedBytes + 1, '\0');
  CHECK(refused(w));

  w = write("s", EV::any(), static_cast<int>(plog::kMaxEventsPerAppend) + 1);
  CHECK(refused(w));
  w = write("s", EV::any(), 2);
  w.events[1].id = w.events[0].id = plog::new_uuid_v7();
  CHECK(refused(w));
  std::vector<plog::StreamWrite> twice{write("s", EV::any()), write("s", EV::any())};
  auto r = log->append(twice);
  CHECK((!r && r.error().code == plog::Errc::invalid_argument));
  CHECK(log->append(std::span<const plog::StreamWrite>{}).error().code ==
        plog::Errc::invalid_argument);

  const auto head = log->head().value();
  CHECK(head == 4);  // the four appends at the limits
  CHECK(log->verify()->ok);
}

TEST_CASE("a stream reads forwards and backwards from any version") {
  TempDir dir;
  auto log = open_log(dir.path());
  for (int i = 1; i <= 10; ++i) {
    REQUIRE(log->append(write("mine", EV::any(), 1, "m" + std::to_string(i))));
    REQUIRE(log->append(write("noise", EV::any())));
  }
  auto versions = [](const std::vector<plog::Record>& rs) {
    std::vector<std::uint64_t> out;
    for (const auto& r : rs) out.push_back(r.stream_version);
    return out;
  };
  using V = std::vector<std::uint64_t>;
  CHECK(versions(*log->read_stream("mine", 1, plog::Direction::forward, 100)) ==
        V{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(versions(*log->read_stream("mine", 4, plog::Direction::forward, 3)) == V{4, 5, 6});
  CHECK(versions(*log->read_stream("mine", 0, plog::Direction::forward, 2)) == V{1, 2});
  CHECK(log->read_stream("mine", 11, plog::Direction::forward, 5)->empty());
  CHECK(versions(*log->read_stream("mine", plog::kEndOfStream, plog::Direction::backward, 3)) ==
        V{10, 9, 8});
  CHECK(versions(*log->read_stream("mine", 4, plog::Direction::backward, 100)) == V{4, 3, 2, 1});
  CHECK(versions(*log->read_stream("mine", 50, plog::Direction::backward, 2)) == V{10, 9});
  CHECK(log->read_stream("mine", 1, plog::Direction::forward, 0)->empty());
  CHECK(log->read_stream("unknown", 1, plog::Direction::forward, 10)->empty());
  auto r = log->read_stream("mine", 3, plog::Direction::forward, 1);
  CHECK(r->at(0).payload_object().at("body") == "m3");
  CHECK(r->at(0).position == 5);
}

TEST_CASE("the whole log reads forwards from any position") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("a", EV::any(), 5)));
  auto r = log->read_all(3, 2);
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK(r->at(0).position == 3);
  CHECK(r->at(1).position == 4);
  CHECK(log->read_all(0, 10)->size() == 5);
  CHECK(log->read_all(6, 10)->empty());
}

TEST_CASE("recorded-at times never go backwards - whatever the clock says") {
  TempDir dir;
  std::int64_t now = 1'000'000;
  plog::Options options;
  options.clock = [&] { return now; };
  auto log = open_log(dir.path(), options);
  REQUIRE(log->append(write("a", EV::any())));
  now = 500;  // the clock jumps back
  REQUIRE(log->append(write("a", EV::any())));
  now = 2'000'000;
  REQUIRE(log->append(write("a", EV::any())));
  auto r = log->read_all(1, 10);
  CHECK(r->at(0).recorded_at_us == 1'000'000);
  CHECK(r->at(1).recorded_at_us == 1'000'000);
  CHECK(r->at(2).recorded_at_us == 2'000'000);
}

TEST_CASE("a log keeps everything across close and reopen") {
  TempDir dir;
  plog::Hash last{};
  {
    auto log = open_log(dir.path());
    auto a = log->append(write("a", EV::any(), 3));
    REQUIRE(a);
    last = a->events.back().hash;
  }
  auto log = open_log(dir.path());
  CHECK(log->head().value() == 3);
  auto b = log->append(write("a", EV::exactly(3)));
  REQUIRE(b);
  CHECK(b->events[0].position == 4);
  CHECK(log->read_all(4, 1)->at(0).prev_hash == last);
  CHECK(log->verify()->ok);
}

TEST_CASE("one process opens a directory once at a time") {
  TempDir dir;
  auto log = open_log(dir.path());
  auto second = plog::Log::open(dir.path());
  REQUIRE_FALSE(second);
  CHECK(second.error().code == plog::Errc::already_open);
  auto via_other_name = plog::Log::open(dir.path() / "." / "");
  REQUIRE_FALSE(via_other_name);
  CHECK(via_other_name.error().code == plog::Errc::already_open);
  log.reset();
  CHECK(plog::Log::open(dir.path()));
}

TEST_CASE("a read-only log reads and refuses appends") {
  TempDir dir;
  { REQUIRE(open_log(dir.path())->append(write("a", EV::any(), 2))); }
  plog::Options options;
  options.read_only = true;
  auto log = open_log(dir.path(), options);
  CHECK(log->read_all(1, 10)->size() == 2);
  auto r = log->append(write("a", EV::any()));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == plog::Errc::read_only);
}

TEST_CASE("opening what is not a log fails clearly") {
  TempDir dir;
  plog::Options options;
  options.create = false;
  auto missing = plog::Log::open(dir / "nothing-here", options);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == plog::Errc::invalid_argument);
  auto empty = plog::Log::open(dir.path(), options);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().message.find("no log") != std::string::npos);
}

TEST_CASE("appends from many threads are group-committed - a conflicting one fails alone") {
  TempDir dir;
  constexpr int kThreads = 16;
  std::atomic<int> clock_calls{0};
  plog::Options options;
  // The first commit's clock call stalls, so every other appender queues up behind it and the
  // next leader takes them all into one transaction.
  options.clock = [&] {
    if (clock_calls++ == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return std::int64_t{1};
  };
  auto log = open_log(dir.path(), options);
  REQUIRE(log->append(write("warm-up", EV::any())));

  std::vector<std::optional<plog::LogResult<plog::AppendResult>>> results(kThreads);
  std::vector<std::thread> threads;
  // Start the stalled leader in a thread, then the others while it sleeps.
  std::thread leader([&] { results[0].emplace(log->append(write("lead", EV::any()))); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int t = 1; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Odd threads expect a version their stream is not at.
      const auto expected = t % 2 ? EV::exactly(7) : EV::no_stream();
      results[t].emplace(log->append(write("s" + std::to_string(t), expected)));
    });
  }
  leader.join();
  for (auto& th : threads) th.join();

  for (int t = 1; t < kThreads; ++t) {
    REQUIRE(results[t]);
    if (t % 2) {
      CHECK((!*results[t] && results[t]->error().code == plog::Errc::conflict));
    } else {
      CHECK(*results[t]);
    }
  }
  CHECK(log->stats().max_batch >= 2);
  int successes = 2;  // warm-up and the leader
  for (int t = 1; t < kThreads; ++t) successes += t % 2 ? 0 : 1;
  CHECK(log->head().value() == static_cast<std::uint64_t>(successes));
  CHECK(log->verify()->ok);
}

TEST_CASE(
    "append_async answers every append once - in queue order - and refuses bad input inline") {
  TempDir dir;
  auto log = open_log(dir.path());
  constexpr int kAppends = 500;
  std::mutex mu;
  std::vector<std::uint64_t> positions;
  std::atomic<int> answered{0};
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> on_commit_thread{true};
  for (int i = 0; i < kAppends; ++i) {
    const plog::StreamWrite w = write("s" + std::to_string(i % 7), EV::any());
    log->append_async(std::span<const plog::StreamWrite>(&w, 1),
                      [&](plog::LogResult<plog::AppendResult> r) {
                        if (std::this_thread::get_id() == caller) on_commit_thread = false;
                        std::lock_guard lock(mu);
                        positions.push_back(r ? r->events[0].position : 0);
                        ++answered;
                      });
  }
  // Refused input is answered on the calling thread before append_async returns.
  bool refused_inline = false;
  const plog::StreamWrite bad = write("", EV::any());
  log->append_async(std::span<const plog::StreamWrite>(&bad, 1),
                    [&](plog::LogResult<plog::AppendResult> r) {
                      refused_inline = !r && r.error().code == plog::Errc::invalid_argument &&
                                       std::this_thread::get_id() == caller;
                    });
  CHECK(refused_inline);

  log.reset();  // destroying the log answers everything queued first
  CHECK(answered == kAppends);
  CHECK(on_commit_thread);
  REQUIRE(positions.size() == kAppends);
  for (int i = 0; i < kAppends; ++i) CHECK(positions[static_cast<std::size_t>(i)] == i + 1u);
  auto reopened = open_log(dir.path());
  CHECK(reopened->head().value() == kAppends);
  CHECK(reopened->verify()->ok);
}

TEST_CASE("an append_async conflict fails alone among the appends committed with it") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("t", EV::no_stream())));
  std::vector<std::optional<plog::LogResult<plog::AppendResult>>> results(3);
  std::mutex mu;
  const std::vector<plog::StreamWrite> writes{
      write("t", EV::exactly(1)), write("t", EV::exactly(1)), write("u", EV::no_stream())};
  std::atomic<int> answered{0};
  for (std::size_t i = 0; i < writes.size(); ++i) {
    log->append_async(std::span<const plog::StreamWrite>(&writes[i], 1),
                      [&, i](plog::LogResult<plog::AppendResult> r) {
                        std::lock_guard lock(mu);
                        results[i].emplace(std::move(r));
                        ++answered;
                      });
  }
  log.reset();
  REQUIRE(answered == 3);
  CHECK(*results[0]);
  REQUIRE_FALSE(*results[1]);  // the second saw the first's version 2
  CHECK(results[1]->error().code == plog::Errc::conflict);
  CHECK(results[1]->error().conflict->actual == 2);
  CHECK(*results[2]);
}

TEST_CASE("an event is found by its id - an unknown id finds nothing") {
  TempDir dir;
  auto log = open_log(dir.path());
  plog::StreamWrite w = write("s", EV::any(), 3);
  w.events[1].id = plog::new_uuid_v4();
  REQUIRE(log->append(w));
  auto found = log->find(w.events[1].id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->position == 2);
  CHECK((*found)->stream == "s");
  auto missing = log->find(plog::new_uuid_v4());
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("an append that cannot fit fails alone - the appends committed with it succeed") {
  TempDir dir;
  plog::Options options;
  options.initial_map_size = 1 << 20;
  options.max_map_size = 4 << 20;
  std::atomic<int> clock_calls{0};
  // The second commit's clock call stalls, so the next two appends queue into one batch.
  options.clock = [&] {
    if (clock_calls++ == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return std::int64_t{1};
  };
  auto log = open_log(dir.path(), options);
  REQUIRE(log->append(write("warm-up", EV::any())));
  std::thread leader([&] { CHECK(log->append(write("lead", EV::any()))); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const plog::StreamWrite huge = write("huge", EV::any(), 5, std::string(900'000, 'h'));
  const plog::StreamWrite small = write("small", EV::any());
  std::optional<plog::LogResult<plog::AppendResult>> huge_result, small_result;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  auto answer = [&](std::optional<plog::LogResult<plog::AppendResult>>& slot) {
    return [&](plog::LogResult<plog::AppendResult> r) {
      std::lock_guard lock(mu);
      slot.emplace(std::move(r));
      ++answered;
      cv.notify_all();
    };
  };
  log->append_async(std::span<const plog::StreamWrite>(&huge, 1), answer(huge_result));
  log->append_async(std::span<const plog::StreamWrite>(&small, 1), answer(small_result));
  leader.join();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return answered == 2; });
  }
  REQUIRE_FALSE(*huge_result);
  CHECK(huge_result->error().code == plog::Errc::storage_full);
  CHECK(*small_result);
  CHECK(log->stream_version("small").value() == 1);
  CHECK(log->stream_version("huge").value() == 0);
  CHECK(log->verify()->ok);
}

TEST_CASE("append() inside an append_async callback is refused instead of waiting for ever") {
  TempDir dir;
  plog::Options options;
  std::mutex warnings_mu;
  std::vector<std::string> warnings;
  options.on_warning = [&](std::string_view line) {
    std::lock_guard lock(warnings_mu);
    warnings.emplace_back(line);
  };
  auto log = open_log(dir.path(), options);
  std::optional<plog::LogResult<plog::AppendResult>> inner;
  std::atomic<bool> done{false};
  const plog::StreamWrite w = write("a", EV::any());
  log->append_async(std::span<const plog::StreamWrite>(&w, 1),
                    [&](plog::LogResult<plog::AppendResult>) {
                      inner.emplace(log->append(write("b", EV::any())));
                      done = true;
                    });
  while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(inner);
  REQUIRE_FALSE(*inner);
  CHECK(inner->error().code == plog::Errc::invalid_argument);
  // And a throwing callback leaves the log working.
  log->append_async(std::span<const plog::StreamWrite>(&w, 1),
                    [](plog::LogResult<plog::AppendResult>) { throw std::runtime_error("oops"); });
  CHECK(log->append(write("c", EV::any())));
  CHECK(log->stream_version("a").value() == 2);
  // ...and is reported through Options::on_warning.
  std::lock_guard lock(warnings_mu);
  CHECK(warnings == std::vector<std::string>{"an append_async callback threw (ignored): oops"});
}

TEST_CASE("payload text must be UTF-8 - and ids may not hold C1 controls") {
  TempDir dir;
  auto log = open_log(dir.path());
  plog::StreamWrite w = write("s", EV::any());
  w.events[0].payload = {{"name", "caf\xe9"}};
  auto r = log->append(w);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == plog::Errc::invalid_argument);
  w.events[0].payload = {{"nested", boost::json::array{"ok", boost::json::object{{"k\xff", 1}}}}};
  CHECK(log->append(w).error().code == plog::Errc::invalid_argument);
  w.events[0].payload = {{"name", "caf\xc3\xa9 \x01"}};  // escaped control characters are fine
  CHECK(log->append(w));
  CHECK(log->append(write("c1\xc2\x85", EV::any())).error().code == plog::Errc::invalid_argument);
  CHECK(log->head().value() == 1);
}
