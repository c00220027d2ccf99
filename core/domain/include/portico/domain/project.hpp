// The project aggregate: one support desk, one tenant — its settings, staff, teams and host names.
// The customer aggregate (identities and memberships) is in customer.hpp.
//
// Streams (docs/events.md):
//   "project:{slug}"  ProjectCreated, ProjectConfigured, StaffAdded, StaffRemoved, TeamAdded,
//                     TeamRemoved, TeamMemberAdded, TeamMemberRemoved.
//   "host:{name}"     HostClaimed, HostReleased: one project per host name.
// Same layout as ticket.hpp.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/domain/templates.hpp>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::domain::project {

// ---- Events ----

struct Theme {
  std::string logo_url;
  std::string primary_color = "#1f6feb";
  std::string accent_color = "#8250df";
  friend bool operator==(const Theme&, const Theme&) = default;
};
BOOST_DESCRIBE_STRUCT(Theme, (), (logo_url, primary_color, accent_color))

// Customers whose e-mail domain is one of `domains` belong to the organisation.
struct Organization {
  std::string name;
  std::vector<std::string> domains;
  friend bool operator==(const Organization&, const Organization&) = default;
};
BOOST_DESCRIBE_STRUCT(Organization, (), (name, domains))

// One stretch of working time: `day` 0 (Monday) to 6 (Sunday), minutes since midnight in the
// project's time zone, from < to.
struct WorkingInterval {
  int day = 0;
  int from = 0;
  int to = 0;
  friend bool operator==(const WorkingInterval&, const WorkingInterval&) = default;
};
BOOST_DESCRIBE_STRUCT(WorkingInterval, (), (day, from, to))

inline constexpr std::uint64_t kMiB = 1024 * 1024;

// A project's configuration (portico-admin project create/update). Every member has a default, and
// an older payload without a member reads as that default.
struct Settings {
  std::string name;
  Policies policies;
  std::vector<std::string> sign_in = {"magic_link", "password"};
  std::vector<std::string> allowed_domains;  // empty: any domain
  std::vector<Organization> organizations;
  Theme theme;
  std::vector<std::string> languages = {"en"};  // the first is the default
  bool customer_priority = false;               // customers may set a priority
  std::string staff_totp = "optional";          // "optional" or "required"
  std::string kb = "public";                    // knowledge base: "public", "members" or "off"
  std::string time_zone = "UTC";                // an IANA zone name
  std::vector<WorkingInterval> working_hours;   // empty: no working hours (no SLA pause)
  std::vector<std::string> holidays;            // YYYY-MM-DD, in the project's time zone
  std::uint32_t max_attachments = 5;            // per message
  std::uint64_t max_attachment_bytes = 10 * kMiB;
  std::vector<std::string> hosts;  // host names that serve this project's portal at "/"
  friend bool operator==(const Settings&, const Settings&) = default;
};
BOOST_DESCRIBE_STRUCT(Settings, (),
                      (name, policies, sign_in, allowed_domains, organizations, theme, languages,
                       customer_priority, staff_totp, kb, time_zone, working_hours, holidays,
                       max_attachments, max_attachment_bytes, hosts))
boost::json::result<Settings> tag_invoke(boost::json::try_value_to_tag<Settings>,
                                         const boost::json::value& value);
boost::json::result<Theme> tag_invoke(boost::json::try_value_to_tag<Theme>,
                                      const boost::json::value& value);

struct ProjectCreated {
  static constexpr std::string_view kType = "ProjectCreated";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string slug;
  Settings settings;
};
struct ProjectConfigured {
  static constexpr std::string_view kType = "ProjectConfigured";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Settings settings;  // the whole new configuration
  Actor by;
};
struct StaffAdded {
  static constexpr std::string_view kType = "StaffAdded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string staff_id;
  std::string email;
  std::string display_name;
  std::string role;  // "admin" or "agent"
};
struct StaffRemoved {
  static constexpr std::string_view kType = "StaffRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string staff_id;
};
// Teams group the staff of a project; tickets are routed to them.
struct TeamAdded {
  static constexpr std::string_view kType = "TeamAdded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string team;
};
struct TeamRemoved {
  static constexpr std::string_view kType = "TeamRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string team;
};
struct TeamMemberAdded {
  static constexpr std::string_view kType = "TeamMemberAdded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string team;
  std::string staff_id;
};
struct TeamMemberRemoved {
  static constexpr std::string_view kType = "TeamMemberRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string team;
  std::string staff_id;
};
// In the host name's own stream ("host:{name}"): one project per host name. Appended beside the
// ProjectCreated/ProjectConfigured that lists (or stops listing) the name.
struct HostClaimed {
  static constexpr std::string_view kType = "HostClaimed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string host;
  std::string project;
};
struct HostReleased {
  static constexpr std::string_view kType = "HostReleased";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string host;
};
// A ticket template added, or replaced by key (templates.hpp; portico-admin template set).
struct TemplateSet {
  static constexpr std::string_view kType = "TemplateSet";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  templates::Template definition;
};
struct TemplateRemoved {
  static constexpr std::string_view kType = "TemplateRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string key;
};
BOOST_DESCRIBE_STRUCT(TemplateSet, (), (at, definition))
BOOST_DESCRIBE_STRUCT(TemplateRemoved, (), (at, key))
BOOST_DESCRIBE_STRUCT(ProjectCreated, (), (at, slug, settings))
BOOST_DESCRIBE_STRUCT(ProjectConfigured, (), (at, settings, by))
BOOST_DESCRIBE_STRUCT(StaffAdded, (), (at, staff_id, email, display_name, role))
BOOST_DESCRIBE_STRUCT(StaffRemoved, (), (at, staff_id))
BOOST_DESCRIBE_STRUCT(TeamAdded, (), (at, team))
BOOST_DESCRIBE_STRUCT(TeamRemoved, (), (at, team))
BOOST_DESCRIBE_STRUCT(TeamMemberAdded, (), (at, team, staff_id))
BOOST_DESCRIBE_STRUCT(TeamMemberRemoved, (), (at, team, staff_id))
BOOST_DESCRIBE_STRUCT(HostClaimed, (), (at, host, project))
BOOST_DESCRIBE_STRUCT(HostReleased, (), (at, host))

