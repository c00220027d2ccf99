#include "settings_flags.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <boost/json/value_from.hpp>
#include <cctype>
#include <charconv>
#include <functional>
#include <portico/domain/account.hpp>
#include <portico/errc.hpp>
#include <vector>

namespace portico::admin {
namespace {

namespace project = domain::project;
using Settings = project::Settings;

std::vector<std::string> list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = domain::trim(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Result<bool> on_off(std::string_view flag, std::string_view value) {
  if (value == "on") return true;
  if (value == "off") return false;
  return fail(errc::kInvalidRequest, std::string(flag) + " is on or off", std::string(flag));
}

Result<domain::TimeUs> duration(std::string_view flag, std::string_view value) {
  auto d = domain::parse_duration(value);
  if (!d) {
    return fail(errc::kInvalidRequest,
                std::string(flag) + " is a duration: 45s, 30m, 48h, 14d, or 0 (never)",
                std::string(flag));
  }
  return *d;
}

// "5x10MB": a count and a size (B, KB, MB, GB; 1 KB = 1024 bytes).
Result<std::pair<std::uint32_t, std::uint64_t>> attachments(std::string_view value) {
  auto bad = [] {
    return fail(errc::kInvalidRequest,
                "--attachments is COUNTxSIZE, e.g. 5x10MB (a count 0..20, a size in B, KB, MB or "
                "GB up to 100MB)",
                "--attachments");
  };
  const auto x = value.find('x');
  if (x == std::string_view::npos || x == 0) return bad();
  std::uint32_t count = 0;
  const auto cs = value.substr(0, x);
  if (auto [end, ec] = std::from_chars(cs.data(), cs.data() + cs.size(), count);
      ec != std::errc() || end != cs.data() + cs.size()) {
    return bad();
  }
  std::string_view size = value.substr(x + 1);
  std::uint64_t unit = 1;
  for (auto [suffix, factor] : {std::pair{std::string_view("GB"), std::uint64_t{1} << 30},
                                std::pair{std::string_view("MB"), std::uint64_t{1} << 20},
                                std::pair{std::string_view("KB"), std::uint64_t{1} << 10},
                                std::pair{std::string_view("B"), std::uint64_t{1}}}) {
    if (size.ends_with(suffix)) {
      unit = factor;
      size.remove_suffix(suffix.size());
      break;
    }
  }
  std::uint64_t n = 0;
  if (size.empty() || size.size() > 9) return bad();
  if (auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), n);
      ec != std::errc() || end != size.data() + size.size()) {
    return bad();
  }
  if (count > 20 || n == 0 || n * unit > 100 * project::kMiB) return bad();
  return std::pair{count, n * unit};
}

using Apply = std::function<Result<void>(Settings&, std::string_view flag, std::string_view)>;

struct FlagRule {
  std::string_view flag;
  Apply apply;
};

const std::vector<FlagRule>& rules() {
  static const std::vector<FlagRule> kRules = {
      {"--name",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.name = v;
         return {};
       }},
      {"--customer-reply",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         if (v == "keep_status") {
           s.policies.customer_reply = domain::CustomerReplyPolicy::keep_status;
         } else if (v == "reopen") {
           s.policies.customer_reply = domain::CustomerReplyPolicy::reopen;
         } else {
           return fail(errc::kInvalidRequest, "--customer-reply is keep_status or reopen",
                       std::string(f));
         }
         return {};
       }},
      {"--closed-tickets",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         if (v == "closed_is_final") {
           s.policies.closed_tickets = domain::ClosedTicketsPolicy::closed_is_final;
         } else if (v == "reply_reopens") {
           s.policies.closed_tickets = domain::ClosedTicketsPolicy::reply_reopens;
         } else {
           return fail(errc::kInvalidRequest,
                       "--closed-tickets is closed_is_final or reply_reopens", std::string(f));
         }
         return {};
       }},
      {"--sign-in",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.sign_in = list(v);
         return {};
       }},
      {"--allowed-domains",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.allowed_domains = list(v);
         for (auto& d : s.allowed_domains) {
           std::transform(d.begin(), d.end(), d.begin(), [](char c) {
             return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
           });
         }
         return {};
       }},
      {"--organization",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         // NAME=DOMAIN[,DOMAIN…]: adds the organisation, or replaces the one of that name.
         const auto eq = v.find('=');
         const auto name = domain::trim(v.substr(0, eq == std::string_view::npos ? 0 : eq));
         if (eq == std::string_view::npos || name.empty() || list(v.substr(eq + 1)).empty()) {
           return fail(errc::kInvalidRequest, "--organization is NAME=DOMAIN[,DOMAIN…]",
                       std::string(f));
         }
         project::Organization org{std::string(name), list(v.substr(eq + 1))};
         auto it = std::find_if(s.organizations.begin(), s.organizations.end(),
                                [&](const auto& o) { return o.name == org.name; });
         if (it != s.organizations.end()) {
           *it = std::move(org);
         } else {
           s.organizations.push_back(std::move(org));
         }
         return {};
       }},
      {"--no-organization",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto it = std::find_if(s.organizations.begin(), s.organizations.end(),
                                [&](const auto& o) { return o.name == v; });
         if (it == s.organizations.end()) {
           return fail(errc::kInvalidRequest, "no organisation named " + std::string(v),
                       std::string(f));
         }
         s.organizations.erase(it);
         return {};
       }},
      {"--organization-visibility",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto b = on_off(f, v);
         if (!b) return Unexpected(b.error());
         s.policies.organization_visibility = *b;
         return {};
       }},
      {"--pending-closure-timeout",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto d = duration(f, v);
         if (!d) return Unexpected(d.error());
         s.policies.pending_closure_timeout = *d;
         return {};
       }},
      {"--resolved-timeout",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto d = duration(f, v);
         if (!d) return Unexpected(d.error());
         s.policies.resolved_timeout = *d;
         return {};
       }},
      {"--surveys",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto b = on_off(f, v);
         if (!b) return Unexpected(b.error());
         s.policies.surveys = *b;
         return {};
       }},
      {"--survey-options",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         s.policies.survey_options = list(v);
         if (s.policies.survey_options.empty()) {
           return fail(errc::kInvalidRequest, "--survey-options lists at least one option",
                       std::string(f));
         }
         return {};
       }},
      {"--primary-color",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.theme.primary_color = v;
         return {};
       }},
      {"--accent-color",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.theme.accent_color = v;
         return {};
       }},
      {"--logo-url",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.theme.logo_url = v;
         return {};
       }},
      {"--languages",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.languages = list(v);
         return {};
       }},
      {"--customer-priority",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto b = on_off(f, v);
         if (!b) return Unexpected(b.error());
         s.customer_priority = *b;
         return {};
       }},
      {"--staff-totp",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.staff_totp = v;
         return {};
       }},
      {"--kb",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         s.kb = v;
         return {};
       }},
      {"--time-zone",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         if (!known_time_zone(std::string(v))) {
           return fail(errc::kInvalidRequest,
                       "--time-zone names a zone of the time zone database (e.g. Europe/Berlin, "
                       "UTC); not " +
                           std::string(v),
                       std::string(f));
         }
         s.time_zone = v;
         return {};
       }},
      {"--working-hours",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto hours = project::parse_working_hours(v);
         if (!hours) {
           return fail(errc::kInvalidRequest, "--working-hours: " + hours.error().message,
                       std::string(f));
         }
         s.working_hours = std::move(*hours);
         return {};
       }},
      {"--holidays",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         auto days = list(v);
         for (const auto& d : days) {
           if (!project::valid_date(d)) {
             return fail(errc::kInvalidRequest,
                         "--holidays lists dates YYYY-MM-DD that exist; not " + d, std::string(f));
           }
         }
         std::sort(days.begin(), days.end());
         days.erase(std::unique(days.begin(), days.end()), days.end());
         s.holidays = std::move(days);
         return {};
       }},
      {"--attachments",
       [](Settings& s, std::string_view, std::string_view v) -> Result<void> {
         auto a = attachments(v);
         if (!a) return Unexpected(a.error());
         s.max_attachments = a->first;
         s.max_attachment_bytes = a->second;
         return {};
       }},
      {"--host",
       [](Settings& s, std::string_view f, std::string_view v) -> Result<void> {
         // Adds a host name; "-NAME" takes one away, "" clears the list.
         if (v.empty()) {
           s.hosts.clear();
           return {};
         }
         const bool remove = v.front() == '-';
         std::string host(remove ? v.substr(1) : v);
         std::transform(host.begin(), host.end(), host.begin(), [](char c) {
           return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
         });
         if (!project::valid_host(host)) {
           return fail(errc::kInvalidRequest,
                       "--host is a host name like support.example.com (no scheme, port or path)",
                       std::string(f));
         }
         auto it = std::find(s.hosts.begin(), s.hosts.end(), host);
         if (remove && it != s.hosts.end()) s.hosts.erase(it);
         if (!remove && it == s.hosts.end()) s.hosts.push_back(host);
         return {};
       }},
  };
  return kRules;
}

}  // namespace

