// portico::service::Accounts — signing in and sessions, over the log (customer and staff realms).
//
// Customers sign in on a project by e-mail magic link, or register with a password (verified by
// an e-mailed link), sign in with it, and reset it by e-mail; staff sign in with e-mail and
// password. Every sign-in is one atomic append: the one-time token's use, the customer identity
// when it is new, the membership of the project, and the session (PRODUCT.md: "the first sign-in
// on a project's portal makes that identity a member"). Tokens are 256 random bits, stored as
// SHA-256 hashes only; passwords are Argon2id (libsodium).
//
// What goes out by e-mail is the caller's business: the functions that issue a token return it.
// Thread-safe: any number of threads may call at once.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <portico/domain/account.hpp>
#include <portico/log/log.hpp>
#include <portico/service/portal.hpp>
#include <string>
#include <string_view>

namespace portico::service {

struct AccountsOptions {
  // Microseconds since the Unix epoch; the Portal's clock when empty.
  Clock clock;
  domain::TimeUs magic_link_ttl = 15 * 60 * domain::kSecond;
  domain::TimeUs verify_email_ttl = domain::kDay;
  domain::TimeUs password_reset_ttl = domain::kHour;
  domain::TimeUs session_idle = 12 * domain::kHour;
  domain::TimeUs session_absolute = 30 * domain::kDay;
  // Activity is recorded on the log at most this often per session (so idle expiry survives a
  // restart, at the price of expiring up to this much early after one).
  domain::TimeUs session_refresh = 5 * 60 * domain::kSecond;
  domain::account::PasswordRules password_rules;
  // Argon2id cost: libsodium's "interactive" limits by default (2 passes over 64 MiB).
  unsigned long long argon2_passes = 2;
  std::size_t argon2_memory = 64 * 1024 * 1024;
  // The server's secret (portico-server: DATA/secret.key, or --key-file): two-factor secrets are
  // sealed with a key derived from it, so the log alone (a backup, a copy of data.mdb) does not
  // reveal them. At least 16 bytes; empty leaves two-factor sign-in unavailable.
  std::string server_key;
  // The issuer an authenticator app shows for staff accounts (customers see the project's name).
  std::string totp_issuer = "Portico";
};

// A deny list of common passwords, one per line ("#!comment" lines skipped), matched
// case-insensitively: Debian's john-data ships one at /usr/share/john/password.lst.
inline constexpr const char* kDefaultPasswordList = "/usr/share/john/password.lst";
Result<std::function<bool(std::string_view)>> load_password_list(const std::filesystem::path& file);

// A one-time token to e-mail, and to whom.
struct Mailing {
  std::string email;
  std::string token;  // "" when there is nothing to follow (register: the account exists)
  domain::account::Purpose purpose = domain::account::Purpose::magic_link;
  std::string project;
  std::string display_name;      // the account's, when known
  domain::TimeUs valid_for = 0;  // how long the token works (AccountsOptions); 0 without one
};

// A registration checked and its password hashed (prepare_registration), not yet recorded.
struct Registration {
  std::string project;
  std::string email;         // normalised
  std::string display_name;  // clean (account::clean_display_name)
  std::string hash;          // Argon2id of the password
};

struct NewSession {
  std::string token;  // for the cookie or the Authorization header
  std::string csrf;   // for X-CSRF-Token on cookie-authenticated writes
  domain::Realm realm = domain::Realm::customer;
  std::string subject;  // customer or staff id
  std::string project;  // customer: the project signed in on
};

// Who holds a session.
struct Caller {
  domain::Realm realm = domain::Realm::customer;
  std::string id;
  std::string session_hash;
  std::string csrf_hash;
  std::string project;  // customer: the project the session was started on
};

struct StaffAccount {
  std::string id;
  std::string email;
  std::string display_name;
};

class Accounts {
 public:
  // `log` and `portal` must outlive the Accounts.
  Accounts(log::Log& log, Portal& portal, AccountsOptions options = {});
  ~Accounts();
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // ---- Customers ----
  // Errors: not_found (no project), forbidden (the project does not offer magic links),
  // invalid_request "email", domain_not_allowed.
  Result<Mailing> request_magic_link(const std::string& project, std::string_view email);
  // invalid_token: unknown, used or expired (also domain_not_allowed if the project changed).
  Result<NewSession> use_magic_link(std::string_view token);
  // Creates the identity (when the address is new) with an unverified password and returns the
  // verification to mail. When the address already has a customer identity (verified or not,
  // with or without a password) nothing changes and the returned Mailing has no token: mail its
  // owner that someone tried to sign up (no enumeration, and nobody's account gets a password
  // its owner did not choose). Errors: not_found, forbidden, invalid_request (email, password,
  // display_name), domain_not_allowed.
  Result<Mailing> register_customer(const std::string& project, std::string_view email,
                                    std::string_view password, std::string_view display_name);
  // register_customer in two steps: the checks and the password's hash, whose cost does not
  // depend on the address (answer the request after this one), then what does (the lookup, the
  // append). Same errors, split between them as their names say.
  Result<Registration> prepare_registration(const std::string& project, std::string_view email,
                                            std::string_view password,
                                            std::string_view display_name);
  Result<Mailing> complete_registration(const Registration& registration);
  Result<NewSession> verify_email(std::string_view token);
  // What a magic-link or verification link would sign in as, without using it: its landing page
  // asks the person before it signs them in (security review L3, login CSRF). Errors:
  // invalid_token (unknown, used, expired, voided, or another kind of token).
  struct LinkInfo {
    domain::account::Purpose purpose = domain::account::Purpose::magic_link;
    std::string email;
    std::string project;
  };
  Result<LinkInfo> describe_link(std::string_view token);
  // With two-factor sign-in on, `totp` is a current code or an unused recovery code: without
  // one totp_required, a wrong or replayed one invalid_credentials (and nothing is recorded).
  // Errors: invalid_credentials, totp_required, email_not_verified, not_found, forbidden,
  // domain_not_allowed.
  Result<NewSession> sign_in(const std::string& project, std::string_view email,
                             std::string_view password, std::string_view totp = {});
  // nullopt when no account has the address (answer as if one had: no enumeration).
  Result<std::optional<Mailing>> request_password_reset(const std::string& project,
                                                        std::string_view email);
  // The checks of request_password_reset that do not depend on the address having an account
  // (answer the request after these, do the rest later). Errors: not_found, forbidden,
  // invalid_request "email".
  Result<void> check_password_reset(const std::string& project, std::string_view email);
  // Sets a verified password and ends every earlier session of the account; every reset or
  // magic-link token issued to it before then stops working.
  Result<void> reset_password(std::string_view token, std::string_view password);
  // Sets a verified password for an existing customer (an operator's or a seed's doing): the
  // same effects as a reset. Errors: not_found, invalid_request "password".
  Result<void> set_customer_password(const std::string& customer_id, std::string_view password);

