// ID tokens checked against a provider's JWKS: keys made here with OpenSSL, tokens signed here,
// every check of OpenID Connect Core §3.1.3.7 that the sign-in relies on, each way it can fail.
#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>
#include <portico/errc.hpp>
#include <portico/oidc/id_token.hpp>
#include <string>

#include "../../support/jose.hpp"

namespace oidc = portico::oidc;
namespace json = boost::json;

namespace {

constexpr std::int64_t kNow = 1'795'000'000;
using portico::test::Signer;

oidc::KeySet keys_of(std::initializer_list<const Signer*> signers, json::array extra = {}) {
  json::array keys = std::move(extra);
  for (const Signer* s : signers) keys.push_back(s->jwk());
  auto set = oidc::KeySet::parse(json::serialize(json::object{{"keys", keys}}));
  REQUIRE(set);
  return std::move(*set);
}

json::object claims() {
  return {{"iss", "https://id.example.test"},
          {"sub", "user-17"},
          {"aud", "portico-client"},
          {"exp", kNow + 300},
          {"iat", kNow - 10},
          {"nonce", "n-0S6_WzA2Mj"},
          {"email", "ann@example.com"},
          {"email_verified", true}};
}

oidc::Expected expected() {
  return {"https://id.example.test", "portico-client", "n-0S6_WzA2Mj", kNow, 120};
}

// The check refused the token, naming `why` in its message.
void refused(const portico::Result<json::object>& r, std::string_view why) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oidc::kInvalidToken);
  CHECK_MESSAGE(r.error().message.find(why) != std::string::npos, r.error().message);
}

}  // namespace

TEST_CASE("ID tokens signed with RS256 and ES256 by the provider's keys are accepted") {
  const Signer rsa("RS256", "r1"), ec("ES256", "e1");
  const auto keys = keys_of({&rsa, &ec});
  CHECK(keys.size() == 2);
  for (const Signer* s : {&rsa, &ec}) {
    CAPTURE(s->alg);
    auto ok = oidc::verify_id_token(s->sign(claims()), keys, expected());
    REQUIRE_MESSAGE(ok, ok.error().message);
    CHECK(ok->at("sub").as_string() == "user-17");
    CHECK(ok->at("email").as_string() == "ann@example.com");
  }
}

TEST_CASE("a token whose signature does not hold is refused") {
  const Signer rsa("RS256", "r1"), other("RS256", "r1");  // same kid, another key
  const auto keys = keys_of({&rsa});
  refused(oidc::verify_id_token(other.sign(claims()), keys, expected()), "signature");
  // The claims changed after signing.
  std::string token = rsa.sign(claims());
  const auto dot = token.find('.');
  auto changed = claims();
  changed["sub"] = "admin";
  token = token.substr(0, dot + 1) + portico::base64url(json::serialize(changed)) +
          token.substr(token.find('.', dot + 1));
  refused(oidc::verify_id_token(token, keys, expected()), "signature");
  refused(oidc::verify_id_token("not.a.token", keys, expected()), "");
  refused(oidc::verify_id_token("a.b", keys, expected()), "compact JWS");
}

TEST_CASE("only RS256 and ES256 are accepted and each only with its own kind of key") {
  const Signer rsa("RS256", "r1"), ec("ES256", "e1");
  const auto keys = keys_of({&rsa, &ec});
  // alg none: no signature at all.
  const std::string none = portico::base64url(R"({"alg":"none","kid":"r1"})") + "." +
                           portico::base64url(json::serialize(claims())) + ".";
  refused(oidc::verify_id_token(none, keys, expected()), "algorithm 'none'");
  refused(oidc::verify_id_token(rsa.sign(claims(), {{"alg", "HS256"}}), keys, expected()),
          "algorithm 'HS256'");
  // An ES256 header on the RSA key's kid.
  refused(oidc::verify_id_token(ec.sign(claims(), {{"kid", "r1"}}), keys, expected()),
          "not its key's");
  refused(
      oidc::verify_id_token(rsa.sign(claims(), {{"crit", json::array{"exp"}}}), keys, expected()),
      "critical");
}

