// Secrets handed to people (sessions, sign-in links, invite links, survey links): random and
// stored only as hashes, or signed and not stored at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico::service {

// 256 random bits from the operating system's CSPRNG, base64url without padding (43 characters).
std::string new_token();
// A password to hand to a person once (the demo's accounts): `groups` groups of 4 lower-case
// letters and digits joined by '-' ("k3vq-8hxa-…"), each character uniformly drawn by libsodium
// (about 20.7 bits a group). Passes account::check_password for groups >= 3.
std::string new_passphrase(int groups = 5);
// What is stored and looked up instead of the token: SHA-256, lower-case hex.
std::string token_hash(std::string_view token);

// A token made from `input` under `secret` (HMAC-SHA-256, base64url, 43 characters): as
// unguessable as new_token() to whoever lacks the secret, and the same every time — so a command
// retried with its Idempotency-Key hands out the same invite link, even after a restart.
std::string derived_token(std::string_view secret, std::string_view input);

// A session's CSRF token (X-CSRF-Token), made from the session's own token (derived_token with
// it as the secret): as unguessable as the session, never stored (its hash is), and found again
// from the cookie alone — so a session started by a redirect (an identity provider's sign-in),
// which hands no JSON answer, can learn it from GET /api/v1/me.
std::string csrf_token(std::string_view session_token);

// The survey a feedback e-mail's link answers. Its token names the survey and carries an
// HMAC-SHA-256 of that name under the server's secret: unguessable (256 bits), and nothing is
// stored for it. Whether the survey can still be answered is the ticket's business.
struct SurveyRef {
  std::string project;
  std::uint64_t number = 0;
  std::string survey_id;
};
std::string survey_token(std::string_view secret, const SurveyRef& survey);
// nullopt unless `token` was made by survey_token with the same secret.
std::optional<SurveyRef> parse_survey_token(std::string_view secret, std::string_view token);

}  // namespace portico::service
