// The project settings as portico-admin's flags spell them (API.md, "Operations, part 2"): each
// flag changes one thing of a project's Settings, and an invalid value is refused naming the flag.
#pragma once

#include <boost/json/object.hpp>
#include <portico/domain/project.hpp>
#include <portico/result.hpp>
#include <string>
#include <string_view>

namespace portico::admin {

// Whether `flag` ("--resolved-timeout") is one of the settings flags.
bool is_settings_flag(std::string_view flag);

// Applies one settings flag and its value to `settings`. Errors: invalid_request, with the flag
// (e.g. "--resolved-timeout") as the field and a message saying what the value must be. The
// settings' own rules across fields (domain::project::check_settings) are checked by the caller.
Result<void> apply_settings_flag(domain::project::Settings& settings, std::string_view flag,
                                 std::string_view value);

// The flag that sets a Settings field named by domain::project::check_settings's `field`
// ("policies" -> a list of the timeout and survey flags), for error messages.
std::string flag_of_field(std::string_view field);

// Whether `zone` is in the time zone database (Debian's tzdata, through date/tz).
bool known_time_zone(const std::string& zone);

// A project's settings, teams and staff as `project show` prints them.
boost::json::object settings_json(const domain::project::State& project);

}  // namespace portico::admin
