#include <algorithm>
#include <array>
#include <cctype>
#include <portico/domain/project.hpp>
#include <set>

#include "payload.hpp"

namespace portico::domain {
namespace {

using detail::Overloaded;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' ||
      d.find('.') == std::string_view::npos) {
    return false;
  }
  return std::all_of(d.begin(), d.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

bool valid_color(std::string_view c) {
  return c.size() == 7 && c[0] == '#' && std::all_of(c.begin() + 1, c.end(), [](char x) {
           return std::isxdigit(static_cast<unsigned char>(x)) != 0;
         });
}

// What the portal may put in an <img src>: nothing that runs or reaches outside plain HTTPS.
bool valid_logo_url(std::string_view u) {
  if (u.empty()) return true;
  if (u.size() > 64 * 1024) return false;
  if (std::any_of(u.begin(), u.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return false;
  }
  return u.starts_with("https://") || (u.starts_with("/") && !u.starts_with("//")) ||
         u.starts_with("data:image/");
}

constexpr std::array<std::string_view, 3> kLanguages = {"en", "de", "fr"};
constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

bool valid_zone_name(std::string_view z) {
  // The shape of an IANA name ("Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC",
  // "Etc/GMT+5"); whether the zone exists is checked against the time zone database by the
  // adapter that sets it.
  if (z.empty() || z.size() > 64 || z.front() == '/' || z.back() == '/') return false;
  return std::all_of(z.begin(), z.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
}

}  // namespace

namespace project {

Result<void> check_settings(const Settings& s) {
  const auto name_length = utf8_length(s.name);
  if (!name_length || trim(s.name).empty() || *name_length > 100) {
    return fail(errc::kInvalidRequest, "a project name is 1 to 100 characters", "name");
  }
  if (s.sign_in.empty()) {
    return fail(errc::kInvalidRequest, "enable at least one sign-in method", "sign_in");
  }
  for (const auto& m : s.sign_in) {
    if (m != "magic_link" && m != "password" && !valid_provider_name(m)) {
      return fail(errc::kInvalidRequest, "unknown sign-in method " + m, "sign_in");
    }
  }
  for (const auto& d : s.allowed_domains) {
    if (!valid_domain(d)) {
      return fail(errc::kInvalidRequest, "not a lower-case e-mail domain: " + d, "allowed_domains");
    }
  }
  std::set<std::string> org_names, org_domains;
  for (const auto& org : s.organizations) {
    if (trim(org.name).empty() || org.domains.empty()) {
      return fail(errc::kInvalidRequest, "an organisation needs a name and domains",
                  "organizations");
    }
    // A domain belongs to one organisation at most, and names tell organisations apart.
    if (!org_names.insert(org.name).second) {
      return fail(errc::kInvalidRequest, "two organisations are named " + org.name,
                  "organizations");
    }
    for (const auto& d : org.domains) {
      if (!valid_domain(d)) {
        return fail(errc::kInvalidRequest, "not a lower-case e-mail domain: " + d, "organizations");
      }
      if (!org_domains.insert(d).second) {
        return fail(errc::kInvalidRequest, "the domain " + d + " is listed twice", "organizations");
      }
    }
  }
  if (!valid_color(s.theme.primary_color) || !valid_color(s.theme.accent_color)) {
    return fail(errc::kInvalidRequest, "colours are #rrggbb", "theme");
  }
  if (!valid_logo_url(s.theme.logo_url)) {
    return fail(errc::kInvalidRequest,
                "a logo is an https:// URL, a path on this server or a data:image/ URL (at most "
                "64 KiB, no spaces or control characters)",
                "theme");
  }
  const Policies& p = s.policies;
  if (p.pending_closure_timeout < 0 || p.resolved_timeout < 0 || p.survey_expiry <= 0 ||
      p.survey_options.empty() || p.max_subject == 0 || p.max_message == 0) {
    return fail(errc::kInvalidRequest, "timeouts, limits and survey options must be positive",
                "policies");
  }
  if (p.survey_options.size() > 10) {
    return fail(errc::kInvalidRequest, "at most 10 survey options", "survey_options");
  }
  std::set<std::string> options;
  for (const auto& o : p.survey_options) {
    const auto n = utf8_length(o);
    if (!n || trim(o).empty() || *n > 40 || !options.insert(o).second) {
      return fail(errc::kInvalidRequest,
                  "a survey option is 1 to 40 characters, and each is listed once",
                  "survey_options");
    }
  }
  if (s.languages.empty()) {
    return fail(errc::kInvalidRequest, "a project has at least one language", "languages");
  }
  std::set<std::string> languages;
  for (const auto& l : s.languages) {
    if (std::find(kLanguages.begin(), kLanguages.end(), l) == kLanguages.end()) {
      return fail(errc::kInvalidRequest, "the portal speaks en, de and fr; not " + l, "languages");
    }
    if (!languages.insert(l).second) {
      return fail(errc::kInvalidRequest, "the language " + l + " is listed twice", "languages");
    }
  }
  if (s.staff_totp != "optional" && s.staff_totp != "required") {
    return fail(errc::kInvalidRequest, "staff TOTP is optional or required", "staff_totp");
  }
  if (s.kb != "public" && s.kb != "members" && s.kb != "off") {
    return fail(errc::kInvalidRequest, "the knowledge base is public, members or off", "kb");
  }
  if (!valid_zone_name(s.time_zone)) {
    return fail(errc::kInvalidRequest, "not a time zone name: " + s.time_zone, "time_zone");
  }
  for (std::size_t i = 0; i < s.working_hours.size(); ++i) {
    const WorkingInterval& w = s.working_hours[i];
    if (w.day < 0 || w.day > 6 || w.from < 0 || w.to > 24 * 60 || w.from >= w.to) {
      return fail(errc::kInvalidRequest, "working hours are a day and a time range within it",
                  "working_hours");
    }
    for (std::size_t j = 0; j < i; ++j) {
      const WorkingInterval& o = s.working_hours[j];
      if (o.day == w.day && o.from < w.to && w.from < o.to) {
        return fail(errc::kInvalidRequest,
                    "working hours overlap on " + std::string(day_name(w.day)), "working_hours");
      }
    }
  }
  if (s.holidays.size() > 1000) {
    return fail(errc::kInvalidRequest, "at most 1000 holidays", "holidays");
  }
  for (const auto& d : s.holidays) {
    if (!valid_date(d)) {
      return fail(errc::kInvalidRequest, "a holiday is a date YYYY-MM-DD; not " + d, "holidays");
    }
  }
  if (s.max_attachments > 20 || s.max_attachment_bytes == 0 ||
      s.max_attachment_bytes > 100 * kMiB) {
    return fail(errc::kInvalidRequest,
                "attachments are at most 20 per message and 1 byte to 100 MB each", "attachments");
  }
  if (s.hosts.size() > 20) return fail(errc::kInvalidRequest, "at most 20 host names", "hosts");
  std::set<std::string> hosts;
  for (const auto& h : s.hosts) {
    if (!valid_host(h)) {
      return fail(errc::kInvalidRequest, "not a lower-case host name (no port): " + h, "hosts");
    }
    if (!hosts.insert(h).second) {
      return fail(errc::kInvalidRequest, "the host " + h + " is listed twice", "hosts");
    }
  }
  return {};
}

boost::json::result<Settings> tag_invoke(boost::json::try_value_to_tag<Settings>,
                                         const boost::json::value& value) {
  return detail::lenient_value_to<Settings>(value);
}
boost::json::result<Theme> tag_invoke(boost::json::try_value_to_tag<Theme>,
                                      const boost::json::value& value) {
  return detail::lenient_value_to<Theme>(value);
}

bool valid_team(std::string_view team) noexcept {
  const auto n = utf8_length(team);
  if (!n || *n == 0 || *n > 60 || trim(team).size() != team.size()) return false;
  return std::none_of(team.begin(), team.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool valid_host(std::string_view h) noexcept {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.' || h.front() == '-') {
    return false;
  }
  if (h.find("..") != std::string_view::npos) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::string_view day_name(int day) noexcept {
  return day >= 0 && day < 7 ? kDays[static_cast<std::size_t>(day)] : std::string_view("?");
}

namespace {

std::optional<int> day_index(std::string_view d) {
  for (std::size_t i = 0; i < kDays.size(); ++i) {
    if (kDays[i] == d) return static_cast<int>(i);
  }
  return std::nullopt;
}

// "HH:MM" -> minutes; "24:00" is the end of the day.
std::optional<int> clock_minutes(std::string_view t) {
  if (t.size() != 5 || t[2] != ':') return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (t[i] < '0' || t[i] > '9') return std::nullopt;
  }
  const int h = (t[0] - '0') * 10 + (t[1] - '0');
  const int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

std::string clock_text(int minutes) {
  std::string out(5, '0');
  out[0] = static_cast<char>('0' + minutes / 600);
  out[1] = static_cast<char>('0' + minutes / 60 % 10);
  out[2] = ':';
  out[3] = static_cast<char>('0' + minutes % 60 / 10);
  out[4] = static_cast<char>('0' + minutes % 10);
  return out;
}

}  // namespace

Result<std::vector<WorkingInterval>> parse_working_hours(std::string_view text) {
  std::vector<WorkingInterval> out;
  auto bad = [](std::string why) {
    return fail(errc::kInvalidRequest,
                why + " (working hours are like 'mon-fri 09:00-17:00;sat 10:00-12:00')",
                "working_hours");
  };
  if (trim(text).empty()) return out;
  if (text.size() > 1000) return bad("too long");
  while (!text.empty()) {
    const auto semi = text.find(';');
    const std::string_view part = trim(text.substr(0, semi));
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    const auto space = part.find(' ');
    if (space == std::string_view::npos) return bad("'" + std::string(part) + "' has no times");
    const std::string_view days = part.substr(0, space);
    const std::string_view times = trim(part.substr(space + 1));
    const auto dash = times.find('-');
    if (dash == std::string_view::npos) return bad("'" + std::string(times) + "' is no range");
    const auto from = clock_minutes(times.substr(0, dash));
    const auto to = clock_minutes(times.substr(dash + 1));
    if (!from || !to || *from >= *to) {
      return bad("'" + std::string(times) + "' is not HH:MM-HH:MM with the start first");
    }
    std::vector<int> which;
    std::string_view rest = days;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      const auto range = item.find('-');
      const auto first = day_index(item.substr(0, range));
      const auto last = range == std::string_view::npos ? first : day_index(item.substr(range + 1));
      if (!first || !last || *first > *last) {
        return bad("'" + std::string(item) + "' is not a day or a range of days mon..sun");
      }
      for (int d = *first; d <= *last; ++d) which.push_back(d);
    }
    for (int d : which) out.push_back({d, *from, *to});
  }
  std::sort(out.begin(), out.end(), [](const WorkingInterval& a, const WorkingInterval& b) {
    return std::tie(a.day, a.from) < std::tie(b.day, b.from);
  });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].day == out[i - 1].day && out[i].from < out[i - 1].to) {
      return bad("two parts overlap on " + std::string(day_name(out[i].day)));
    }
  }
  return out;
}

std::string format_working_hours(const std::vector<WorkingInterval>& hours) {
  std::string out;
  for (const auto& w : hours) {
    if (!out.empty()) out += ';';
    out += std::string(day_name(w.day)) + " " + clock_text(w.from) + "-" + clock_text(w.to);
  }
  return out;
}

bool valid_date(std::string_view d) noexcept {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u}) {
    if (d[i] < '0' || d[i] > '9') return false;
  }
  const int y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
  const int m = (d[5] - '0') * 10 + (d[6] - '0');
  const int day = (d[8] - '0') * 10 + (d[9] - '0');
  if (y < 1970 || m < 1 || m > 12 || day < 1) return false;
  constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return day <= kDaysIn[m - 1] + (m == 2 && leap ? 1 : 0);
}

