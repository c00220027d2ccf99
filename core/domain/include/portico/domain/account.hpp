// Sign-in: one-time e-mailed tokens, sessions and staff accounts (the customer's own credentials
// are events of the customer aggregate, customer.hpp), and the sign-in decisions over both. The
// service (portico::service::Accounts) loads the streams, hashes passwords, makes the secrets and
// appends; what is recorded is decided here.
//
// Streams (docs/events.md):
//   "token:{sha256 hex}"      TokenIssued, then at most one TokenUsed: a magic link, an e-mail
//                             verification or a password reset. Using one is appending TokenUsed
//                             at version 1, so two uses can never both succeed.
//   "session:{sha256 hex}"    SessionStarted, SessionRefreshed*, SessionEnded: one sign-in.
//   "staff:{id}"              StaffAccountCreated, StaffPasswordSet, StaffSessionsEnded and the
//                             two-factor events (totp.hpp): a staff identity (global; which
//                             projects it serves is the project aggregate's StaffAdded).
//   "staff-email:{address}"   StaffEmailClaimed: one staff identity per e-mail address.
// Only hashes of tokens are stored; the tokens themselves go out by e-mail or in the answer.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/totp.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::domain::account {

enum class Purpose { magic_link, verify_email, password_reset };
BOOST_DESCRIBE_ENUM(Purpose, magic_link, verify_email, password_reset)

// ---- Events ----

struct TokenIssued {
  static constexpr std::string_view kType = "TokenIssued";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Purpose purpose = Purpose::magic_link;
  std::string project;         // where the person asked
  std::string email;           // normalised
  std::string customer_id;     // verify_email, password_reset: the account; magic_link: "" (found
                               // or created when it is used)
  TimeUs password_set_at = 0;  // verify_email: the password it verifies (a later one voids it)
  TimeUs expires_at = 0;
};
struct TokenUsed {
  static constexpr std::string_view kType = "TokenUsed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
};
struct SessionStarted {
  static constexpr std::string_view kType = "SessionStarted";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Realm realm = Realm::customer;
  std::string subject;  // customer or staff id
  std::string project;  // customer: the project signed in on; staff: ""
  std::string method;   // "magic_link", "password", "verify_email"
  std::string csrf_hash;
  TimeUs idle_timeout = 0;
  TimeUs expires_at = 0;  // absolute
};
// Activity, recorded at most once per refresh interval (so idle expiry survives a restart).
struct SessionRefreshed {
  static constexpr std::string_view kType = "SessionRefreshed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
};
struct SessionEnded {
  static constexpr std::string_view kType = "SessionEnded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string reason;  // "signed_out"
};
struct StaffAccountCreated {
  static constexpr std::string_view kType = "StaffAccountCreated";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string staff_id;
  std::string email;
  std::string display_name;
};
struct StaffPasswordSet {
  static constexpr std::string_view kType = "StaffPasswordSet";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string hash;  // Argon2id, libsodium's string form (algorithm, parameters, salt, hash)
};
struct StaffEmailClaimed {
  static constexpr std::string_view kType = "StaffEmailClaimed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string email;
  std::string staff_id;
};
// Every session of the staff member started before `at` ends (removed from a project, or the
// operator's choice). A new password (StaffPasswordSet) ends them too.
struct StaffSessionsEnded {
  static constexpr std::string_view kType = "StaffSessionsEnded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string reason;  // "removed", "password_changed"
};
BOOST_DESCRIBE_STRUCT(TokenIssued, (),
                      (at, purpose, project, email, customer_id, password_set_at, expires_at))
BOOST_DESCRIBE_STRUCT(TokenUsed, (), (at))
BOOST_DESCRIBE_STRUCT(SessionStarted, (),
                      (at, realm, subject, project, method, csrf_hash, idle_timeout, expires_at))
BOOST_DESCRIBE_STRUCT(SessionRefreshed, (), (at))
BOOST_DESCRIBE_STRUCT(SessionEnded, (), (at, reason))
BOOST_DESCRIBE_STRUCT(StaffAccountCreated, (), (at, staff_id, email, display_name))
BOOST_DESCRIBE_STRUCT(StaffPasswordSet, (), (at, hash))
BOOST_DESCRIBE_STRUCT(StaffEmailClaimed, (), (at, email, staff_id))
BOOST_DESCRIBE_STRUCT(StaffSessionsEnded, (), (at, reason))

