// Helpers shared by the log tests.
#pragma once

#include <doctest/doctest.h>

#include <ostream>
#include <portico/log/log.hpp>
#include <string>

#include "../../support/temp_dir.hpp"

namespace portico::log {
inline std::ostream& operator<<(std::ostream& os, Errc code) { return os << to_string(code); }
}  // namespace portico::log

namespace portico::test {

namespace plog = portico::log;

inline plog::EventData event(std::string type = "MessagePosted", std::string body = "hello") {
  plog::EventData e;
  e.type = std::move(type);
  e.actor = {plog::Realm::customer, "cust-1"};
  e.payload = {{"body", std::move(body)}};
  return e;
}

inline plog::StreamWrite write(std::string stream, plog::ExpectedVersion expected, int count = 1,
                               std::string body = "hello") {
  plog::StreamWrite w{std::move(stream), expected, {}};
  for (int i = 0; i < count; ++i) w.events.push_back(event("MessagePosted", body));
  return w;
}

inline std::unique_ptr<plog::Log> open_log(const std::filesystem::path& dir,
                                           plog::Options options = {}) {
  auto log = plog::Log::open(dir, std::move(options));
  if (!log) FAIL("open failed: " << log.error().message);
  return std::move(*log);
}

}  // namespace portico::test
