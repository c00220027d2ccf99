// Errors of the event log.
#pragma once

#include <cstdint>
#include <optional>
#include <portico/log/types.hpp>
#include <portico/result.hpp>
#include <string>
#include <string_view>

namespace portico::log {

enum class Errc : std::uint8_t {
  invalid_argument,   // the request breaks a documented limit; nothing was written
  conflict,           // a stream was not at the expected version, or event ids were reused
  storage_full,       // the map reached Options::max_map_size or the disk is full; retry later
  io_error,           // the operating system or LMDB failed; nothing was written
  corrupt,            // a stored record does not decode; names the position
  already_open,       // this process already has the directory open
  read_only,          // the log was opened read-only
  closed,             // the subscription was closed
  projection_failed,  // a projection refused an event (its message says which and why)
};
std::string_view to_string(Errc code) noexcept;

// Details of a version conflict.
struct Conflict {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::any();
  std::uint64_t actual = 0;
};

struct LogError {
  Errc code = Errc::io_error;
  std::string message;               // says what failed, e.g. "mdb_put: MDB_MAP_FULL ..."
  std::optional<Conflict> conflict;  // set for version conflicts
  std::uint64_t position = 0;        // set for corrupt records
};

template <class T>
using LogResult = Result<T, LogError>;

inline Unexpected<LogError> log_error(Errc code, std::string message) {
  return Unexpected<LogError>(LogError{code, std::move(message), std::nullopt, 0});
}

}  // namespace portico::log
