// Schema evolution: old payloads are read in the current shape; stored bytes never change.
#include <doctest/doctest.h>

#include "fixtures.hpp"

namespace plog = portico::log;
using portico::test::open_log;
using portico::test::TempDir;
using EV = plog::ExpectedVersion;

TEST_CASE("upcasters chain old payloads to the current schema on every read path") {
  TempDir dir;
  plog::Hash stored_hash{};
  {
    auto log = open_log(dir.path());
    plog::EventData v1;
    v1.type = "TicketOpened";
    v1.schema_version = 1;
    v1.actor = {plog::Realm::customer, "c1"};
    v1.payload = {{"title", "Broken"}};
    plog::EventData other = v1;
    other.type = "Unrelated";
    auto r = log->append({"t", EV::any(), {v1, other}});
    REQUIRE(r);
    stored_hash = r->events[0].hash;
  }
  plog::Options options;
  // v1 -> v2 renames title to subject; v2 -> v3 adds a priority.
  options.upcasters.add("TicketOpened", 1, [](boost::json::object& p) {
    p["subject"] = p["title"];
    p.erase("title");
  });
  options.upcasters.add("TicketOpened", 2,
                        [](boost::json::object& p) { p["priority"] = "normal"; });
  auto log = open_log(dir.path(), options);

  auto check = [&](const plog::Record& r) {
    CHECK(r.schema_version == 3);
    CHECK(r.stored_schema_version == 1);
    auto p = r.payload_object();
    CHECK(p.at("subject") == "Broken");
    CHECK(p.at("priority") == "normal");
    CHECK_FALSE(p.contains("title"));
    CHECK(r.hash == stored_hash);
  };
  check(log->read_all(1, 1)->at(0));
  check(log->read_stream("t", 1, plog::Direction::forward, 1)->at(0));
  auto sub = log->subscribe(1);
  check(sub.next(1, std::chrono::seconds(1))->at(0));
  auto unrelated = log->read_all(2, 1)->at(0);
  CHECK(unrelated.schema_version == 1);
  CHECK(unrelated.payload_object().at("title") == "Broken");
  CHECK(log->verify()->ok);  // the stored bytes are untouched
}

TEST_CASE("an upcaster registry applies only matching steps") {
  plog::Upcasters up;
  CHECK(up.empty());
  up.add("A", 2, [](boost::json::object& p) { p["two"] = true; });
  boost::json::object p;
  CHECK(up.apply("A", 1, p) == 1);
  CHECK(p.empty());
  CHECK(up.apply("B", 2, p) == 2);
  CHECK(up.apply("A", 2, p) == 3);
  CHECK(p.at("two") == true);
  CHECK(up.handles("A", 2));
  CHECK_FALSE(up.handles("A", 3));
}
