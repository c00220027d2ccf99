#include <algorithm>
#include <array>
#include <cctype>
#include <portico/domain/account.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>
#include <portico/utf8.hpp>
#include <set>

#include "payload.hpp"

namespace portico::domain::account {
namespace {

using detail::Overloaded;
using Codec = detail::EventCodec<Event>;

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

std::string_view type_name(const Event& event) noexcept { return Codec::type_name(event); }
std::uint32_t schema_version(const Event& event) noexcept { return Codec::schema_version(event); }
bool is_event_type(std::string_view type) noexcept { return Codec::is_event_type(type); }
boost::json::object to_payload(const Event& event) { return detail::to_payload(event); }
Result<Event> from_payload(std::string_view type, boost::json::object payload) {
  return Codec::from_payload(type, std::move(payload));
}

State evolve(State s, const Event& event) {
  s.exists = true;
  std::visit(Overloaded{
                 [&](const TokenIssued& e) { s.token = e; },
                 [&](const TokenUsed&) { s.used = true; },
                 [&](const SessionStarted& e) {
                   s.session = e;
                   s.last_active = e.at;
                 },
                 [&](const SessionRefreshed& e) { s.last_active = std::max(s.last_active, e.at); },
                 [&](const SessionEnded&) { s.ended = true; },
                 [&](const StaffAccountCreated& e) {
                   s.staff_id = e.staff_id;
                   s.email = e.email;
                   s.display_name = e.display_name;
                 },
                 [&](const StaffPasswordSet& e) {
                   // A new password ends the sessions the old one started (the first, set with
                   // the account, precedes every session).
                   s.password_hash = e.hash;
                   s.sessions_valid_from = e.at;
                 },
                 [&](const StaffSessionsEnded& e) { s.sessions_valid_from = e.at; },
                 [&](const StaffEmailClaimed& e) { s.claimed_by = e.staff_id; },
                 [&](const totp::TotpEnrolStarted& e) { totp::apply(s.totp, e); },
                 [&](const totp::TotpEnabled& e) { totp::apply(s.totp, e); },
                 [&](const totp::TotpDisabled& e) { totp::apply(s.totp, e); },
                 [&](const totp::TotpCodeUsed& e) { totp::apply(s.totp, e); },
                 [&](const totp::RecoveryCodeUsed& e) { totp::apply(s.totp, e); },
             },
             event);
  return s;
}

bool token_usable(const State& t, Purpose purpose, TimeUs now) {
  return t.token && !t.used && t.token->purpose == purpose && now < t.token->expires_at;
}

bool token_voided(const TokenIssued& token, TimeUs valid_from) { return token.at < valid_from; }

bool unsafe_in_name(char32_t cp) noexcept {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
         cp == 0x200f || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

Result<std::string> check_display_name(std::string_view name) {
  name = trim(name);
  std::size_t length = 0;
  bool safe = true;
  const bool utf8 = portico::utf8::for_each_code_point(name, [&](char32_t cp) {
    ++length;
    safe = safe && !unsafe_in_name(cp);
    return true;
  });
  if (!utf8 || length == 0 || length > kMaxDisplayName) {
    return fail(errc::kInvalidRequest,
                "a display name is 1 to " + std::to_string(kMaxDisplayName) + " characters",
                "display_name");
  }
  if (!safe) {
    return fail(errc::kInvalidRequest,
                "a display name is one line of text, without control or direction characters",
                "display_name");
  }
  return std::string(name);
}

bool session_active(const State& s, TimeUs now) {
  return s.session && !s.ended && now < s.session->expires_at &&
         now < s.last_active + s.session->idle_timeout;
}

bool session_needs_refresh(const State& s, TimeUs now, TimeUs interval) {
  return session_active(s, now) && now - s.last_active >= interval;
}

Result<void> check_password(std::string_view password, std::string_view email,
                            const PasswordRules& rules) {
  const auto length = utf8_length(password);
  if (!length) return fail(errc::kInvalidRequest, "a password must be UTF-8 text", "password");
  if (*length < rules.min_length) {
    return fail(errc::kInvalidRequest,
                "a password needs at least " + std::to_string(rules.min_length) + " characters",
                "password");
  }
  if (*length > rules.max_length) {
    return fail(errc::kInvalidRequest,
                "a password has at most " + std::to_string(rules.max_length) + " characters",
                "password");
  }
  std::string folded;
  folded.reserve(password.size());
  for (char c : password) folded.push_back(lower(c));
  std::string stem = folded;
  while (!stem.empty() && std::isalnum(static_cast<unsigned char>(stem.back())) == 0) {
    stem.pop_back();
  }
  while (!stem.empty() && std::isdigit(static_cast<unsigned char>(stem.back())) != 0) {
    stem.pop_back();
  }
  if (stem.empty()) {
    return fail(errc::kInvalidRequest, "a password of digits only is too easy to guess",
                "password");
  }
  const std::set<char> distinct(folded.begin(), folded.end());
  if (distinct.size() < 4) {
    return fail(errc::kInvalidRequest, "a password needs at least 4 different characters",
                "password");
  }
  const std::string local(email.substr(0, email.find('@')));
  if ((!local.empty() && folded.find(local) != std::string::npos && local.size() >= 4) ||
      folded == email) {
    return fail(errc::kInvalidRequest, "a password must not contain your e-mail address",
                "password");
  }
  if (rules.is_common && (rules.is_common(password) || rules.is_common(folded) ||
                          (stem.size() >= 3 && rules.is_common(stem)))) {
    return fail(errc::kInvalidRequest, "this password is among the most commonly used ones",
                "password");
  }
  return {};
}

std::optional<std::string> normalize_email(std::string_view email) {
  email = trim(email);
  if (email.empty() || email.size() > 254) return std::nullopt;
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || email.find('@', at + 1) != email.npos) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(email.size());
  for (char c : email) {
    const auto u = static_cast<unsigned char>(c);
    // Printable ASCII without the characters that would make it more than one plain addr-spec.
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' ||
        c == ';' || c == '<' || c == '>' || c == '[' || c == ']' || c == '\\') {
      return std::nullopt;
    }
    out.push_back(lower(c));
  }
  const std::string_view local(out.data(), at);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != local.npos) {
    return std::nullopt;
  }
  const std::string domain = out.substr(at + 1);
  if (project::email_domain(out) != domain || domain.find('.') == std::string::npos ||
      domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string::npos ||
      !std::all_of(domain.begin(), domain.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      })) {
    return std::nullopt;
  }
  return out;
}

