// The customer aggregate: one customer identity (global, not per project), its credentials and
// the projects it is a member of. The project aggregate is in project.hpp.
//
// Streams (docs/events.md):
//   "customer:{id}"       CustomerRegistered, MembershipJoined, MembershipLeft, PasswordSet,
//                         PasswordVerified, EmailVerified, IdentityLinked, IdentityUnlinked, and
//                         the two-factor events (totp.hpp).
//   "handle:{handle}"     HandleClaimed: one customer per handle.
//   "email:{address}"     EmailClaimed: one customer identity per e-mail address.
//   "identity:{hash}"     IdentityClaimed, IdentityReleased: one customer per identity at an
//                         OpenID provider, (issuer, subject); the hash is the service's.
// Same layout as ticket.hpp.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <portico/domain/common.hpp>
#include <portico/domain/totp.hpp>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::domain::customer {

// ---- Events ----

struct CustomerRegistered {
  static constexpr std::string_view kType = "CustomerRegistered";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string customer_id;
  std::string email;
  std::string display_name;
  std::string handle;
};
struct MembershipJoined {
  static constexpr std::string_view kType = "MembershipJoined";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string project;
};
struct MembershipLeft {
  static constexpr std::string_view kType = "MembershipLeft";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string project;
};
BOOST_DESCRIBE_STRUCT(CustomerRegistered, (), (at, customer_id, email, display_name, handle))
BOOST_DESCRIBE_STRUCT(MembershipJoined, (), (at, project))
// Stored in the handle's own stream ("handle:{handle}"), so that two customers can never hold one
// handle: the claim is appended with "no stream" beside the registration.
struct HandleClaimed {
  static constexpr std::string_view kType = "HandleClaimed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string handle;
  std::string customer_id;
};
BOOST_DESCRIBE_STRUCT(MembershipLeft, (), (at, project))
BOOST_DESCRIBE_STRUCT(HandleClaimed, (), (at, handle, customer_id))
// In the address's own stream ("email:{address}"): one customer identity per e-mail address.
struct EmailClaimed {
  static constexpr std::string_view kType = "EmailClaimed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string email;
  std::string customer_id;
};
// A password for e-mail + password sign-in (Argon2id, libsodium's string form). Set by a
// registration it is unverified until the e-mailed link is followed; set by a password reset it
// is verified (the reset link proved the address) and ends every earlier session.
struct PasswordSet {
  static constexpr std::string_view kType = "PasswordSet";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string hash;
  bool verified = false;
  bool ends_sessions = false;
};
// The registration's link was followed: the password set at `password_set_at` may sign in.
struct PasswordVerified {
  static constexpr std::string_view kType = "PasswordVerified";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  TimeUs password_set_at = 0;
};
// The customer proved they receive mail at their address (any e-mailed link).
struct EmailVerified {
  static constexpr std::string_view kType = "EmailVerified";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
};
BOOST_DESCRIBE_STRUCT(EmailClaimed, (), (at, email, customer_id))
BOOST_DESCRIBE_STRUCT(PasswordSet, (), (at, hash, verified, ends_sessions))
BOOST_DESCRIBE_STRUCT(PasswordVerified, (), (at, password_set_at))
BOOST_DESCRIBE_STRUCT(EmailVerified, (), (at))
// An identity at an OpenID provider (issuer, subject) signs in as this customer. `provider` is
// the configuration's name for it ("google"); `email` what the provider said when it was linked
// (shown to the customer, verified or not: the customer's own address is `email` of the state).
struct IdentityLinked {
  static constexpr std::string_view kType = "IdentityLinked";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string provider;
  std::string issuer;
  std::string subject;
  std::string email;
};
struct IdentityUnlinked {
  static constexpr std::string_view kType = "IdentityUnlinked";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string issuer;
  std::string subject;
};
// In the identity's own stream: which customer it signs in as (appended beside IdentityLinked,
// at the stream's version, so two customers can never hold it), and its release when unlinked.
struct IdentityClaimed {
  static constexpr std::string_view kType = "IdentityClaimed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string issuer;
  std::string subject;
  std::string customer_id;
};
struct IdentityReleased {
  static constexpr std::string_view kType = "IdentityReleased";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
};
// The customer's choice of language for the portal and e-mails ("" again: the browser's, else
// the project's first; API.md "Languages").
struct LanguageChosen {
  static constexpr std::string_view kType = "LanguageChosen";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string language;
};
BOOST_DESCRIBE_STRUCT(LanguageChosen, (), (at, language))
BOOST_DESCRIBE_STRUCT(IdentityLinked, (), (at, provider, issuer, subject, email))
BOOST_DESCRIBE_STRUCT(IdentityUnlinked, (), (at, issuer, subject))
BOOST_DESCRIBE_STRUCT(IdentityClaimed, (), (at, issuer, subject, customer_id))
BOOST_DESCRIBE_STRUCT(IdentityReleased, (), (at))