std::string host_stream_id(std::string_view host) { return "host:" + std::string(host); }

namespace {
using Codec = detail::EventCodec<Event>;
}  // namespace

std::string_view type_name(const Event& event) noexcept { return Codec::type_name(event); }
std::uint32_t schema_version(const Event& event) noexcept { return Codec::schema_version(event); }
bool is_event_type(std::string_view type) noexcept { return Codec::is_event_type(type); }
boost::json::object to_payload(const Event& event) { return detail::to_payload(event); }
Result<Event> from_payload(std::string_view type, boost::json::object payload) {
  return Codec::from_payload(type, std::move(payload));
}

State evolve(State s, const Event& event) {
  std::visit(Overloaded{
                 [&](const ProjectCreated& e) {
                   s.exists = true;
                   s.slug = e.slug;
                   s.settings = e.settings;
                 },
                 [&](const ProjectConfigured& e) { s.settings = e.settings; },
                 [&](const StaffAdded& e) {
                   s.staff[e.staff_id] = {e.email, e.display_name, e.role};
                 },
                 [&](const StaffRemoved& e) {
                   s.staff.erase(e.staff_id);
                   for (auto& [team, members] : s.teams) members.erase(e.staff_id);
                 },
                 [&](const TeamAdded& e) { s.teams.try_emplace(e.team); },
                 [&](const TeamRemoved& e) { s.teams.erase(e.team); },
                 [&](const TeamMemberAdded& e) { s.teams[e.team].insert(e.staff_id); },
                 [&](const TeamMemberRemoved& e) {
                   if (auto it = s.teams.find(e.team); it != s.teams.end()) {
                     it->second.erase(e.staff_id);
                   }
                 },
                 [&](const HostClaimed& e) {  // lives in the host name's stream
                   s.exists = true;
                   s.host_claimed_by = e.project;
                 },
                 [&](const HostReleased&) { s.host_claimed_by.clear(); },
                 [&](const TemplateSet& e) { s.templates[e.definition.key] = e.definition; },
                 [&](const TemplateRemoved& e) { s.templates.erase(e.key); },
             },
             event);
  return s;
}