std::string handle_from_email(std::string_view email) {
  std::string out;
  for (char c : email.substr(0, std::min(email.find('+'), email.find('@')))) {
    c = lower(c);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.') {
      out.push_back(c);
    }
    if (out.size() == 24) break;
  }
  while (out.size() < 2) out.push_back('_');
  return out;
}

std::string token_stream(std::string_view token_hash) { return "token:" + std::string(token_hash); }
std::string session_stream(std::string_view token_hash) {
  return "session:" + std::string(token_hash);
}
std::string staff_stream(std::string_view staff_id) { return "staff:" + std::string(staff_id); }
std::string staff_email_stream(std::string_view email) {
  return "staff-email:" + std::string(email);
}

// ---- Decisions ----

Result<std::vector<customer::Event>> follow_link(const customer::State& c, const TokenIssued& token,
                                                 TimeUs now) {
  std::vector<customer::Event> out;
  switch (token.purpose) {
    case Purpose::magic_link:
      if (!c.email_verified) out.push_back(customer::EmailVerified{now});
      if (!c.password_hash.empty() && !c.password_verified) {
        out.push_back(customer::PasswordSet{now, {}, false, false});
      }
      return out;
    case Purpose::verify_email:
      // A later registration replaced the password this link was for, or a sign-in by another
      // way dropped it.
      if (c.id != token.customer_id || c.password_set_at != token.password_set_at ||
          c.password_hash.empty()) {
        return fail(errc::kInvalidToken, "this link is unknown, was already used or has expired");
      }
      out.push_back(customer::PasswordVerified{now, token.password_set_at});
      return out;
    case Purpose::password_reset:
      break;
  }
  return fail(errc::kInvalidToken, "this link does not sign in");
}

Result<void> check_password_sign_in(const customer::State* c, bool matches) {
  if (!c || c->password_hash.empty() || !matches) {
    return fail(errc::kInvalidCredentials, "the e-mail address or the password is wrong");
  }
  if (!c->password_verified) {
    return fail(errc::kEmailNotVerified,
                "follow the link we e-mailed you to confirm your address, then sign in");
  }
  return {};
}

