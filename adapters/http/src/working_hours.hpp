// A project's working hours as GET /api/v1/projects/{p} shows them (API.md part 2): the weekly
// schedule in its time zone, holidays, whether it is open now and when it opens next. The time
// zone database is Debian's tzdata, read through date/tz.
#pragma once

#include <boost/json/value.hpp>
#include <portico/domain/project.hpp>

namespace portico::http {

// null when the project has no working hours.
boost::json::value working_hours_json(const domain::project::Settings& settings,
                                      domain::TimeUs now);

}  // namespace portico::http