State fold(const std::vector<Event>& events, State state) {
  for (const Event& e : events) state = evolve(std::move(state), e);
  return state;
}

Result<std::vector<Event>> decide(const State& s, const Command& command, const Context& ctx) {
  std::vector<Event> out;
  const bool admin = ctx.actor.realm == Realm::system ||
                     (ctx.actor.realm == Realm::staff && s.staff.contains(ctx.actor.id) &&
                      s.staff.at(ctx.actor.id).role == "admin");
  Result<void> done = std::visit(
      Overloaded{
          [&](const CreateProject& c) -> Result<void> {
            if (ctx.actor.realm != Realm::system) {
              return fail(errc::kForbidden, "projects are created by the operator");
            }
            if (!valid_slug(c.slug)) {
              return fail(errc::kInvalidRequest, "a slug is 2 to 40 of a-z, 0-9 and '-'", "slug");
            }
            if (s.exists) return fail(errc::kConflict, "project " + c.slug + " exists");
            if (auto ok = check_settings(c.settings); !ok) return ok;
            out.push_back(ProjectCreated{ctx.now, c.slug, c.settings});
            return {};
          },
          [&](const ConfigureProject& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins configure a project");
            if (auto ok = check_settings(c.settings); !ok) return ok;
            if (c.settings != s.settings) {
              out.push_back(ProjectConfigured{ctx.now, c.settings, ctx.actor});
            }
            return {};
          },
          [&](const AddStaff& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins add staff");
            if (c.role != "admin" && c.role != "agent") {
              return fail(errc::kInvalidRequest, "role is admin or agent", "role");
            }
            if (c.staff_id.empty() || email_domain(c.email).empty()) {
              return fail(errc::kInvalidRequest, "staff need an id and an e-mail address", "email");
            }
            if (trim(c.display_name).empty()) {
              return fail(errc::kInvalidRequest, "staff need a name", "name");
            }
            auto it = s.staff.find(c.staff_id);
            const StaffMember wanted{c.email, c.display_name, c.role};
            if (it == s.staff.end() || !(it->second == wanted)) {
              out.push_back(StaffAdded{ctx.now, c.staff_id, c.email, c.display_name, c.role});
            }
            return {};
          },
          [&](const RemoveStaff& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins remove staff");
            if (s.staff.contains(c.staff_id)) out.push_back(StaffRemoved{ctx.now, c.staff_id});
            return {};
          },
          [&](const AddTeam& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins add teams");
            if (!valid_team(c.team)) {
              return fail(errc::kInvalidRequest,
                          "a team name is 1 to 60 characters without control characters or "
                          "surrounding spaces",
                          "name");
            }
            if (s.teams.size() >= 200 && !s.teams.contains(c.team)) {
              return fail(errc::kInvalidRequest, "a project has at most 200 teams", "name");
            }
            if (!s.teams.contains(c.team)) out.push_back(TeamAdded{ctx.now, c.team});
            return {};
          },
          [&](const RemoveTeam& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins remove teams");
            if (!s.teams.contains(c.team)) {
              return fail(errc::kNotFound, "no team " + c.team + " in this project", "name");
            }
            out.push_back(TeamRemoved{ctx.now, c.team});
            return {};
          },
          [&](const SetTemplate& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins change templates");
            auto checked = templates::check_template(c.definition);
            if (!checked) return Unexpected(checked.error());
            if (!checked->team.empty() && !s.teams.contains(checked->team)) {
              return fail(errc::kInvalidRequest, "no team " + checked->team + " in this project",
                          "team");
            }
            if (s.templates.size() >= 100 && !s.templates.contains(checked->key)) {
              return fail(errc::kInvalidRequest, "a project has at most 100 templates", "key");
            }
            auto it = s.templates.find(checked->key);
            if (it == s.templates.end() || it->second != *checked) {
              out.push_back(TemplateSet{ctx.now, std::move(*checked)});
            }
            return {};
          },
          [&](const RemoveTemplate& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins change templates");
            if (!s.templates.contains(c.key)) {
              return fail(errc::kNotFound, "no template " + c.key + " in this project", "key");
            }
            out.push_back(TemplateRemoved{ctx.now, c.key});
            return {};
          },
          [&](const SetTeamMember& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such project");
            if (!admin) return fail(errc::kForbidden, "only admins change teams");
            auto team = s.teams.find(c.team);
            if (team == s.teams.end()) {
              return fail(errc::kNotFound, "no team " + c.team + " in this project", "name");
            }
            if (!s.staff.contains(c.staff_id)) {
              return fail(errc::kNotFound, "no such staff member in this project", "email");
            }
            const bool member = team->second.contains(c.staff_id);
            if (c.remove && member) out.push_back(TeamMemberRemoved{ctx.now, c.team, c.staff_id});
            if (!c.remove && !member) out.push_back(TeamMemberAdded{ctx.now, c.team, c.staff_id});
            return {};
          },
      },
      command);
  if (!done) return Unexpected(std::move(done).error());
  return out;
}

