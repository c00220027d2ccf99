// An identity provider as the configuration file describes it (API.md part 2, "Sign-in with an
// identity provider"): the presets `cfx` (Cfx.re's identity provider, as txAdmin uses it),
// `google` and `microsoft` (the `common` endpoint, whose issuer names the tenant), and any other
// name as a generic OpenID Connect provider.
//
//   [oidc.google]                 [oidc.acme-sso]
//   client-id = "…"               issuer = "https://sso.acme.test"
//   client-secret-file = "…"      client-id = "…"
//                                 client-secret = "…"
//                                 display-name = "Acme SSO"
//                                 scopes = "openid email profile"
//
// A preset's issuer may be overridden (tests point it at a local provider): its endpoints are
// then discovered at the new issuer, like a generic provider's.
#pragma once

#include <map>
#include <portico/result.hpp>
#include <string>
#include <string_view>

namespace portico::oidc {

struct ProviderConfig {
  std::string name;           // the section's: "google", "cfx", "acme-sso"
  std::string display_name;   // the button's text: "Continue with {display_name}"
  std::string issuer;         // the ID tokens' iss ("{tenantid}" for Microsoft's common endpoint)
  std::string discovery_url;  // {issuer}/.well-known/openid-configuration unless a preset says
  std::string client_id;
  std::string client_secret;
  std::string scopes = "openid email profile";
  // Endpoints known without discovery (the cfx preset: its discovery document has been
  // unreliable). All four, or none (then discovery_url is fetched).
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string userinfo_endpoint;
  std::string jwks_uri;
  std::string ca_file;  // a PEM bundle to trust for this provider's HTTPS instead of the system's

  bool discovered() const { return jwks_uri.empty(); }
};

// Whether `name` is one of the presets.
bool is_preset(std::string_view name);

// The provider `name` with the section's settings over its preset (or none). Keys: issuer,
// client-id, client-secret, display-name, scopes, ca-file (a `*-file` key is read by the caller,
// which hands the value). Errors: invalid_request naming the key — an unknown key, a name that is
// not a-z 0-9 '-', a generic provider without issuer, no client-id or client-secret, an issuer
// or endpoint that is not https:// (http://127.0.0.1 and http://localhost are allowed for tests).
Result<ProviderConfig> provider_config(std::string_view name,
                                       const std::map<std::string, std::string>& settings);

}  // namespace portico::oidc
