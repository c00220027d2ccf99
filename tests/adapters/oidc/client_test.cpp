// portico::oidc::Client against a provider's endpoints over HTTPS on 127.0.0.1
// (tests/support/oidc_fixture.py, with a certificate and keys made in the test): discovery, the
// authorization URL with PKCE, the code exchange, key rotation, userinfo.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <fstream>
#include <portico/errc.hpp>
#include <portico/oidc/client.hpp>
#include <sstream>
#include <thread>

#include "../../support/child_process.hpp"
#include "../../support/jose.hpp"
#include "../../support/self_signed.hpp"
#include "../../support/temp_dir.hpp"

namespace oidc = portico::oidc;
namespace json = boost::json;
using portico::test::ChildProcess;
using portico::test::Signer;
using portico::test::TempDir;

namespace {

struct Provider {
  TempDir dir;
  std::unique_ptr<ChildProcess> process;
  unsigned short port = 0;

  Provider() {
    REQUIRE(portico::test::write_self_signed(dir.path()));
    write("jwks.json", R"({"keys":[]})");
    write("userinfo.json", R"({"sub":"user-17","email":"ann@example.com","email_verified":true})");
    process = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/usr/bin/python3", PORTICO_OIDC_FIXTURE, "--dir", dir.path().string(), "--cert",
        (dir / "cert.pem").string(), "--key", (dir / "key.pem").string()});
    auto line = process->read_line(std::chrono::seconds(30));
    REQUIRE((line && line->starts_with("fixture: listening on ")));
    port = static_cast<unsigned short>(std::stoi(line->substr(22)));
  }
  std::string base() const { return "https://127.0.0.1:" + std::to_string(port); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir / name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void keys(std::initializer_list<const Signer*> signers) const {
    json::array keys;
    for (const Signer* s : signers) keys.push_back(s->jwk());
    write("jwks.json", json::serialize(json::object{{"keys", keys}}));
  }
  oidc::ProviderConfig config() const {
    oidc::ProviderConfig c;
    c.name = "acme-sso";
    c.issuer = base();
    c.discovery_url = base() + "/.well-known/openid-configuration";
    c.client_id = "portico";
    c.client_secret = "s3cr:et";
    c.ca_file = (dir / "cert.pem").string();
    return c;
  }
  json::object claims(const std::string& nonce) const {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return {{"iss", base()},    {"sub", "user-17"}, {"aud", "portico"},
            {"exp", now + 300}, {"iat", now - 5},   {"nonce", nonce}};
  }
};

std::int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The value of `name` in a URL's query (still encoded), or "".
std::string query_value(const std::string& url, const std::string& name) {
  const auto at = url.find((url.find('?') < url.find("&" + name + "=") ? "&" : "?") + name + "=");
  if (at == std::string::npos) return {};
  const auto from = at + name.size() + 2;
  return url.substr(from, url.find('&', from) - from);
}

}  // namespace

TEST_CASE("the endpoints come from the discovery document of the configured issuer") {
  Provider p;
  oidc::Client client(p.config());
  auto m = client.metadata();
  REQUIRE_MESSAGE(m, m.error().message);
  CHECK(m->authorization_endpoint == p.base() + "/authorize");
  CHECK(m->token_endpoint == p.base() + "/token");
  CHECK(m->jwks_uri == p.base() + "/jwks");
  // A document that names another issuer is not this provider's.
  p.write("issuer", "https://evil.example.test");
  oidc::Client misled(p.config());
  auto refused = misled.metadata();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == portico::errc::kUnavailable);
  CHECK(refused.error().message.find("issuer") != std::string::npos);
}

TEST_CASE("a provider whose certificate nobody vouches for is not talked to") {
  Provider p;
  auto c = p.config();
  c.ca_file.clear();  // the system's store knows nothing of the test's certificate
  oidc::Client client(c);
  auto m = client.metadata();
  REQUIRE_FALSE(m);
  CHECK(m.error().code == portico::errc::kUnavailable);
}