// A staff stream also carries the two-factor events (totp.hpp).
using Event = std::variant<TokenIssued, TokenUsed, SessionStarted, SessionRefreshed, SessionEnded,
                           StaffAccountCreated, StaffPasswordSet, StaffEmailClaimed,
                           StaffSessionsEnded, totp::TotpEnrolStarted, totp::TotpEnabled,
                           totp::TotpDisabled, totp::TotpCodeUsed, totp::RecoveryCodeUsed>;
// The event's kType and kVersion, as for tickets (ticket.hpp).
std::string_view type_name(const Event& event) noexcept;
std::uint32_t schema_version(const Event& event) noexcept;
// Whether `type` names an event of this aggregate (a newer program may store others).
bool is_event_type(std::string_view type) noexcept;
boost::json::object to_payload(const Event& event);
Result<Event> from_payload(std::string_view type, boost::json::object payload);

// ---- State: one struct covers the three kinds of stream (each sees only its own events) ----

struct State {
  bool exists = false;
  // token
  std::optional<TokenIssued> token;
  bool used = false;
  // session
  std::optional<SessionStarted> session;
  TimeUs last_active = 0;
  bool ended = false;
  // staff
  std::string staff_id;
  std::string email;
  std::string display_name;
  std::string password_hash;
  std::string claimed_by;          // staff-email: the staff id holding the address
  TimeUs sessions_valid_from = 0;  // staff: sessions started before this have ended
  totp::State totp;                // staff: two-factor sign-in

  friend bool operator==(const State&, const State&) = default;
};

State evolve(State state, const Event& event);

// ---- Rules ----

// The token can be used now for `purpose`: issued for it, not used, not expired.
bool token_usable(const State& token, Purpose purpose, TimeUs now);
// A one-time token issued to an account before `valid_from` (the account's last password reset,
// customer::State::sessions_valid_from) is void: a reset ends the links sent before it too.
bool token_voided(const TokenIssued& token, TimeUs valid_from);
// The session lets its holder act now: started, not ended, inside its idle and absolute limits.
bool session_active(const State& session, TimeUs now);
// Whether activity at `now` should be recorded (SessionRefreshed): at most once per `interval`.
bool session_needs_refresh(const State& session, TimeUs now, TimeUs interval);

struct PasswordRules {
  std::size_t min_length = 10;   // characters
  std::size_t max_length = 256;  // bounded: hashing a megabyte is a denial of service
  // A common password (a deny list); the check is also applied to the password lower-cased and
  // with trailing digits and symbols removed ("Password123!" is "password").
  std::function<bool(std::string_view)> is_common;
};
// Refuses a weak password with invalid_request (field "password") and a reason for people.
Result<void> check_password(std::string_view password, std::string_view email,
                            const PasswordRules& rules);

// Characters a display name may not hold, because they change how the text around them reads
// (security review L6): control characters (C0, DEL, C1), line and paragraph separators, and
// the bidirectional controls (LRM, RLM, ALM, LRE…RLO, LRI…PDI).
bool unsafe_in_name(char32_t code_point) noexcept;
inline constexpr std::size_t kMaxDisplayName = 100;  // characters
// A display name as stored: trimmed, 1 to kMaxDisplayName characters of UTF-8 with nothing
// unsafe_in_name; else invalid_request with field "display_name".
Result<std::string> check_display_name(std::string_view name);

// An e-mail address as stored and compared: trimmed, lower-cased, one local@domain with a
// dotted domain; nullopt when it is not one (or longer than 254 characters).
std::optional<std::string> normalize_email(std::string_view email);
// A handle made from an e-mail address's local part ("Ann.Lee+x@…" -> "ann.lee"); may be taken.
std::string handle_from_email(std::string_view email);

std::string token_stream(std::string_view token_hash);
std::string session_stream(std::string_view token_hash);
std::string staff_stream(std::string_view staff_id);
std::string staff_email_stream(std::string_view email);

// ---- Decisions (pure: the caller loads, hashes, makes the secrets and appends) ----

// What following an e-mailed sign-in link records on the customer it signs in, before the
// session. A magic link proves the address (EmailVerified, once) and ends a registration the
// owner may not have made: its unverified password is dropped, so nobody else's password waits
// on the account for a click (security review M1). A verification link verifies the password it
// was sent for, and is void (invalid_token) when that password was replaced or dropped since.
Result<std::vector<customer::Event>> follow_link(const customer::State& customer,
                                                 const TokenIssued& token, TimeUs now);

