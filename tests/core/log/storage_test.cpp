// Growth of the map, a full map, a full disk: clear errors, a valid log, and recovery.
#include <doctest/doctest.h>

#include "../../support/child_process.hpp"
#include "fixtures.hpp"

namespace plog = portico::log;
using portico::test::open_log;
using portico::test::TempDir;
using portico::test::write;
using EV = plog::ExpectedVersion;

TEST_CASE("the map grows by itself") {
  TempDir dir;
  plog::Options options;
  options.initial_map_size = 1 << 20;
  auto log = open_log(dir.path(), options);
  const auto start = log->stats().map_size;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(log->append(write("big", EV::any(), 10, std::string(4000, 'x'))));
  }
  CHECK(log->stats().map_grows >= 2);
  CHECK(log->stats().map_size > start);
  CHECK(log->head().value() == 2000);
  CHECK(log->verify()->ok);
}

TEST_CASE("a full map is a clear error - leaves the log valid - and appends resume with room") {
  TempDir dir;
  plog::Options options;
  options.initial_map_size = 1 << 20;
  options.max_map_size = 2 << 20;
  std::uint64_t accepted = 0;
  {
    auto log = open_log(dir.path(), options);
    for (;;) {
      auto r = log->append(write("fill", EV::any(), 1, std::string(20'000, 'y')));
      if (!r) {
        CHECK(r.error().code == plog::Errc::storage_full);
        CHECK(r.error().message.find("MDB_MAP_FULL") != std::string::npos);
        break;
      }
      ++accepted;
      REQUIRE(accepted < 1000);
    }
    CHECK(log->head().value() == accepted);
    // Small appends may still fit; a refused one wrote nothing.
    auto again = log->append(write("fill", EV::any(), 1, std::string(20'000, 'y')));
    CHECK_FALSE(again);
    CHECK(log->head().value() == accepted);
    auto report = log->verify();
    REQUIRE(report);
    CHECK(report->ok);
  }
  options.max_map_size = 8 << 20;  // the operator gives it room
  auto log = open_log(dir.path(), options);
  REQUIRE(log->append(write("fill", EV::any(), 1, std::string(20'000, 'y'))));
  CHECK(log->head().value() == accepted + 1);
  CHECK(log->verify()->ok);
}

TEST_CASE("a full disk refuses appends clearly - keeps the log valid - and they succeed later") {
  TempDir dir;
  // The child writes under RLIMIT_FSIZE, which fails writes past the limit like a full disk.
  auto ran = portico::test::run(
      {PORTICO_LOG_TEST_CHILD, "fsize", dir.path().string(), std::to_string(3 << 20)});
  INFO(ran.out);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out.find("refused storage_full") != std::string::npos);
  CHECK(ran.out.find("after ok") != std::string::npos);
  CHECK(ran.out.find("verify ok") != std::string::npos);
  auto log = open_log(dir.path());
  auto report = log->verify();
  REQUIRE(report);
  CHECK(report->ok);
  CHECK(log->read_stream("disk", plog::kEndOfStream, plog::Direction::backward, 1)
            ->at(0)
            .payload_object()
            .at("body") == "after");
}