bool valid_provider_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 32 || name == "magic_link" || name == "password") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool valid_slug(std::string_view slug) noexcept {
  if (slug.size() < 2 || slug.size() > 40 || slug.front() == '-') return false;
  return std::all_of(slug.begin(), slug.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string email_domain(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size()) return {};
  return lower(email.substr(at + 1));
}

bool domain_allowed(const State& s, std::string_view email) {
  const auto& allowed = s.settings.allowed_domains;
  if (allowed.empty()) return true;
  const std::string domain = email_domain(email);
  return std::find(allowed.begin(), allowed.end(), domain) != allowed.end();
}

std::string organization_of(const State& s, std::string_view email) {
  const std::string domain = email_domain(email);
  for (const auto& org : s.settings.organizations) {
    if (std::find(org.domains.begin(), org.domains.end(), domain) != org.domains.end()) {
      return org.name;
    }
  }
  return {};
}

bool requires_staff_totp(const State& s) { return s.settings.staff_totp == "required"; }

Result<void> check_staff_totp(const State& s, bool totp_enabled) {
  if (totp_enabled || !requires_staff_totp(s)) return {};
  return fail(errc::kForbidden, s.settings.name +
                                    " requires two-factor sign-in for staff: turn it on first "
                                    "(POST /api/v1/staff/me/totp, then …/totp/confirm)");
}

bool is_staff(const State& s, std::string_view staff_id) {
  return s.staff.find(std::string(staff_id)) != s.staff.end();
}

std::string stream_id(std::string_view slug) { return "project:" + std::string(slug); }

}  // namespace project
}  // namespace portico::domain