TEST_CASE("an unknown kid asks for the keys again and the rotated set verifies it") {
  const Signer old_key("RS256", "2026-11"), new_key("RS256", "2026-12");
  const auto before = keys_of({&old_key});
  auto unknown = oidc::verify_id_token(new_key.sign(claims()), before, expected());
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == oidc::kUnknownKey);
  const auto after = keys_of({&old_key, &new_key});
  CHECK(oidc::verify_id_token(new_key.sign(claims()), after, expected()));
  // No kid: only a set of exactly one key says which.
  const auto one = keys_of({&new_key});
  const std::string token = new_key.sign(claims(), {{"alg", "RS256"}, {"kid", ""}});
  CHECK(oidc::verify_id_token(token, one, expected()));
  CHECK(oidc::verify_id_token(token, after, expected()).error().code == oidc::kUnknownKey);
}

TEST_CASE("the issuer the audience the authorized party the times and the nonce are checked") {
  const Signer rsa("RS256", "r1");
  const auto keys = keys_of({&rsa});
  auto with = [&](std::string_view name, json::value v) {
    auto c = claims();
    c[name] = std::move(v);
    return oidc::verify_id_token(rsa.sign(c), keys, expected());
  };
  refused(with("iss", "https://evil.example.test"), "issuer");
  refused(with("aud", "another-client"), "aud");
  refused(with("aud", json::array{"another-client"}), "aud");
  // Several audiences: azp must name this client.
  refused(with("aud", json::array{"portico-client", "another-client"}), "azp");
  {
    auto c = claims();
    c["aud"] = json::array{"portico-client", "another-client"};
    c["azp"] = "portico-client";
    CHECK(oidc::verify_id_token(rsa.sign(c), keys, expected()));
  }
  refused(with("azp", "another-client"), "azp");
  refused(with("exp", kNow - 121), "expired");
  CHECK(with("exp", kNow - 60));  // within the leeway for clocks
  refused(with("iat", kNow + 600), "future");
  refused(with("nonce", "replayed-nonce"), "nonce");
  auto c = claims();
  c.erase("nonce");
  refused(oidc::verify_id_token(rsa.sign(c), keys, expected()), "nonce");
  c = claims();
  c.erase("exp");
  refused(oidc::verify_id_token(rsa.sign(c), keys, expected()), "exp");
  refused(with("sub", ""), "subject");
}

TEST_CASE("Microsoft's tenant-templated issuer is matched against the token's tenant") {
  const Signer rsa("RS256", "r1");
  const auto keys = keys_of({&rsa});
  auto e = expected();
  e.issuer = "https://login.microsoftonline.com/{tenantid}/v2.0";
  auto c = claims();
  c["tid"] = "9188040d-6c67-4c5b-b112-36a304b66dad";
  c["iss"] = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
  CHECK(oidc::verify_id_token(rsa.sign(c), keys, e));
  c["tid"] = "00000000-0000-0000-0000-000000000000";  // the issuer names another tenant
  refused(oidc::verify_id_token(rsa.sign(c), keys, e), "issuer");
  c.erase("tid");
  refused(oidc::verify_id_token(rsa.sign(c), keys, e), "tenant");
}

TEST_CASE("a JWKS keeps the signing keys it can use and refuses keys that do not decode") {
  const Signer rsa("RS256", "r1");
  json::array extra{
      json::object{{"kty", "RSA"}, {"use", "enc"}, {"kid", "enc"}, {"n", "AQAB"}, {"e", "AQAB"}},
      json::object{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}},
      json::object{{"kty", "EC"}, {"crv", "P-521"}, {"kid", "big"}}};
  CHECK(keys_of({&rsa}, extra).size() == 1);
  auto bad = oidc::KeySet::parse(R"({"keys":[{"kty":"RSA","kid":"x","n":"!!","e":"AQAB"}]})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == portico::errc::kInvalidRequest);
  const Signer weak("RS256", "weak", 1024);
  auto small =
      oidc::KeySet::parse(json::serialize(json::object{{"keys", json::array{weak.jwk()}}}));
  CHECK_FALSE(small);  // RSA under 2048 bits
  CHECK_FALSE(oidc::KeySet::parse("[]"));
  CHECK_FALSE(oidc::KeySet::parse("not json"));
}
