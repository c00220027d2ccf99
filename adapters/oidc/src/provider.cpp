#include <algorithm>
#include <portico/domain/project.hpp>
#include <portico/errc.hpp>
#include <portico/oidc/provider.hpp>

namespace portico::oidc {

namespace {

constexpr std::string_view kKeys[] = {"issuer",       "client-id", "client-secret",
                                      "display-name", "scopes",    "ca-file"};

ProviderConfig preset(std::string_view name) {
  ProviderConfig p;
  p.name = std::string(name);
  if (name == "cfx") {
    // Cfx.re's identity provider, with the endpoints txAdmin and other FiveM tools use.
    p.display_name = "Cfx.re";
    p.issuer = "https://idms.fivem.net";
    p.authorization_endpoint = "https://idms.fivem.net/connect/authorize";
    p.token_endpoint = "https://idms.fivem.net/connect/token";
    p.userinfo_endpoint = "https://idms.fivem.net/connect/userinfo";
    p.jwks_uri = "https://idms.fivem.net/.well-known/openid-configuration/jwks";
    p.scopes = "openid email identify";
  } else if (name == "google") {
    p.display_name = "Google";
    p.issuer = "https://accounts.google.com";
  } else if (name == "microsoft") {
    // The `common` endpoint: personal and work accounts; each token's issuer names its tenant.
    p.display_name = "Microsoft";
    p.issuer = "https://login.microsoftonline.com/{tenantid}/v2.0";
    p.discovery_url =
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration";
  }
  return p;
}

// https://, or plain HTTP on the loopback (a test's provider).
bool acceptable_url(std::string_view url) {
  if (url.starts_with("https://")) return url.size() > 8;
  for (std::string_view local :
       {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/"}) {
    if (url.starts_with(local)) return true;
  }
  return url == "http://127.0.0.1" || url == "http://localhost";
}

Unexpected<Error> bad(std::string_view name, std::string_view key, std::string why) {
  return fail(errc::kInvalidRequest, "[oidc." + std::string(name) + "] " + std::move(why),
              std::string(key));
}

}  // namespace

bool is_preset(std::string_view name) {
  return name == "cfx" || name == "google" || name == "microsoft";
}

Result<ProviderConfig> provider_config(std::string_view name,
                                       const std::map<std::string, std::string>& settings) {
  if (!domain::project::valid_provider_name(name)) {
    return bad(name, "", "a provider's name is 1 to 32 of a-z 0-9 '-'");
  }
  ProviderConfig p = preset(name);
  for (const auto& [key, value] : settings) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      return bad(name, key, "unknown key '" + key + "'");
    }
  }
  auto get = [&](std::string_view key) -> const std::string* {
    auto it = settings.find(std::string(key));
    return it == settings.end() ? nullptr : &it->second;
  };
  if (const auto* issuer = get("issuer")) {
    // Exactly as written: the ID tokens' iss and the discovery document's issuer must be this
    // very string (a trailing '/' included, as Auth0's has).
    const std::string& i = *issuer;
    if (i != p.issuer) {
      // Another issuer: everything about it is discovered there.
      p.issuer = i;
      p.discovery_url.clear();
      p.authorization_endpoint.clear();
      p.token_endpoint.clear();
      p.userinfo_endpoint.clear();
      p.jwks_uri.clear();
    }
  }
  if (p.issuer.empty()) return bad(name, "issuer", "a provider other than a preset needs issuer");
  if (!acceptable_url(p.issuer)) return bad(name, "issuer", "the issuer is an https:// URL");
  if (p.discovery_url.empty() && p.jwks_uri.empty()) {
    // OpenID Connect Discovery §4: a terminating '/' of the issuer is removed before appending.
    std::string root = p.issuer;
    while (!root.empty() && root.back() == '/') root.pop_back();
    p.discovery_url = root + "/.well-known/openid-configuration";
  }
  if (const auto* v = get("client-id")) p.client_id = *v;
  if (const auto* v = get("client-secret")) p.client_secret = *v;
  if (const auto* v = get("display-name")) p.display_name = *v;
  if (const auto* v = get("scopes")) p.scopes = *v;
  if (const auto* v = get("ca-file")) p.ca_file = *v;
  if (p.client_id.empty()) return bad(name, "client-id", "client-id is required");
  if (p.client_secret.empty()) {
    return bad(name, "client-secret", "client-secret or client-secret-file is required");
  }
  if (p.display_name.empty()) p.display_name = p.name;
  if (p.display_name.size() > 64) return bad(name, "display-name", "at most 64 characters");
  if ((" " + p.scopes + " ").find(" openid ") == std::string::npos) {
    return bad(name, "scopes", "the scopes include openid");
  }
  return p;
}

}  // namespace portico::oidc