bool is_settings_flag(std::string_view flag) {
  const auto& r = rules();
  return std::any_of(r.begin(), r.end(), [&](const FlagRule& x) { return x.flag == flag; });
}

Result<void> apply_settings_flag(Settings& settings, std::string_view flag,
                                 std::string_view value) {
  for (const FlagRule& r : rules()) {
    if (r.flag == flag) return r.apply(settings, flag, value);
  }
  return fail(errc::kInvalidRequest, "unknown flag " + std::string(flag), std::string(flag));
}

std::string flag_of_field(std::string_view field) {
  static const std::array<std::pair<std::string_view, std::string_view>, 15> kFields = {{
      {"name", "--name"},
      {"sign_in", "--sign-in"},
      {"allowed_domains", "--allowed-domains"},
      {"organizations", "--organization"},
      {"theme", "--primary-color/--accent-color/--logo-url"},
      {"policies", "--pending-closure-timeout/--resolved-timeout/--survey-options"},
      {"survey_options", "--survey-options"},
      {"languages", "--languages"},
      {"staff_totp", "--staff-totp"},
      {"kb", "--kb"},
      {"time_zone", "--time-zone"},
      {"working_hours", "--working-hours"},
      {"holidays", "--holidays"},
      {"attachments", "--attachments"},
      {"hosts", "--host"},
  }};
  for (auto [f, flag] : kFields) {
    if (f == field) return std::string(flag);
  }
  return std::string(field);
}