  // ---- Identities at OpenID providers (the flow itself is adapters/oidc's and the HTTP
  // adapter's; these record what it proved) ----
  // Signs in on `project` (which must offer claims.provider) as the customer the identity is
  // linked to; else links it to the customer holding the address the provider vouches for
  // (account::vouched_email); else makes a new customer with it (that address, or none). The
  // membership and the session in the same append. Errors: not_found (no project), forbidden
  // (not offered), domain_not_allowed (also a new customer without a vouched address on a
  // project with allowed domains).
  Result<NewSession> sign_in_with_identity(const std::string& project,
                                           const domain::account::ProviderClaims& claims);
  // Adds the identity to a signed-in customer. Errors: conflict ("identity_taken": another
  // customer's; or the customer has another identity of that provider), not_found.
  Result<void> link_identity(const std::string& customer_id,
                             const domain::account::ProviderClaims& claims);
  // Errors: not_found (no identity of `provider`), conflict (the last way to sign in).
  Result<void> unlink_identity(const std::string& customer_id, std::string_view provider);

  // ---- Staff ----
  // Creates the staff identity for the address, or sets its password (portico-admin); a new
  // password ends the member's earlier sessions, the same one again changes nothing.
  Result<StaffAccount> set_staff_account(std::string_view email, std::string_view display_name,
                                         std::string_view password);
  Result<std::optional<StaffAccount>> staff_by_email(std::string_view email) const;
  Result<std::optional<StaffAccount>> staff(const std::string& staff_id) const;
  // `totp` as for sign_in. Errors: invalid_credentials, totp_required.
  Result<NewSession> staff_sign_in(std::string_view email, std::string_view password,
                                   std::string_view totp = {});
  // Ends every session the staff member holds now (staff remove). Errors: not_found.
  Result<void> end_staff_sessions(const std::string& staff_id, std::string_view reason);

  // ---- Two-factor sign-in (TOTP, RFC 6238), customers and staff alike ----
  struct TotpEnrolment {
    std::string secret;       // base32, for typing into an authenticator app
    std::string otpauth_url;  // the same as a URL (a QR code of it)
  };
  // A new secret, pending until confirm_totp (again: another one replaces it). Errors: conflict
  // (two-factor is on already), unavailable (no server key), not_found.
  Result<TotpEnrolment> start_totp(const Caller& who);
  // The first code from the app turns it on; the ten recovery codes are returned this once.
  // Errors: invalid_request "code", conflict (nothing pending, or on already).
  Result<std::vector<std::string>> confirm_totp(const Caller& who, std::string_view code);
  // Off, with a current code or an unused recovery code. Errors: invalid_request "code",
  // conflict (not on).
  Result<void> disable_totp(const Caller& who, std::string_view code);
  // The operator turns a staff member's two-factor sign-in off (portico-admin staff totp-reset:
  // the phone and the recovery codes are lost) and ends their sessions. Errors: not_found,
  // conflict (it is not on).
  Result<void> reset_staff_totp(const std::string& staff_id);
  // Whether the caller's account has two-factor sign-in on.
  Result<bool> totp_enabled(const Caller& who) const;

  // ---- Sessions ----
  // The holder of an active session of `realm`; unauthenticated otherwise (unknown, ended,
  // expired, another realm's, or started before a password reset). Never waits for the log: the
  // activity that keeps a session from going idle (SessionRefreshed, at most once per
  // session_refresh) is appended asynchronously, so a read costs no fsync.
  Result<Caller> authenticate(domain::Realm realm, std::string_view token);
  // Ends the session (SessionEnded); an unknown or ended one is fine.
  Result<void> sign_out(std::string_view token);

  // The customer holding an e-mail address, if any.
  Result<std::optional<std::string>> customer_by_email(std::string_view email) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::service
