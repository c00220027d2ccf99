// portico::oidc::Client — one provider's side of the authorization code flow (OpenID Connect
// Core 1.0 §3.1; RFC 7636 PKCE): its metadata (discovered over HTTPS, or the preset's), its keys
// (the JWKS, cached, fetched again when a token names a kid it does not hold: at most once a
// second, and once a minute for one kid), the authorization URL, the code exchange, the userinfo
// endpoint, and the ID token's checks (id_token.hpp).
//
// HTTP with libcurl: https:// only (plain http:// on the loopback, for tests), certificates
// verified (the system's store or ProviderConfig::ca_file), answers of at most 1 MiB, timeouts.
//
// Thread safety: any number of threads may use a Client at once.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <portico/oidc/id_token.hpp>
#include <portico/oidc/provider.hpp>
#include <portico/result.hpp>
#include <string>

namespace portico::oidc {

struct Metadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string userinfo_endpoint;  // may be empty
  std::string jwks_uri;
};

struct Tokens {
  std::string id_token;
  std::string access_token;
};

// Error codes besides those of id_token.hpp: unavailable (the provider could not be reached or
// answered nonsense), invalid_request (it refused the code: invalid_grant and the like).
class Client {
 public:
  explicit Client(ProviderConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ProviderConfig& config() const noexcept;

  // The preset's endpoints, or the discovery document (fetched once, then kept for an hour).
  Result<Metadata> metadata();

  // Where to send the browser: response_type=code, the scopes, state, nonce, the PKCE S256
  // challenge of `code_verifier`, and `redirect_uri`.
  Result<std::string> authorization_url(std::string_view state, std::string_view nonce,
                                        std::string_view code_verifier,
                                        std::string_view redirect_uri);

  // The code for tokens at the token endpoint (client_secret_basic, with the PKCE verifier).
  Result<Tokens> exchange(std::string_view code, std::string_view code_verifier,
                          std::string_view redirect_uri);

  // The ID token checked against the provider's keys; a kid it does not know fetches the keys
  // again (rotation: at most once a second, once a minute per kid). `now` in seconds since
  // the epoch.
  Result<boost::json::object> verify(std::string_view id_token, std::string_view nonce,
                                     std::int64_t now);

  // The userinfo endpoint's claims for `access_token` (when the ID token lacks email or name).
  Result<boost::json::object> userinfo(std::string_view access_token);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// PKCE (RFC 7636 §4.2): BASE64URL(SHA256(verifier)).
std::string code_challenge(std::string_view code_verifier);

}  // namespace portico::oidc