bool known_time_zone(const std::string& zone) {
  // Only the shape of a zone name reaches the database (never a path of one's own).
  if (zone.empty() || zone.size() > 64 || zone.front() == '/' ||
      zone.find("..") != std::string::npos || !std::all_of(zone.begin(), zone.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
               c == '+';
      })) {
    return false;
  }
  try {
    return date::locate_zone(zone) != nullptr;
  } catch (const std::exception&) {
    return false;
  }
}

boost::json::object settings_json(const project::State& p) {
  const Settings& s = p.settings;
  boost::json::object out;
  out["slug"] = p.slug;
  out["name"] = s.name;
  const domain::Policies& pol = s.policies;
  out["policies"] = {
      {"customer_reply",
       pol.customer_reply == domain::CustomerReplyPolicy::reopen ? "reopen" : "keep_status"},
      {"closed_tickets", pol.closed_tickets == domain::ClosedTicketsPolicy::reply_reopens
                             ? "reply_reopens"
                             : "closed_is_final"},
      {"pending_closure_timeout", domain::format_duration(pol.pending_closure_timeout)},
      {"resolved_timeout", domain::format_duration(pol.resolved_timeout)},
      {"surveys", pol.surveys},
      {"survey_options", boost::json::value_from(pol.survey_options)},
      {"organization_visibility", pol.organization_visibility},
  };
  out["sign_in"] = boost::json::value_from(s.sign_in);
  out["allowed_domains"] = boost::json::value_from(s.allowed_domains);
  boost::json::array orgs;
  for (const auto& o : s.organizations) {
    orgs.push_back({{"name", o.name}, {"domains", boost::json::value_from(o.domains)}});
  }
  out["organizations"] = std::move(orgs);
  out["theme"] = {{"logo_url", s.theme.logo_url},
                  {"primary_color", s.theme.primary_color},
                  {"accent_color", s.theme.accent_color}};
  out["languages"] = boost::json::value_from(s.languages);
  out["customer_priority"] = s.customer_priority;
  out["staff_totp"] = s.staff_totp;
  out["kb"] = s.kb;
  out["time_zone"] = s.time_zone;
  out["working_hours"] = project::format_working_hours(s.working_hours);
  out["holidays"] = boost::json::value_from(s.holidays);
  out["attachments"] = {{"count", s.max_attachments}, {"size_bytes", s.max_attachment_bytes}};
  out["hosts"] = boost::json::value_from(s.hosts);
  boost::json::array teams;
  for (const auto& [team, members] : p.teams) {
    boost::json::array emails;
    for (const auto& id : members) {
      if (auto it = p.staff.find(id); it != p.staff.end())
        emails.push_back(boost::json::value(it->second.email));
    }
    teams.push_back({{"name", team}, {"members", std::move(emails)}});
  }
  out["teams"] = std::move(teams);
  boost::json::array staff;
  for (const auto& [id, m] : p.staff) {
    staff.push_back({{"id", id}, {"email", m.email}, {"name", m.display_name}, {"role", m.role}});
  }
  out["staff"] = std::move(staff);
  return out;
}

}  // namespace portico::admin