// A customer's stream also carries the two-factor events (totp.hpp).
using Event =
    std::variant<CustomerRegistered, MembershipJoined, MembershipLeft, HandleClaimed, EmailClaimed,
                 PasswordSet, PasswordVerified, EmailVerified, IdentityLinked, IdentityUnlinked,
                 IdentityClaimed, IdentityReleased, LanguageChosen, totp::TotpEnrolStarted,
                 totp::TotpEnabled, totp::TotpDisabled, totp::TotpCodeUsed, totp::RecoveryCodeUsed>;
// The event's kType and kVersion, as for tickets (ticket.hpp).
std::string_view type_name(const Event& event) noexcept;
std::uint32_t schema_version(const Event& event) noexcept;
// Whether `type` names an event of this aggregate (a newer program may store others).
bool is_event_type(std::string_view type) noexcept;
boost::json::object to_payload(const Event& event);
Result<Event> from_payload(std::string_view type, boost::json::object payload);

// ---- State ----

// An identity at an OpenID provider that signs in as the customer (IdentityLinked).
struct Identity {
  std::string provider;
  std::string issuer;
  std::string subject;
  std::string email;
  friend bool operator==(const Identity&, const Identity&) = default;
};

struct State {
  bool exists = false;
  std::string id;
  std::string email;  // "" when the customer came from a provider that vouched for no address
  std::string display_name;
  std::string handle;
  std::set<std::string> projects;  // where the customer is a member now
  std::string password_hash;       // "" when none is set
  TimeUs password_set_at = 0;
  bool password_verified = false;
  bool email_verified = false;
  TimeUs sessions_valid_from = 0;    // sessions started before this were ended (password reset)
  std::string claimed_by;            // "email:" and "identity:" streams: the customer holding it
  totp::State totp;                  // two-factor sign-in
  std::vector<Identity> identities;  // in the order linked
  std::string language;              // chosen; "" for automatic
  friend bool operator==(const State&, const State&) = default;
};

State evolve(State state, const Event& event);
State fold(const std::vector<Event>& events, State state = {});

// ---- Commands ----

struct Register {
  std::string customer_id;
  std::string email;
  std::string display_name;
  std::string handle;
};
// Becoming a member by signing in on a project's portal (or joining through an invite).
struct JoinProject {
  std::string project;
  std::vector<std::string> allowed_domains;  // the project's, looked up by the handler
};
struct LeaveProject {
  std::string project;
};
// The customer's language: a tag such as "de" or "pt-BR", or "" for automatic.
struct ChooseLanguage {
  std::string language;
};
using Command = std::variant<Register, JoinProject, LeaveProject, ChooseLanguage>;

struct Context {
  Actor actor;
  TimeUs now = 0;
};

Result<std::vector<Event>> decide(const State& state, const Command& command, const Context& ctx);

// ---- Queries ----

bool is_member(const State& state, std::string_view project);
// Handles: 2 to 32 of a-z 0-9 '_' '-' '.', as @mentions spell them.
bool valid_handle(std::string_view handle) noexcept;
// A language tag as customers choose one: 2 or 3 lower-case letters, optionally '-' and a region
// of 2 upper-case letters ("en", "de", "pt-BR").
bool valid_language(std::string_view tag) noexcept;
std::string stream_id(std::string_view customer_id);
std::string handle_stream_id(std::string_view handle);
std::string email_stream_id(std::string_view normalized_email);
// `key_hash`: the service's hash of the identity's issuer and subject (their lengths are the
// providers', a stream id's are bounded).
std::string identity_stream_id(std::string_view key_hash);
// The customer's identity of `provider`, if any.
const Identity* identity_of(const State& state, std::string_view provider);

}  // namespace portico::domain::customer
