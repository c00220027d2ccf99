// `portico-audit history`: who did what to a ticket and when, and its state at a past moment.
#pragma once

#include <cstdint>
#include <optional>
#include <portico/log/log.hpp>
#include <string>
#include <string_view>

namespace portico::audit {

// Microseconds since the epoch from RFC 3339 ("2026-11-22T02:00:04Z", fractions and a numeric
// offset allowed); nullopt when the text is not such a time.
std::optional<std::int64_t> parse_time(std::string_view text);

// Prints the ticket's events (one line each: time, position, version, actor, type, payload) up
// to `at` (all when nullopt), then the ticket's state folded from them as JSON. Returns the
// process exit status (0, or 2 when the ticket is unknown or the log cannot be read).
int print_history(const log::Log& log, const std::string& project, std::uint64_t number,
                  std::optional<std::int64_t> at);

}  // namespace portico::audit
