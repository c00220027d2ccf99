// portico::oidc — ID tokens of OpenID Connect providers, checked (OpenID Connect Core 1.0,
// §3.1.3.7; RFC 7515 JWS, RFC 7517 JWK, RFC 7518 algorithms).
//
// A KeySet is a provider's JWKS (its `jwks_uri` document): RSA and P-256 EC signing keys, by
// `kid`. verify_id_token checks a compact JWS against it: the algorithm (RS256 or ES256 only, and
// the key's own `alg` when it names one: no "none", no HMAC with a public key), the signature
// (OpenSSL), then the claims — `iss` exactly, `aud` holding the client id (with `azp` the client
// id when there are several audiences, or when `azp` is present at all), `exp` in the future and
// `iat` not in it (with a leeway for clocks), `nonce` exactly. Microsoft's `common` endpoint signs
// tokens whose issuer names the tenant: `issuer` may hold "{tenantid}", matched against the
// token's `tid` claim.
//
// A token signed with a `kid` the set does not hold answers unknown_key: the caller fetches the
// JWKS again (keys rotate) and tries once more.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <portico/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::oidc {

// Error codes of this module (besides invalid_request for a malformed key set).
inline constexpr std::string_view kUnknownKey = "unknown_key";      // refetch the JWKS
inline constexpr std::string_view kInvalidToken = "invalid_token";  // refused, whatever the keys

struct Expected {
  std::string issuer;     // exactly, or with "{tenantid}" (Microsoft) matched to the tid claim
  std::string client_id;  // in aud; azp when present
  std::string nonce;      // exactly
  std::int64_t now = 0;   // seconds since the Unix epoch
  std::int64_t leeway = 120;
};

class KeySet {
 public:
  struct Key;  // one verifying key (id_token.cpp)

  KeySet();
  ~KeySet();
  KeySet(KeySet&&) noexcept;
  KeySet& operator=(KeySet&&) noexcept;

  // The signing keys of a JWKS document ({"keys": [...]}). Keys of other types, curves or uses
  // ("use": "enc") are skipped; a key of a known type that does not decode is invalid_request.
  static Result<KeySet> parse(std::string_view jwks_json);
  std::size_t size() const noexcept { return keys_.size(); }
  // The key named `kid`; with no kid, the only key when there is exactly one.
  const Key* find(std::string_view kid) const noexcept;

 private:
  std::vector<std::unique_ptr<Key>> keys_;
};

// The `kid` the token's header names ("" when none, or not a JWS).
std::string token_kid(std::string_view token);

// The token's claims when every check passes. Errors: unknown_key (no key of that kid, or none
// at all); invalid_token naming the check that failed.
Result<boost::json::object> verify_id_token(std::string_view token, const KeySet& keys,
                                            const Expected& expected);

}  // namespace portico::oidc
