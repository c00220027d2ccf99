#include <algorithm>
#include <portico/domain/account.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>

#include "payload.hpp"

namespace portico::domain::customer {
namespace {

using detail::Overloaded;
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
                 [&](const IdentityLinked& e) {
                   s.identities.push_back({e.provider, e.issuer, e.subject, e.email});
                 },
                 [&](const IdentityUnlinked& e) {
                   std::erase_if(s.identities, [&](const Identity& i) {
                     return i.issuer == e.issuer && i.subject == e.subject;
                   });
                 },
                 [&](const IdentityClaimed& e) {  // lives in the identity's stream
                   s.exists = true;
                   s.claimed_by = e.customer_id;
                 },
                 [&](const IdentityReleased&) { s.claimed_by.clear(); },
                 [&](const LanguageChosen& e) { s.language = e.language; },
                 [&](const totp::TotpEnrolStarted& e) { totp::apply(s.totp, e); },
                 [&](const totp::TotpEnabled& e) { totp::apply(s.totp, e); },
                 [&](const totp::TotpDisabled& e) { totp::apply(s.totp, e); },
                 [&](const totp::TotpCodeUsed& e) { totp::apply(s.totp, e); },
                 [&](const totp::RecoveryCodeUsed& e) { totp::apply(s.totp, e); },
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
            // No address at all: a provider's identity that vouched for none (account.hpp).
            if (!c.email.empty() && project::email_domain(c.email).empty()) {
              return fail(errc::kInvalidRequest, "not an e-mail address", "email");
            }
            if (auto name = account::check_display_name(c.display_name); !name) {
              return Unexpected(name.error());
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
          [&](const ChooseLanguage& c) -> Result<void> {
            if (!s.exists) return fail(errc::kNotFound, "no such customer");
            if (!self) return fail(errc::kForbidden, "customers choose their own language");
            if (!c.language.empty() && !valid_language(c.language)) {
              return fail(errc::kInvalidRequest, "a language is a tag such as \"de\" or \"pt-BR\"",
                          "language");
            }
            if (c.language != s.language) out.push_back(LanguageChosen{ctx.now, c.language});
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

bool valid_language(std::string_view tag) noexcept {
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  const auto dash = tag.find('-');
  const auto primary = tag.substr(0, dash);
  if (primary.size() < 2 || primary.size() > 3 ||
      !std::all_of(primary.begin(), primary.end(), lower)) {
    return false;
  }
  if (dash == std::string_view::npos) return true;
  const auto region = tag.substr(dash + 1);
  return region.size() == 2 && std::all_of(region.begin(), region.end(), upper);
}

std::string stream_id(std::string_view customer_id) {
  return "customer:" + std::string(customer_id);
}

std::string handle_stream_id(std::string_view handle) { return "handle:" + std::string(handle); }

std::string email_stream_id(std::string_view normalized_email) {
  return "email:" + std::string(normalized_email);
}

std::string identity_stream_id(std::string_view key_hash) {
  return "identity:" + std::string(key_hash);
}

const Identity* identity_of(const State& s, std::string_view provider) {
  auto it = std::find_if(s.identities.begin(), s.identities.end(),
                         [&](const Identity& i) { return i.provider == provider; });
  return it == s.identities.end() ? nullptr : &*it;
}

}  // namespace portico::domain::customer
