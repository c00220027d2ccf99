// Value types of the event log: ids, actors, expected versions, events to append and records read.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::log {

// A 128-bit identifier (RFC 9562 layout). Events get UUIDv7 ids by default: time-ordered ids keep
// the event-id index append-mostly, which is what makes group commit fast (docs/log-format.md).
struct Uuid {
  std::array<std::uint8_t, 16> bytes{};

  bool is_nil() const noexcept;
  // Canonical lower-case 8-4-4-4-12 form.
  std::string to_string() const;
  // Accepts the canonical form (either case); anything else is std::nullopt.
  static std::optional<Uuid> parse(std::string_view text);

  friend auto operator<=>(const Uuid&, const Uuid&) = default;
};

// A fresh time-ordered UUIDv7 (48-bit Unix milliseconds, then random bits); monotonic within this
// process. Thread-safe.
Uuid new_uuid_v7();
// A fresh random UUIDv4. Thread-safe.
Uuid new_uuid_v4();

enum class Direction : std::uint8_t { forward, backward };

// SHA-256 digest.
using Hash = std::array<std::uint8_t, 32>;
std::string to_hex(const Hash& hash);

// Who did something: the realm they acted in and their id within it ("" for the system).
enum class Realm : std::uint8_t { system = 0, customer = 1, staff = 2 };
std::string_view to_string(Realm realm) noexcept;
std::optional<Realm> parse_realm(std::string_view text) noexcept;

struct Actor {
  Realm realm = Realm::system;
  std::string id;

  friend bool operator==(const Actor&, const Actor&) = default;
};

// The version a stream must be at for an append to it to proceed.
class ExpectedVersion {
 public:
  enum class Kind : std::uint8_t { any, no_stream, exactly };

  static constexpr ExpectedVersion any() noexcept { return {Kind::any, 0}; }
  static constexpr ExpectedVersion no_stream() noexcept { return {Kind::no_stream, 0}; }
  // exactly(0) means the same as no_stream().
  static constexpr ExpectedVersion exactly(std::uint64_t version) noexcept {
    return version == 0 ? no_stream() : ExpectedVersion{Kind::exactly, version};
  }

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr std::uint64_t version() const noexcept { return version_; }
  constexpr bool admits(std::uint64_t current) const noexcept {
    return kind_ == Kind::any || current == version_;
  }
  std::string to_string() const;

  friend constexpr bool operator==(ExpectedVersion, ExpectedVersion) = default;

 private:
  constexpr ExpectedVersion(Kind kind, std::uint64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  std::uint64_t version_;
};

// An event to append. The log assigns position, stream version and recorded-at time.
struct EventData {
  Uuid id;  // nil: the log assigns a fresh UUIDv7. Reusing an id makes the append a retry.
  std::string type;
  std::uint32_t schema_version = 1;
  Actor actor;
  Uuid correlation_id;
  Uuid causation_id;
  boost::json::object payload;
  // Opaque bytes stored beside the payload and covered by the hash chain: the place for
  // personal fields encrypted under a per-person key (docs/log-format.md, "Sealed fields").
  std::string sealed;
};

// Events for one stream, appended only if the stream is at `expected`.
struct StreamWrite {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::any();
  std::vector<EventData> events;
};

// Where one appended event landed.
struct Appended {
  std::uint64_t position = 0;
  std::uint64_t stream_version = 0;
  Uuid id;
  Hash hash{};
};

struct AppendResult {
  std::vector<Appended> events;  // in the order given
  // True when every event id was already stored: nothing was written and `events` tells where
  // the originals are.
  bool duplicate = false;
};

// One stored event, as read back.
struct Record {
  std::uint64_t position = 0;
  std::string stream;
  std::uint64_t stream_version = 0;
  Uuid id;
  std::string type;
  std::uint32_t schema_version = 0;  // after upcasting
  std::uint32_t stored_schema_version = 0;
  std::int64_t recorded_at_us = 0;  // microseconds since the Unix epoch, UTC
  Actor actor;
  Uuid correlation_id;
  Uuid causation_id;
  std::string payload;  // a JSON object, as text (after upcasting)
  std::string sealed;
  Hash prev_hash{};
  Hash hash{};

  // Parses `payload`; the log only stores objects, so this never fails on a record it returned.
  boost::json::object payload_object() const;
};

// The record as one JSON object (what `portico-audit dump` prints, one per line).
boost::json::object to_json(const Record& record);

// RFC 3339 UTC with microseconds, e.g. "2026-11-22T02:00:04.123456Z".
std::string format_time_us(std::int64_t us_since_epoch);

}  // namespace portico::log