Result<IdentityEvents> new_identity(const NewIdentity& id, TimeUs now) {
  auto registered =
      customer::decide({}, customer::Register{id.customer_id, id.email, id.display_name, id.handle},
                       {system_actor(), now});
  if (!registered) return Unexpected(registered.error());
  IdentityEvents out{
      std::move(*registered), {customer::HandleClaimed{now, id.handle, id.customer_id}}, {}};
  if (!id.email.empty()) out.email.push_back(customer::EmailClaimed{now, id.email, id.customer_id});
  return out;
}

Result<RegistrationEvents> register_with_password(const NewIdentity& id, std::string password_hash,
                                                  std::string_view project, TimeUs now,
                                                  TimeUs link_ttl) {
  auto identity = new_identity(id, now);
  if (!identity) return Unexpected(identity.error());
  identity->customer.push_back(customer::PasswordSet{now, std::move(password_hash), false, false});
  return RegistrationEvents{std::move(*identity),
                            TokenIssued{now, Purpose::verify_email, std::string(project), id.email,
                                        id.customer_id, now, now + link_ttl}};
}

std::string vouched_email(const ProviderClaims& claims) {
  if (!claims.email_verified) return {};
  return normalize_email(claims.email).value_or("");
}

std::string handle_from_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    c = lower(c);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.') {
      out.push_back(c);
    } else if ((c == ' ' || c == '\t') && !out.empty() && out.back() != '.') {
      out.push_back('.');
    }
    if (out.size() == 24) break;
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  if (out.size() < 2) out = "customer";
  return out;
}

Result<LinkEvents> link_identity(const customer::State& c, const customer::State& claim,
                                 const ProviderClaims& claims, TimeUs now) {
  if (!c.exists) return fail(errc::kNotFound, "no such customer");
  if (claims.issuer.empty() || claims.subject.empty()) {
    return fail(errc::kInvalidRequest, "an identity needs an issuer and a subject");
  }
  if (!claim.claimed_by.empty()) {
    if (claim.claimed_by == c.id) return LinkEvents{};
    return fail(errc::kConflict, "identity_taken");
  }
  if (customer::identity_of(c, claims.provider) != nullptr) {
    return fail(errc::kConflict,
                "this account has another identity of this provider; remove that one first");
  }
  LinkEvents out;
  const std::string vouched = vouched_email(claims);
  if (!vouched.empty() && vouched == c.email) {
    // The provider proved the address: as following a magic link does.
    TokenIssued proof;
    proof.purpose = Purpose::magic_link;
    auto proved = follow_link(c, proof, now);
    if (!proved) return Unexpected(proved.error());
    out.customer = std::move(*proved);
  }
  out.customer.push_back(customer::IdentityLinked{now, claims.provider, claims.issuer,
                                                  claims.subject,
                                                  normalize_email(claims.email).value_or("")});
  out.claim.push_back(customer::IdentityClaimed{now, claims.issuer, claims.subject, c.id});
  return out;
}

Result<LinkEvents> unlink_identity(const customer::State& c, std::string_view provider,
                                   TimeUs now) {
  const customer::Identity* identity = customer::identity_of(c, provider);
  if (identity == nullptr) return fail(errc::kNotFound, "no identity of this provider");
  if (c.identities.size() == 1 && c.email.empty()) {
    return fail(errc::kConflict,
                "this is your only way to sign in: link another identity before removing it");
  }
  return LinkEvents{{customer::IdentityUnlinked{now, identity->issuer, identity->subject}},
                    {customer::IdentityReleased{now}}};
}

StaffEvents set_staff_password(const State& staff, const StaffAccountCreated& if_new,
                               std::string password_hash, bool same_password, TimeUs now) {
  if (staff.exists) {
    if (same_password) return {};
    return {{StaffPasswordSet{now, std::move(password_hash)}}, {}};
  }
  StaffAccountCreated created = if_new;
  created.at = now;
  return {{std::move(created), StaffPasswordSet{now, std::move(password_hash)}},
          {StaffEmailClaimed{now, if_new.email, if_new.staff_id}}};
}

SessionStarted start_session(Realm realm, std::string subject, std::string project,
                             std::string method, std::string csrf_hash, TimeUs now,
                             const SessionLimits& limits) {
  return {now,
          realm,
          std::move(subject),
          std::move(project),
          std::move(method),
          std::move(csrf_hash),
          limits.idle,
          now + limits.absolute};
}

std::vector<Event> sign_out(const State& session, TimeUs now) {
  if (!session.session || session.ended) return {};
  return {SessionEnded{now, "signed_out"}};
}

}  // namespace portico::domain::account
