#include "working_hours.hpp"

#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value_from.hpp>
#include <chrono>

#include "render.hpp"

namespace portico::http {
namespace {

namespace project = domain::project;
using std::chrono::minutes;

std::string hhmm(int m) { return fmt::format("{:02}:{:02}", m / 60, m % 60); }

// 0 = Monday … 6 = Sunday.
int weekday_of(date::local_days day) {
  return static_cast<int>((date::weekday(day).iso_encoding() + 6) % 7);
}

std::string date_text(date::local_days day) {
  const date::year_month_day ymd(day);
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

}  // namespace

boost::json::value working_hours_json(const project::Settings& s, domain::TimeUs now) {
  if (s.working_hours.empty()) return nullptr;
  boost::json::object schedule;
  for (int d = 0; d < 7; ++d) {
    boost::json::array day;
    for (const auto& w : s.working_hours) {
      if (w.day == d) day.push_back(boost::json::array{hhmm(w.from), hhmm(w.to)});
    }
    schedule[project::day_name(d)] = std::move(day);
  }
  boost::json::object out{{"time_zone", s.time_zone},
                          {"schedule", std::move(schedule)},
                          {"holidays", boost::json::value_from(s.holidays)},
                          {"open_now", false},
                          {"next_open", nullptr}};
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(s.time_zone);
  } catch (const std::exception&) {
    return out;  // a zone this machine's tzdata lacks: the schedule without its clock
  }
  const date::sys_time<std::chrono::microseconds> at{std::chrono::microseconds(now)};
  const auto local = zone->to_local(at);
  const auto today = date::floor<date::days>(local);
  const auto is_holiday = [&](date::local_days day) {
    return std::binary_search(s.holidays.begin(), s.holidays.end(), date_text(day));
  };
  const int minute_now =
      static_cast<int>(std::chrono::duration_cast<minutes>(local - today).count());
  // Open now: inside an interval of today, and today is no holiday.
  if (!is_holiday(today)) {
    for (const auto& w : s.working_hours) {
      if (w.day == weekday_of(today) && w.from <= minute_now && minute_now < w.to) {
        out["open_now"] = true;
      }
    }
  }
  if (out["open_now"].as_bool()) return out;
  // The next opening: the first interval start after now within the next 400 days.
  for (int ahead = 0; ahead < 400; ++ahead) {
    const date::local_days day = today + date::days(ahead);
    if (is_holiday(day)) continue;
    std::optional<int> first;
    for (const auto& w : s.working_hours) {
      if (w.day != weekday_of(day) || (ahead == 0 && w.from <= minute_now)) continue;
      first = first ? std::min(*first, w.from) : w.from;
    }
    if (!first) continue;
    const auto opens = zone->to_sys(day + minutes(*first), date::choose::earliest);
    out["next_open"] = time_json(
        std::chrono::duration_cast<std::chrono::microseconds>(opens.time_since_epoch()).count());
    break;
  }
  return out;
}

}  // namespace portico::http
