#include <algorithm>
#include <array>
#include <cctype>
#include <portico/domain/project.hpp>
#include <set>

#include "payload.hpp"

namespace portico::domain {
namespace {

using detail::Overloaded;

constexpr std::array<std::string_view, 5> kSignInMethods = {"magic_link", "password", "cfx",
                                                            "google", "microsoft"};

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

Result<void> check_settings(const project::Settings& s) {
  const auto name_length = utf8_length(s.name);
  if (!name_length || trim(s.name).empty() || *name_length > 100) {
    return fail(errc::kInvalidRequest, "a project name is 1 to 100 characters", "name");
  }
  if (s.sign_in.empty()) {
    return fail(errc::kInvalidRequest, "enable at least one sign-in method", "sign_in");
  }
  for (const auto& m : s.sign_in) {
    if (std::find(kSignInMethods.begin(), kSignInMethods.end(), m) == kSignInMethods.end()) {
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
  if (p.pending_closure_timeout <= 0 || p.resolved_timeout < 0 || p.survey_expiry <= 0 ||
      p.survey_options.empty() || p.max_subject == 0 || p.max_message == 0) {
    return fail(errc::kInvalidRequest, "timeouts, limits and survey options must be positive",
                "policies");
  }
  return {};
}

}  // namespace

namespace project {

constexpr std::array<std::string_view, 4> kTypeNames = {"ProjectCreated", "ProjectConfigured",
                                                        "StaffAdded", "StaffRemoved"};

std::string_view type_name(const Event& event) noexcept { return kTypeNames[event.index()]; }
bool is_event_type(std::string_view type) noexcept {
  return std::find(kTypeNames.begin(), kTypeNames.end(), type) != kTypeNames.end();
}
boost::json::object to_payload(const Event& event) { return detail::to_payload(event); }
Result<Event> from_payload(std::string_view type, boost::json::object payload) {
  return detail::from_payload<Event>(kTypeNames, type, std::move(payload));
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
                 [&](const StaffRemoved& e) { s.staff.erase(e.staff_id); },
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
      },
      command);
  if (!done) return Unexpected(std::move(done).error());
  return out;
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

bool is_staff(const State& s, std::string_view staff_id) {
  return s.staff.find(std::string(staff_id)) != s.staff.end();
}

std::string stream_id(std::string_view slug) { return "project:" + std::string(slug); }

}  // namespace project

namespace customer {

constexpr std::array<std::string_view, 8> kTypeNames = {
    "CustomerRegistered", "MembershipJoined", "MembershipLeft",   "HandleClaimed",
    "EmailClaimed",       "PasswordSet",      "PasswordVerified", "EmailVerified"};

std::string_view type_name(const Event& event) noexcept { return kTypeNames[event.index()]; }
bool is_event_type(std::string_view type) noexcept {
  return std::find(kTypeNames.begin(), kTypeNames.end(), type) != kTypeNames.end();
}
boost::json::object to_payload(const Event& event) { return detail::to_payload(event); }
Result<Event> from_payload(std::string_view type, boost::json::object payload) {
  return detail::from_payload<Event>(kTypeNames, type, std::move(payload));
}

State evolve(State s, const Event& event) {
  std::visit(Overloaded{
                 [&](const CustomerRegistered& e) {
                   s.exists = true;
                   s.id = e.customer_id;
                   s.email = e.email;
                   s.display_name = e.display_name;
                   s.handle = e.handle;
                 },
                 [&](const MembershipJoined& e) { s.projects.insert(e.project); },
                 [&](const MembershipLeft& e) { s.projects.erase(e.project); },
                 [&](const HandleClaimed&) {},  // lives in the handle's stream
                 [&](const EmailClaimed& e) {   // lives in the address's stream
                   s.exists = true;
                   s.claimed_by = e.customer_id;
                 },
                 [&](const PasswordSet& e) {
                   s.password_hash = e.hash;
                   s.password_set_at = e.at;
                   s.password_verified = e.verified;
                   if (e.verified) s.email_verified = true;
                   if (e.ends_sessions) s.sessions_valid_from = e.at;
                 },
                 [&](const PasswordVerified& e) {
                   if (e.password_set_at == s.password_set_at) s.password_verified = true;
                   s.email_verified = true;
                 },
                 [&](const EmailVerified&) { s.email_verified = true; },
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
  const bool self = ctx.actor.realm == Realm::system ||
                    (ctx.actor.realm == Realm::customer && ctx.actor.id == s.id);
  Result<void> done = std::visit(
      Overloaded{
          [&](const Register& c) -> Result<void> {
            if (ctx.actor.realm != Realm::system) {
              return fail(errc::kForbidden, "sign-in registers customers");
            }
            if (c.customer_id.empty()) return fail(errc::kInvalidRequest, "no customer id");
            if (project::email_domain(c.email).empty()) {
              return fail(errc::kInvalidRequest, "not an e-mail address", "email");
            }
            const auto name_length = utf8_length(c.display_name);
            if (!name_length || trim(c.display_name).empty() || *name_length > 100) {
              return fail(errc::kInvalidRequest, "a display name is 1 to 100 characters",
                          "display_name");
            }
            if (!valid_handle(c.handle)) {
              return fail(errc::kInvalidRequest, "a handle is 2 to 32 of a-z 0-9 _ - .", "handle");
            }
            if (s.exists) {
              if (s.email == c.email && s.handle == c.handle) return {};  // a retry
              return fail(errc::kConflict, "customer exists");
            }
            out.push_back(
                CustomerRegistered{ctx.now, c.customer_id, c.email, c.display_name, c.handle});
            return {};
          },
          [&](const JoinProject& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such customer");
            if (!self) return fail(errc::kForbidden, "customers join projects themselves");
            if (!c.allowed_domains.empty() &&
                std::find(c.allowed_domains.begin(), c.allowed_domains.end(),
                          project::email_domain(s.email)) == c.allowed_domains.end()) {
              return fail(errc::kDomainNotAllowed,
                          "this project admits only e-mail addresses of its allowed domains");
            }
            if (!s.projects.contains(c.project)) {
              out.push_back(MembershipJoined{ctx.now, c.project});
            }
            return {};
          },
          [&](const LeaveProject& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such customer");
            if (!self) return fail(errc::kForbidden, "customers leave projects themselves");
            if (s.projects.contains(c.project)) out.push_back(MembershipLeft{ctx.now, c.project});
            return {};
          },
      },
      command);
  if (!done) return Unexpected(std::move(done).error());
  return out;
}

bool is_member(const State& s, std::string_view project) {
  return s.projects.find(std::string(project)) != s.projects.end();
}

bool valid_handle(std::string_view h) noexcept {
  if (h.size() < 2 || h.size() > 32) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

std::string stream_id(std::string_view customer_id) {
  return "customer:" + std::string(customer_id);
}

std::string handle_stream_id(std::string_view handle) { return "handle:" + std::string(handle); }

std::string email_stream_id(std::string_view normalized_email) {
  return "email:" + std::string(normalized_email);
}

}  // namespace customer
}  // namespace portico::domain
