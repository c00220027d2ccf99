// Identity providers from the configuration file's [oidc.NAME] sections: the presets, a
// generic provider, an overridden issuer, and every way a section is refused.
#include <doctest/doctest.h>

#include <portico/errc.hpp>
#include <portico/oidc/provider.hpp>

namespace oidc = portico::oidc;
using Settings = std::map<std::string, std::string>;

namespace {
const Settings kClient = {{"client-id", "portico"}, {"client-secret", "s3cret"}};
Settings with(Settings s, const std::string& key, const std::string& value) {
  s[key] = value;
  return s;
}
void refused(const portico::Result<oidc::ProviderConfig>& r, std::string_view key) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == portico::errc::kInvalidRequest);
  CHECK(r.error().field == key);
}
}  // namespace

TEST_CASE("the cfx preset carries Cfx.re's endpoints and needs no discovery") {
  auto p = oidc::provider_config("cfx", kClient);
  REQUIRE(p);
  CHECK(p->display_name == "Cfx.re");
  CHECK(p->issuer == "https://idms.fivem.net");
  CHECK(p->authorization_endpoint == "https://idms.fivem.net/connect/authorize");
  CHECK(p->token_endpoint == "https://idms.fivem.net/connect/token");
  CHECK(p->jwks_uri == "https://idms.fivem.net/.well-known/openid-configuration/jwks");
  CHECK_FALSE(p->discovered());
  CHECK(p->client_id == "portico");
}

TEST_CASE("google is discovered at its issuer and microsoft at the common endpoint") {
  auto g = oidc::provider_config("google", kClient);
  REQUIRE(g);
  CHECK(g->discovered());
  CHECK(g->discovery_url == "https://accounts.google.com/.well-known/openid-configuration");
  CHECK(g->display_name == "Google");
  auto m = oidc::provider_config("microsoft", kClient);
  REQUIRE(m);
  CHECK(m->issuer == "https://login.microsoftonline.com/{tenantid}/v2.0");
  CHECK(m->discovery_url ==
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration");
}

TEST_CASE(
    "a preset's issuer overridden is discovered there with nothing of the preset's endpoints") {
  auto p = oidc::provider_config("cfx", with(kClient, "issuer", "http://127.0.0.1:4321/"));
  REQUIRE(p);
  CHECK(p->issuer == "http://127.0.0.1:4321/");  // exactly: tokens name it so (Auth0's has '/')
  CHECK(p->discovered());
  CHECK(p->discovery_url == "http://127.0.0.1:4321/.well-known/openid-configuration");
  CHECK(p->authorization_endpoint.empty());
  CHECK(p->display_name == "Cfx.re");  // still its name on the button
}

TEST_CASE("a generic provider needs its issuer and is named by display-name") {
  auto s = with(with(kClient, "issuer", "https://sso.acme.test"), "display-name", "Acme SSO");
  auto p = oidc::provider_config("acme-sso", s);
  REQUIRE(p);
  CHECK(p->display_name == "Acme SSO");
  CHECK(p->scopes == "openid email profile");
  refused(oidc::provider_config("acme-sso", kClient), "issuer");
  auto plain = oidc::provider_config("acme", with(kClient, "issuer", "https://sso.acme.test"));
  REQUIRE(plain);
  CHECK(plain->display_name == "acme");
}

TEST_CASE("a section is refused naming the key that is wrong") {
  refused(oidc::provider_config("google", {{"client-id", "x"}}), "client-secret");
  refused(oidc::provider_config("google", {{"client-secret", "x"}}), "client-id");
  refused(oidc::provider_config("google", with(kClient, "client-scret", "typo")), "client-scret");
  refused(oidc::provider_config("acme", with(kClient, "issuer", "http://sso.acme.test")), "issuer");
  refused(oidc::provider_config("acme", with(kClient, "issuer", "ftp://sso.acme.test")), "issuer");
  refused(oidc::provider_config("google", with(kClient, "scopes", "email profile")), "scopes");
  refused(oidc::provider_config("google", with(kClient, "display-name", std::string(65, 'x'))),
          "display-name");
  refused(oidc::provider_config("Acme SSO", kClient), "");
  refused(oidc::provider_config("", kClient), "");
}
