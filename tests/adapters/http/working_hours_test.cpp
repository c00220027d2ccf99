// A project's working hours as GET /api/v1/projects/{p} shows them: open now, and the next
// opening, in the project's time zone, past holidays and across a change of summer time.
#include "working_hours.hpp"

#include <doctest/doctest.h>

#include <chrono>

namespace dp = portico::domain::project;
using namespace std::chrono;

namespace {

portico::domain::TimeUs utc(year_month_day day, hours h, minutes m = minutes(0)) {
  return duration_cast<microseconds>((sys_days(day) + h + m).time_since_epoch()).count();
}

dp::Settings berlin() {
  dp::Settings s;
  s.time_zone = "Europe/Berlin";
  s.working_hours = dp::parse_working_hours("mon-thu 08:00-18:00;fri 08:00-14:00").value();
  s.holidays = {"2026-12-24", "2026-12-25"};
  return s;
}

}  // namespace

TEST_CASE("working hours: open now and the next opening in the project's time zone") {
  const auto s = berlin();
  // Thursday 11:00 in Berlin (10:00 UTC, winter time): open.
  auto open = portico::http::working_hours_json(s, utc(2026y / December / 3, 10h));
  CHECK(open.at("open_now") == true);
  CHECK(open.at("next_open").is_null());
  CHECK(open.at("time_zone") == "Europe/Berlin");
  // Thursday 18:30 in Berlin: closed, opens Friday 08:00 Berlin = 07:00 UTC.
  auto evening = portico::http::working_hours_json(s, utc(2026y / December / 3, 17h, 30min));
  CHECK(evening.at("open_now") == false);
  CHECK(evening.at("next_open") == "2026-12-04T07:00:00.000000Z");
  // Friday 14:00 sharp is closing time: the next opening is Monday.
  auto friday = portico::http::working_hours_json(s, utc(2026y / December / 4, 13h));
  CHECK(friday.at("open_now") == false);
  CHECK(friday.at("next_open") == "2026-12-07T07:00:00.000000Z");
  // Before opening on a working day: later the same day.
  auto early = portico::http::working_hours_json(s, utc(2026y / December / 7, 6h));
  CHECK(early.at("open_now") == false);
  CHECK(early.at("next_open") == "2026-12-07T07:00:00.000000Z");
}

TEST_CASE("working hours: holidays are closed and summer time moves the opening in UTC") {
  const auto s = berlin();
  // Thursday 24 December 11:00 in Berlin: within the hours, but a holiday.
  auto holiday = portico::http::working_hours_json(s, utc(2026y / December / 24, 10h));
  CHECK(holiday.at("open_now") == false);
  // The 24th and 25th are holidays, then a weekend: Monday the 28th.
  CHECK(holiday.at("next_open") == "2026-12-28T07:00:00.000000Z");
  // Monday 6 July 07:30 in Berlin (05:30 UTC, summer time): opens at 08:00 = 06:00 UTC.
  auto summer = portico::http::working_hours_json(s, utc(2026y / July / 6, 5h, 30min));
  CHECK(summer.at("open_now") == false);
  CHECK(summer.at("next_open") == "2026-07-06T06:00:00.000000Z");
  // No working hours: null.
  CHECK(portico::http::working_hours_json(dp::Settings{}, utc(2026y / July / 6, 5h)).is_null());
}
