// The stored byte layout of one record (docs/log-format.md is the normative description).
#pragma once

#include <cstdint>
#include <optional>
#include <portico/log/types.hpp>
#include <string>
#include <string_view>

namespace portico::log::codec {

inline constexpr std::uint8_t kFormat = 1;
inline constexpr std::size_t kHeaderSize = 96;
inline constexpr std::size_t kHashSize = 32;
inline constexpr std::size_t kTrailerSize = 2 * kHashSize;  // prev_hash, hash

// Fixed offsets within the header.
inline constexpr std::size_t kOffFormat = 0;
inline constexpr std::size_t kOffRealm = 1;
inline constexpr std::size_t kOffSchema = 4;
inline constexpr std::size_t kOffPosition = 8;
inline constexpr std::size_t kOffStreamVersion = 16;
inline constexpr std::size_t kOffRecordedAt = 24;
inline constexpr std::size_t kOffEventId = 32;
inline constexpr std::size_t kOffCorrelation = 48;
inline constexpr std::size_t kOffCausation = 64;
inline constexpr std::size_t kOffStreamLen = 80;
inline constexpr std::size_t kOffTypeLen = 82;
inline constexpr std::size_t kOffActorLen = 84;
inline constexpr std::size_t kOffPayloadLen = 88;
inline constexpr std::size_t kOffSealedLen = 92;

// Encodes everything the caller knows; position, stream version, recorded-at, prev_hash and hash
// are left zero for seal() to fill in under the write lock.
std::string encode_unsealed(std::string_view stream, const EventData& event,
                            std::string_view payload_json);

// Replaces the event id of an encoded record.
void set_event_id(std::string& record, const Uuid& id);

// Fills in the fields only the writer knows and computes the hash (SHA-256 of every byte before
// the hash itself). Returns the hash.
Hash seal(std::string& record, std::uint64_t position, std::uint64_t stream_version,
          std::int64_t recorded_at_us, const Hash& prev_hash);

// Header fields readable without a full decode (bytes must be at least a header + trailer).
std::uint64_t position_of(std::string_view bytes);
std::uint64_t stream_version_of(std::string_view bytes);
std::int64_t recorded_at_of(std::string_view bytes);
Hash prev_hash_of(std::string_view bytes);
Hash hash_of(std::string_view bytes);
std::string_view stream_of(std::string_view bytes);  // precondition: well_formed(bytes)

// Checks lengths and enumerations without hashing; returns the problem, or nullopt when sound.
std::optional<std::string> well_formed(std::string_view bytes);
// SHA-256 over everything but the stored hash, compared with the stored hash.
bool hash_matches(std::string_view bytes);

// Decodes a well-formed record (payload as stored; upcasting is the caller's business).
std::optional<Record> decode(std::string_view bytes);

Hash sha256(std::string_view bytes);

}  // namespace portico::log::codec
