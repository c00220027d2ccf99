// The record layout and the value types: ids, hashes, times.
#include <doctest/doctest.h>

#include <set>

#include "fixtures.hpp"
#include "record_codec.hpp"

namespace plog = portico::log;
namespace codec = portico::log::codec;

TEST_CASE("a record decodes to exactly what was encoded and sealed") {
  plog::EventData e;
  e.id = plog::new_uuid_v7();
  e.type = "TicketOpened";
  e.schema_version = 3;
  e.actor = {plog::Realm::staff, "staff-9"};
  e.correlation_id = plog::new_uuid_v4();
  e.causation_id = plog::new_uuid_v4();
  e.sealed = std::string("\x00\x01secret", 8);
  std::string bytes = codec::encode_unsealed("ticket-1", e, R"({"subject":"x"})");
  plog::Hash prev{};
  prev[0] = 0xab;
  const plog::Hash h = codec::seal(bytes, 42, 7, 1'700'000'000'123'456, prev);

  CHECK_FALSE(codec::well_formed(bytes));
  CHECK(codec::hash_matches(bytes));
  auto r = codec::decode(bytes);
  REQUIRE(r);
  CHECK(r->position == 42);
  CHECK(r->stream == "ticket-1");
  CHECK(r->stream_version == 7);
  CHECK(r->id == e.id);
  CHECK(r->type == "TicketOpened");
  CHECK(r->schema_version == 3);
  CHECK(r->recorded_at_us == 1'700'000'000'123'456);
  CHECK(r->actor == e.actor);
  CHECK(r->correlation_id == e.correlation_id);
  CHECK(r->causation_id == e.causation_id);
  CHECK(r->payload == R"({"subject":"x"})");
  CHECK(r->sealed == e.sealed);
  CHECK(r->prev_hash == prev);
  CHECK(r->hash == h);
  CHECK(bytes.size() == codec::kHeaderSize + 8 + 12 + 7 + 15 + 8 + codec::kTrailerSize);
}

TEST_CASE("any changed byte of a record breaks its hash") {
  std::string bytes = codec::encode_unsealed("s", portico::test::event(), R"({"a":1})");
  codec::seal(bytes, 1, 1, 5, plog::Hash{});
  for (std::size_t i = 0; i < bytes.size() - codec::kHashSize; ++i) {
    std::string altered = bytes;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    CHECK_MESSAGE(!codec::hash_matches(altered), "byte " << i);
  }
}

TEST_CASE("a truncated or malformed record is refused - not read past its end") {
  std::string bytes = codec::encode_unsealed("s", portico::test::event(), R"({"a":1})");
  codec::seal(bytes, 1, 1, 5, plog::Hash{});
  CHECK(codec::well_formed(bytes.substr(0, 10)));
  CHECK(codec::well_formed(bytes.substr(0, bytes.size() - 1)));
  std::string bad_format = bytes;
  bad_format[codec::kOffFormat] = 9;
  CHECK(codec::well_formed(bad_format));
  std::string bad_realm = bytes;
  bad_realm[codec::kOffRealm] = 7;
  CHECK(codec::well_formed(bad_realm));
  std::string bad_length = bytes;
  bad_length[codec::kOffPayloadLen] = 100;
  CHECK(codec::well_formed(bad_length));
  CHECK_FALSE(codec::decode(bad_length));
}

TEST_CASE("uuids print in canonical form and parse back - junk does not parse") {
  const plog::Uuid id = plog::new_uuid_v4();
  const std::string text = id.to_string();
  CHECK(text.size() == 36);
  CHECK(text[14] == '4');
  CHECK(plog::Uuid::parse(text) == id);
  CHECK(plog::Uuid::parse("00000000-0000-0000-0000-000000000000")->is_nil());
  CHECK_FALSE(plog::Uuid::parse("not-a-uuid"));
  CHECK_FALSE(plog::Uuid::parse("0000000000000000000000000000000000000"));
  CHECK_FALSE(plog::Uuid::parse("g0000000-0000-0000-0000-000000000000"));
}

TEST_CASE("uuid v7 ids are unique and increase within a process") {
  std::set<plog::Uuid> seen;
  plog::Uuid last{};
  for (int i = 0; i < 20'000; ++i) {
    const plog::Uuid id = plog::new_uuid_v7();
    CHECK(id > last);
    CHECK((id.bytes[6] >> 4) == 7);
    CHECK((id.bytes[8] & 0xc0) == 0x80);
    last = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 20'000);
}

TEST_CASE("times print as RFC 3339 UTC with microseconds") {
  CHECK(plog::format_time_us(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(plog::format_time_us(1'795'312'804'123'456) == "2026-11-22T02:00:04.123456Z");
  CHECK(plog::format_time_us(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(plog::format_time_us(253'402'300'799'999'999) == "9999-12-31T23:59:59.999999Z");
  CHECK(plog::format_time_us(253'402'300'800'000'000) == "10000-01-01T00:00:00.000000Z");
}

TEST_CASE("expected versions admit what they say") {
  CHECK(plog::ExpectedVersion::any().admits(0));
  CHECK(plog::ExpectedVersion::any().admits(9));
  CHECK(plog::ExpectedVersion::no_stream().admits(0));
  CHECK_FALSE(plog::ExpectedVersion::no_stream().admits(1));
  CHECK(plog::ExpectedVersion::exactly(3).admits(3));
  CHECK_FALSE(plog::ExpectedVersion::exactly(3).admits(2));
  CHECK(plog::ExpectedVersion::exactly(0) == plog::ExpectedVersion::no_stream());
}

TEST_CASE("realms print and parse") {
  for (auto realm : {plog::Realm::system, plog::Realm::customer, plog::Realm::staff}) {
    CHECK(plog::parse_realm(plog::to_string(realm)) == realm);
  }
  CHECK_FALSE(plog::parse_realm("admin"));
}