// A customer's password sign-in: invalid_credentials unless the customer has a password and it
// matched (`matches`: the caller checks a dummy hash when there is none, so the time taken
// tells nothing), then email_not_verified until the registration's link was followed.
Result<void> check_password_sign_in(const customer::State* customer, bool matches);

// A customer identity made at sign-in or registration. Its handle was found free by the caller;
// the claims are appended with "no stream", so a race for it fails the append instead.
struct NewIdentity {
  std::string customer_id;
  std::string email;  // normalised; "" for a provider's identity that vouched for no address
  std::string display_name;
  std::string handle;
};
// The events of a new identity, per stream: the customer's own, the handle's and the address's
// (none without an address).
struct IdentityEvents {
  std::vector<customer::Event> customer;
  std::vector<customer::Event> handle;
  std::vector<customer::Event> email;
};
Result<IdentityEvents> new_identity(const NewIdentity& identity, TimeUs now);

// Registration by e-mail and password when the address has no identity yet (an address that has
// one is never changed by a registration: it cannot prove the address, so its owner is told
// instead): the identity with the unverified password, and the verification link's token.
struct RegistrationEvents {
  IdentityEvents identity;
  TokenIssued verification;
};
Result<RegistrationEvents> register_with_password(const NewIdentity& identity,
                                                  std::string password_hash,
                                                  std::string_view project, TimeUs now,
                                                  TimeUs link_ttl);

// ---- Identities at OpenID providers (API.md part 2, "Sign-in with an identity provider") ----

// What a provider said of the person signing in, once its ID token checked out (adapters/oidc).
struct ProviderClaims {
  std::string provider;  // the configuration's name: "google", "cfx", "acme-sso"
  std::string issuer;
  std::string subject;
  std::string email;  // normalised; "" when the provider gave none
  bool email_verified = false;
  std::string display_name;  // may be empty
};
// The address the provider vouches for: its e-mail when it says the address is verified, else
// "". Only a vouched address joins an existing customer or becomes a new customer's address: an
// unverified one may be anybody's, and claiming it would let a stranger sign up in its owner's
// name ahead of them and keep a way into the account the owner then uses.
std::string vouched_email(const ProviderClaims& claims);
// A handle from a display name, for a customer without an address ("Ann Lee" -> "ann.lee").
std::string handle_from_name(std::string_view name);

// The events of linking an identity, per stream: the customer's and the identity's own.
struct LinkEvents {
  std::vector<customer::Event> customer;
  std::vector<customer::Event> claim;
};
// The identity `claims` names signs in as `customer` from now on. `claim` is the identity's
// stream. Nothing when it is the customer's already; conflict when another customer holds it
// (message "identity_taken") or the customer has another identity of the same provider. A
// vouched address that is the customer's is proved by it, as by a magic link (follow_link).
Result<LinkEvents> link_identity(const customer::State& customer, const customer::State& claim,
                                 const ProviderClaims& claims, TimeUs now);
// The customer's identity of `provider` no longer signs in. not_found when there is none;
// conflict when it is the last way in: no other identity, and no address that a magic link or
// a password reset could reach.
Result<LinkEvents> unlink_identity(const customer::State& customer, std::string_view provider,
                                   TimeUs now);

// The operator sets a staff member's password (portico-admin staff add): a new account is
// created with it and claims its address; an existing one gets the new password, which ends the
// sessions the old one started; the same password again (adding the member to another project)
// records nothing.
struct StaffEvents {
  std::vector<Event> staff;  // "staff:{id}"
  std::vector<Event> email;  // "staff-email:{address}" (a new account only)
};
StaffEvents set_staff_password(const State& staff, const StaffAccountCreated& if_new,
                               std::string password_hash, bool same_password, TimeUs now);

// How long a session lasts: idle (without a request), and at most from its start.
struct SessionLimits {
  TimeUs idle = 0;
  TimeUs absolute = 0;
};
SessionStarted start_session(Realm realm, std::string subject, std::string project,
                             std::string method, std::string csrf_hash, TimeUs now,
                             const SessionLimits& limits);
// Signing out ends the session, once: nothing when it ended already or never started.
std::vector<Event> sign_out(const State& session, TimeUs now);

}  // namespace portico::domain::account