TEST_CASE("the authorization URL asks for a code with state nonce and the PKCE S256 challenge") {
  Provider p;
  oidc::Client client(p.config());
  const std::string verifier = "a-verifier-of-the-browser-with-enough-entropy-0123456789";
  auto url = client.authorization_url("st-1", "n-1", verifier, "https://desk.test/cb?x=1");
  REQUIRE(url);
  CHECK(url->starts_with(p.base() + "/authorize?response_type=code&"));
  CHECK(query_value(*url, "client_id") == "portico");
  CHECK(query_value(*url, "redirect_uri") == "https%3A%2F%2Fdesk.test%2Fcb%3Fx%3D1");
  CHECK(query_value(*url, "scope") == "openid%20email%20profile");
  CHECK(query_value(*url, "state") == "st-1");
  CHECK(query_value(*url, "nonce") == "n-1");
  CHECK(query_value(*url, "code_challenge_method") == "S256");
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest, &len, EVP_sha256(), nullptr);
  const std::string expected =
      portico::base64url(std::string(reinterpret_cast<char*>(digest), len));
  CHECK(query_value(*url, "code_challenge") == expected);
  CHECK(oidc::code_challenge(verifier) == expected);
}

TEST_CASE("the code is exchanged with the client's credentials and the verifier") {
  Provider p;
  const Signer key("RS256", "k1");
  p.keys({&key});
  p.write("token.json", json::serialize(json::object{{"id_token", key.sign(p.claims("n-1"))},
                                                     {"access_token", "at-1"}}));
  oidc::Client client(p.config());
  auto tokens = client.exchange("good-code", "the-verifier", "https://desk.test/cb");
  REQUIRE_MESSAGE(tokens, tokens.error().message);
  CHECK(tokens->access_token == "at-1");
  const std::string log = p.read("token.log");
  // RFC 6749 §2.3.1: the secret form-encoded (":" as %3A) inside HTTP Basic.
  const std::string credentials = "portico:s3cr%3Aet";
  std::string basic(4 * ((credentials.size() + 2) / 3) + 1, '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(basic.data()),
                  reinterpret_cast<const unsigned char*>(credentials.data()),
                  static_cast<int>(credentials.size()));
  basic.pop_back();
  CHECK(log.starts_with("Basic " + basic + " "));
  CHECK(log.find("grant_type=authorization_code") != std::string::npos);
  CHECK(log.find("code=good-code") != std::string::npos);
  CHECK(log.find("code_verifier=the-verifier") != std::string::npos);
  CHECK(log.find("redirect_uri=https%3A%2F%2Fdesk.test%2Fcb") != std::string::npos);
  auto claims = client.verify(tokens->id_token, "n-1", now());
  REQUIRE_MESSAGE(claims, claims.error().message);
  CHECK(claims->at("sub").as_string() == "user-17");
  auto info = client.userinfo(tokens->access_token);
  REQUIRE(info);
  CHECK(info->at("email").as_string() == "ann@example.com");

  auto refused = client.exchange("a-used-code", "the-verifier", "https://desk.test/cb");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == portico::errc::kInvalidRequest);
  CHECK(refused.error().message.find("invalid_grant") != std::string::npos);
}

TEST_CASE(
    "a rotated key is fetched when a token names it and unknown kids do not hammer the keys") {
  Provider p;
  const Signer first("RS256", "2026-11"), second("ES256", "2026-12"), stranger("RS256", "x");
  // Made first: making RSA keys takes a while, and the checks below are about seconds.
  const Signer other("RS256", "y"), last("RS256", "z");
  const std::string other_token = other.sign(p.claims("n")), last_token = last.sign(p.claims("n"));
  p.keys({&first});
  oidc::Client client(p.config());
  REQUIRE(client.verify(first.sign(p.claims("n")), "n", now()));
  CHECK(lines(p.read("jwks.log")) == 1);
  REQUIRE(client.verify(first.sign(p.claims("n")), "n", now()));
  CHECK(lines(p.read("jwks.log")) == 1);                         // kept
  p.keys({&first, &second});                                     // the provider rotates
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // fetches are a second apart
  auto rotated = client.verify(second.sign(p.claims("n")), "n", now());
  CHECK_MESSAGE(bool(rotated), (rotated ? std::string() : rotated.error().message));
  CHECK(lines(p.read("jwks.log")) == 2);
  // A kid nobody published: one more look, then none for that kid within the minute, nor for
  // any kid within the second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto unknown = client.verify(stranger.sign(p.claims("n")), "n", now());
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == oidc::kInvalidToken);
  CHECK(lines(p.read("jwks.log")) == 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  CHECK_FALSE(client.verify(stranger.sign(p.claims("n")), "n", now()));
  CHECK(lines(p.read("jwks.log")) == 3);
  CHECK_FALSE(client.verify(other_token, "n", now()));
  CHECK(lines(p.read("jwks.log")) == 4);  // another kid, a second later
  CHECK_FALSE(client.verify(last_token, "n", now()));
  CHECK(lines(p.read("jwks.log")) == 4);  // within the second
}
