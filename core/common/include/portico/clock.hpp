// portico::Clock — the one clock type of every option struct that takes a clock (log::Options,
// service::Options, AccountsOptions, SchedulerOptions, mail::DelivererOptions).
//
// A Clock answers microseconds since the Unix epoch: the same type and unit as
// portico::domain::TimeUs (core/common sits below the domain, so it spells it std::int64_t). A
// test that fakes time hands the same Clock to each; an empty Clock means the option struct's
// documented default (the system clock, or for the Scheduler the Portal's clock).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace portico {

using Clock = std::function<std::int64_t()>;

// The system (wall) clock, in microseconds since the Unix epoch. Thread-safe.
inline std::int64_t system_clock_us() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace portico