using Event = std::variant<ProjectCreated, ProjectConfigured, StaffAdded, StaffRemoved, TeamAdded,
                           TeamRemoved, TeamMemberAdded, TeamMemberRemoved, HostClaimed,
                           HostReleased, TemplateSet, TemplateRemoved>;
// The event's kType and kVersion, as for tickets (ticket.hpp).
std::string_view type_name(const Event& event) noexcept;
std::uint32_t schema_version(const Event& event) noexcept;
// Whether `type` names an event of this aggregate (a newer program may store others).
bool is_event_type(std::string_view type) noexcept;
boost::json::object to_payload(const Event& event);
Result<Event> from_payload(std::string_view type, boost::json::object payload);

// ---- State ----

struct StaffMember {
  std::string email;
  std::string display_name;
  std::string role;
  friend bool operator==(const StaffMember&, const StaffMember&) = default;
};

struct State {
  bool exists = false;
  std::string slug;
  Settings settings;
  std::map<std::string, StaffMember> staff;            // by staff id
  std::map<std::string, std::set<std::string>> teams;  // team name -> staff ids
  std::string host_claimed_by;  // "host:{name}" streams: the project holding the name ("": none)
  std::map<std::string, templates::Template> templates;  // by key
  friend bool operator==(const State&, const State&) = default;
};

State evolve(State state, const Event& event);
State fold(const std::vector<Event>& events, State state = {});

// ---- Commands ----

struct CreateProject {
  std::string slug;
  Settings settings;
};
struct ConfigureProject {
  Settings settings;
};
struct AddStaff {
  std::string staff_id;
  std::string email;
  std::string display_name;
  std::string role;
};
struct RemoveStaff {
  std::string staff_id;
};
struct AddTeam {
  std::string team;
};
struct RemoveTeam {
  std::string team;
};
// Adds (or with `remove`, takes out) a staff member of the project to a team.
struct SetTeamMember {
  std::string team;
  std::string staff_id;
  bool remove = false;
};
// Adds a ticket template, or replaces the one with its key (tickets opened with the old one keep
// what they were opened with).
struct SetTemplate {
  templates::Template definition;
};
struct RemoveTemplate {
  std::string key;
};
using Command = std::variant<CreateProject, ConfigureProject, AddStaff, RemoveStaff, AddTeam,
                             RemoveTeam, SetTeamMember, SetTemplate, RemoveTemplate>;

struct Context {
  Actor actor;  // the system (portico-admin) or an admin of the project
  TimeUs now = 0;
};

Result<std::vector<Event>> decide(const State& state, const Command& command, const Context& ctx);

// ---- Queries ----

// Slugs: 2 to 40 of a-z 0-9 and '-', starting with a letter or digit.
bool valid_slug(std::string_view slug) noexcept;
// An identity provider's name as the configuration file's [oidc.NAME] and a project's sign_in
// list spell it: 1 to 32 of a-z 0-9 '-' ("cfx", "google", "acme-sso"). The server's
// configuration says which exist; a project may list one it does not have (it is not offered).
bool valid_provider_name(std::string_view name) noexcept;
// Team names: 1 to 60 characters, no control characters, not only spaces.
bool valid_team(std::string_view team) noexcept;
// Host names: lower-case DNS names (a-z 0-9 '-' '.'), 1 to 253 characters, no port.
bool valid_host(std::string_view host) noexcept;
// The settings' own rules (create and configure check them): invalid_request naming the field.
Result<void> check_settings(const Settings& settings);
// "mon-fri 09:00-17:00" or several such parts joined by ';' ("mon-thu 08:00-18:00;fri
// 08:00-14:00"), a day alone ("sat 10:00-12:00") or a list ("mon,wed 09:00-12:00"); "" is none.
Result<std::vector<WorkingInterval>> parse_working_hours(std::string_view text);
// Back to that spelling, one part per day and interval ("mon 09:00-17:00;tue 09:00-17:00").
std::string format_working_hours(const std::vector<WorkingInterval>& hours);
// "mon" … "sun" for 0 … 6.
std::string_view day_name(int day) noexcept;
// A calendar date "YYYY-MM-DD" that exists (2025-02-29 does not).
bool valid_date(std::string_view date) noexcept;
std::string host_stream_id(std::string_view host);
// The lower-cased domain of an e-mail address, or "" when it has none.
std::string email_domain(std::string_view email);
// Whether the project's allowed e-mail domains (when set) admit `email`.
bool domain_allowed(const State& state, std::string_view email);
// The organisation `email` belongs to in this project, "" for none.
std::string organization_of(const State& state, std::string_view email);
bool is_staff(const State& state, std::string_view staff_id);
// The project's staff_totp policy: in a project that requires two-factor sign-in, a staff member
// who has not turned it on may do nothing but enrol (forbidden, saying so).
Result<void> check_staff_totp(const State& state, bool totp_enabled);
// Whether the policy asks anything of staff (check_staff_totp can only refuse when it does).
bool requires_staff_totp(const State& state);
std::string stream_id(std::string_view slug);

}  // namespace portico::domain::project
