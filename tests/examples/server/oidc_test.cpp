// Sign-in with an identity provider (API.md part 2) against a real OpenID provider: the npm
// package oidc-provider (tests/e2e/oidc_provider.mjs, pinned by tests/e2e/package-lock.json) over
// HTTPS on 127.0.0.1, and a real portico-server configured with a preset whose issuer is
// overridden ([oidc.cfx]) and a generic provider ([oidc.acme-sso]) in its configuration file.
// The test is the browser: it follows each redirect, types into the provider's sign-in form, and
// keeps the cookies of both hosts (support/browser.hpp).
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <fstream>
#include <portico/encoding.hpp>
#include <string>

#include "../../support/browser.hpp"
#include "../../support/self_signed.hpp"
#include "../../support/server_process.hpp"
#include "../../support/temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using portico::test::Browser;
using portico::test::ChildProcess;
using portico::test::ServerProcess;
using portico::test::TempDir;
namespace hc = portico::test::http_client;
using boost::beast::http::verb;

// Who types what into the provider's sign-in form.
struct Person {
  std::string sub;
  std::string email;
  bool verified = false;
  std::string name;
};

std::string form_of(const Person& p) {
  std::string form = "sub=" + portico::percent_encoded(p.sub) +
                     "&email=" + portico::percent_encoded(p.email) +
                     "&name=" + portico::percent_encoded(p.name);
  if (p.verified) form += "&email_verified=true";
  return form;
}

// oidc-provider on a free port, and portico-server on a desk whose project "acme" offers both
// providers; `settings` are more portico-admin flags for "acme".
struct Setup {
  TempDir dir;
  std::filesystem::path data = dir.path() / "data";
  std::filesystem::path cert = dir.path() / "cert.pem";
  ChildProcess provider_process;
  std::string issuer;
  std::optional<ServerProcess> server;
  std::string base;

  explicit Setup(std::vector<std::string> settings = {})
      : provider_process(start_provider(dir.path())), issuer(listening(provider_process)) {
    settings.insert(settings.end(), {"--sign-in", "magic_link,cfx,acme-sso"});
    portico::test::new_desk(data, "a-long-staff-passphrase", settings);
    {
      std::ofstream(dir.path() / "cfx.secret") << "cfx-client-secret-0123456789\n";
      std::ofstream config(dir.path() / "portico.toml");
      config << "[oidc.cfx]\nissuer = \"" << issuer << "\"\nclient-id = \"portico-cfx\"\n"
             << "client-secret-file = \"" << (dir.path() / "cfx.secret").string() << "\"\n"
             << "ca-file = \"" << cert.string() << "\"\n"
             << "[oidc.acme-sso]\nissuer = \"" << issuer << "\"\nclient-id = \"portico-acme\"\n"
             << "client-secret = \"acme-client-secret-0123456789\"\n"
             << "display-name = \"Acme SSO\"\nscopes = \"openid email profile\"\n"
             << "ca-file = \"" << cert.string() << "\"\n";
    }
    server.emplace(data,
                   std::vector<std::string>{"--config", (dir.path() / "portico.toml").string()});
    base = "http://127.0.0.1:" + std::to_string(server->port());
    // The clients, now that the callback URLs are known.
    Browser admin(cert.string());
    const std::string clients =
        R"([{"client_id":"portico-cfx","client_secret":"cfx-client-secret-0123456789",)"
        R"("redirect_uris":[")" +
        base +
        R"(/api/v1/auth/oauth/cfx/callback"]},)"
        R"({"client_id":"portico-acme","client_secret":"acme-client-secret-0123456789",)"
        R"("redirect_uris":[")" +
        base + R"(/api/v1/auth/oauth/acme-sso/callback"]}])";
    auto set = admin.post(issuer + "/test/clients", clients, {"Content-Type: application/json"});
    REQUIRE(set.status == 204);
  }

  static ChildProcess start_provider(const std::filesystem::path& dir) {
    REQUIRE(portico::test::write_self_signed(dir));
    return ChildProcess({PORTICO_NODE, PORTICO_OIDC_PROVIDER, (dir / "cert.pem").string(),
                         (dir / "key.pem").string()});
  }
  static std::string listening(ChildProcess& p) {
    constexpr std::string_view kSays = "listening on ";
    for (int i = 0; i < 10; ++i) {
      auto line = p.read_line(30s);
      REQUIRE(line);
      if (auto at = line->find(kSays); at != std::string::npos) {
        return line->substr(at + kSays.size());
      }
    }
    FAIL("oidc-provider never said where it listens");
    return {};
  }

  // The next ID token the provider hands out is changed (oidc_provider.mjs: "wrong_nonce", …).
  void spoil_next_token(const std::string& mode) {
    Browser admin(cert.string());
    auto set = admin.post(issuer + "/test/next", R"({"mode":")" + mode + R"("})",
                          {"Content-Type: application/json"});
    REQUIRE(set.status == 204);
  }

  // From the provider's authorization URL to the redirect back to the portal: the sign-in form
  // filled in as `who`. Returns the redirect to the callback (unfetched).
  Browser::Page at_provider(Browser& b, const std::string& authorize, const Person& who) {
    auto form = b.follow(authorize, base);
    REQUIRE_MESSAGE(form.status == 200, form.url << " " << form.body);
    REQUIRE(form.body.find("Sign in to the test provider") != std::string::npos);
    const auto uid_at = form.url.find("/interaction/");
    REQUIRE(uid_at != std::string::npos);
    auto posted = b.post(form.url + "/login", form_of(who),
                         {"Content-Type: application/x-www-form-urlencoded"});
    REQUIRE_MESSAGE(!posted.location.empty(), posted.status << " " << posted.body);
    auto back = posted.location.starts_with(base) ? posted : b.follow(posted.location, base);
    REQUIRE_MESSAGE(back.location.starts_with(base + "/api/v1/auth/oauth/"),
                    back.status << " " << back.location << " " << back.body);
    return back;
  }

  // The whole sign-in from the portal's button: the callback's answer.
  Browser::Page sign_in(Browser& b, const std::string& provider, const Person& who,
                        const std::string& project = "acme", const std::string& extra = {}) {
    auto start =
        b.get(base + "/api/v1/auth/oauth/" + provider + "/start?project=" + project + extra);
    REQUIRE_MESSAGE(start.status == 302, start.body);
    REQUIRE(start.location.starts_with(issuer + "/auth?"));
    auto back = at_provider(b, start.location, who);
    return b.get(back.location);
  }

  boost::json::value me(Browser& b) {
    auto page = b.get(base + "/api/v1/me");
    REQUIRE_MESSAGE(page.status == 200, page.body);
    return boost::json::parse(page.body);
  }
};

bool sets_session(const Browser::Page& page) {
  for (const auto& c : page.set_cookies) {
    if (c.starts_with("portico_session=") && !c.starts_with("portico_session=;")) return true;
  }
  return false;
}

std::string str(const boost::json::value& v, std::string_view key) {
  return std::string(v.at(key).as_string());
}

}  // namespace

TEST_CASE("sign-in with a preset provider and a generic one against oidc-provider") {
  Setup s;
  // The portal learns the buttons from the project.
  auto project = hc::json(hc::get(s.server->port(), "/api/v1/projects/acme"));
  CHECK(boost::json::serialize(project.at("providers")) ==
        R"([{"id":"cfx","display_name":"Cfx.re"},{"id":"acme-sso","display_name":"Acme SSO"}])");
  CHECK(boost::json::serialize(project.at("sign_in")) == R"(["magic_link","cfx","acme-sso"])");

  // The first sign-in makes the customer and the membership; the browser lands on the portal.
  Browser ann(s.cert.string());
  auto landed = s.sign_in(ann, "cfx", {"fivem-ann", "Ann@Example.com", true, "Ann Lee"});
  CHECK(landed.status == 302);
  CHECK(landed.location == s.base + "/p/acme/");
  CHECK(sets_session(landed));
  auto me = s.me(ann);
  const std::string ann_id = str(me.at("customer"), "id");
  CHECK(str(me.at("customer"), "email") == "ann@example.com");
  CHECK(str(me.at("customer"), "display_name") == "Ann Lee");
  CHECK(boost::json::serialize(me.at("projects")) == R"([{"slug":"acme","name":"Acme Support"}])");
  CHECK(boost::json::serialize(me.at("identities")) ==
        R"([{"provider":"cfx","subject":"fivem-ann","email":"ann@example.com"}])");
  // The cookie session learns its CSRF token from /me, and can act with it.
  const std::string csrf = str(me, "csrf");
  auto opened = ann.post(s.base + "/api/v1/projects/acme/tickets",
                         R"({"subject":"Cannot join the server","message":"It says banned."})",
                         {"Content-Type: application/json", "X-CSRF-Token: " + csrf});
  CHECK_MESSAGE(opened.status == 201, opened.body);
  auto refused =
      ann.post(s.base + "/api/v1/projects/acme/tickets", R"({"subject":"No token","message":"x"})",
               {"Content-Type: application/json"});
  CHECK(refused.status == 403);

  // A later sign-in, in another browser, finds the same customer.
  Browser again(s.cert.string());
  CHECK(sets_session(s.sign_in(again, "cfx", {"fivem-ann", "ann@example.com", true, "Ann"})));
  CHECK(str(s.me(again).at("customer"), "id") == ann_id);

  // Another provider's identity with the same verified address joins her.
  Browser sso(s.cert.string());
  CHECK(sets_session(s.sign_in(sso, "acme-sso", {"sso-ann", "ann@example.com", true, "A. Lee"})));
  auto joined = s.me(sso);
  CHECK(str(joined.at("customer"), "id") == ann_id);
  CHECK(joined.at("identities").as_array().size() == 2);

  // The same address unverified joins nobody: a customer of its own, without an address.
  Browser mallory(s.cert.string());
  CHECK(sets_session(
      s.sign_in(mallory, "acme-sso", {"sso-mallory", "ann@example.com", false, "Ann"})));
  auto other = s.me(mallory);
  CHECK(str(other.at("customer"), "id") != ann_id);
  CHECK(str(other.at("customer"), "email").empty());
  CHECK(boost::json::serialize(other.at("identities")) ==
        R"([{"provider":"acme-sso","subject":"sso-mallory","email":"ann@example.com"}])");

  // An unverified address that nobody holds is not claimed either: its owner signing in by a
  // magic link later is a customer of their own.
  Browser bob(s.cert.string());
  CHECK(sets_session(s.sign_in(bob, "acme-sso", {"sso-bob", "bob@example.com", false, "Bob"})));
  const std::string bob_sso = str(s.me(bob).at("customer"), "id");
  auto real_bob = portico::test::customer(s.server->port(), s.data, "acme", "bob@example.com");
  CHECK(str(real_bob.get("/api/v1/me").at("customer"), "id") != bob_sso);

  // return_to: a path on this server, kept through the flow.
  Browser back(s.cert.string());
  auto deep = s.sign_in(back, "cfx", {"fivem-ann", "ann@example.com", true, "Ann"}, "acme",
                        "&return_to=%2Fp%2Facme%2Ft%2F1");
  CHECK(deep.location == s.base + "/p/acme/t/1");
}

TEST_CASE("a provider sign-in refuses replayed state and bad ID tokens and honours the project") {
  Setup s;
  const Person ann{"fivem-ann", "ann@example.com", true, "Ann"};

  SUBCASE("a replayed state and another browser's state sign nobody in") {
    Browser b(s.cert.string());
    auto start = b.get(s.base + "/api/v1/auth/oauth/cfx/start?project=acme");
    REQUIRE(start.status == 302);
    auto back = s.at_provider(b, start.location, ann);
    // Someone else's browser with the same callback URL (no binding cookie).
    Browser thief(s.cert.string());
    auto stolen = thief.get(back.location);
    CHECK(stolen.status == 302);
    CHECK(stolen.location == s.base + "/p/acme/?sign_in_error=invalid_state");
    CHECK_FALSE(sets_session(stolen));
    // The state was spent by that attempt: the rightful browser starts again.
    auto late = b.get(back.location);
    CHECK(late.location == s.base + "/p/acme/?sign_in_error=invalid_state");
    CHECK_FALSE(sets_session(late));
    // A fresh flow works, once.
    auto ok = s.sign_in(b, "cfx", ann);
    CHECK(sets_session(ok));
    auto replay = b.get(ok.url);
    CHECK(replay.location == s.base + "/p/acme/?sign_in_error=invalid_state");
    CHECK_FALSE(sets_session(replay));
    // A state nobody made.
    auto made_up = b.get(s.base + "/api/v1/auth/oauth/cfx/callback?code=x&state=acme.forged");
    CHECK(made_up.location == s.base + "/p/acme/?sign_in_error=invalid_state");
  }

  SUBCASE("ID tokens with a wrong nonce, expired, for another audience or wrongly signed") {
    for (const char* mode :
         {"wrong_nonce", "expired", "wrong_audience", "bad_signature", "unknown_kid"}) {
      CAPTURE(mode);
      s.spoil_next_token(mode);
      Browser b(s.cert.string());
      auto answer = s.sign_in(b, "cfx", ann);
      CHECK(answer.location == s.base + "/p/acme/?sign_in_error=invalid_token");
      CHECK_FALSE(sets_session(answer));
      CHECK(b.get(s.base + "/api/v1/me").status == 401);
    }
    // The provider rotates its key: the new kid is fetched and the sign-in goes through. (The
    // client fetches a provider's keys at most once a second: unknown_kid's fetch just now must
    // not be the reason this one is skipped.)
    std::this_thread::sleep_for(1100ms);
    s.spoil_next_token("rotate");
    Browser b(s.cert.string());
    CHECK(sets_session(s.sign_in(b, "cfx", ann)));
  }

  SUBCASE("return_to must stay on this server; unknown and unoffered providers are 404") {
    Browser b(s.cert.string());
    for (const char* bad :
         {"%2F%2Fevil.test%2F", "https%3A%2F%2Fevil.test%2F", "%2F%5Cevil.test", "p%2Facme"}) {
      CAPTURE(bad);
      auto r = b.get(s.base + "/api/v1/auth/oauth/cfx/start?project=acme&return_to=" + bad);
      CHECK(r.status == 400);
      CHECK(r.body.find("\"return_to\"") != std::string::npos);
    }
    CHECK(b.get(s.base + "/api/v1/auth/oauth/google/start?project=acme").status == 404);
    CHECK(b.get(s.base + "/api/v1/auth/oauth/cfx/start?project=nope").status == 404);
    // A project that does not offer acme-sso (the server has it).
    auto made = portico::test::admin(
        s.data, {"project", "create", "beta", "--name", "Beta", "--sign-in", "magic_link,cfx"});
    REQUIRE_MESSAGE(made.exit_code == 0, made.out);
    CHECK(b.get(s.base + "/api/v1/auth/oauth/acme-sso/start?project=beta").status == 404);
    CHECK(b.get(s.base + "/api/v1/auth/oauth/cfx/start?project=beta").status == 302);
    auto beta = hc::json(hc::get(s.server->port(), "/api/v1/projects/beta"));
    CHECK(boost::json::serialize(beta.at("providers")) ==
          R"([{"id":"cfx","display_name":"Cfx.re"}])");
  }

  SUBCASE("the provider refusing the request sends the person back with a reason") {
    Browser b(s.cert.string());
    auto start = b.get(s.base + "/api/v1/auth/oauth/cfx/start?project=acme");
    const auto at = start.location.find("state=");
    REQUIRE(at != std::string::npos);
    std::string state = start.location.substr(at + 6);
    state = state.substr(0, state.find('&'));
    auto denied =
        b.get(s.base + "/api/v1/auth/oauth/cfx/callback?error=access_denied&state=" + state);
    CHECK(denied.location == s.base + "/p/acme/?sign_in_error=cancelled");
    CHECK_FALSE(sets_session(denied));
  }
}

TEST_CASE("a provider sign-in on a project with allowed domains admits only vouched addresses") {
  Setup s({"--allowed-domains", "example.com"});
  Browser outsider(s.cert.string());
  auto refused = s.sign_in(outsider, "cfx", {"fivem-x", "x@other.test", true, "X"});
  CHECK(refused.location == s.base + "/p/acme/?sign_in_error=domain_not_allowed");
  CHECK_FALSE(sets_session(refused));
  Browser unverified(s.cert.string());
  auto unvouched = s.sign_in(unverified, "cfx", {"fivem-y", "y@example.com", false, "Y"});
  CHECK(unvouched.location == s.base + "/p/acme/?sign_in_error=domain_not_allowed");
  Browser member(s.cert.string());
  CHECK(sets_session(s.sign_in(member, "cfx", {"fivem-z", "z@example.com", true, "Z"})));
}

TEST_CASE("a signed-in customer adds and removes identities but never the last way in") {
  Setup s;
  // Someone who signed in with an identity that vouched for no address.
  Browser b(s.cert.string());
  REQUIRE(sets_session(s.sign_in(b, "cfx", {"fivem-nomail", "", false, "Player One"})));
  auto me = s.me(b);
  const std::string csrf = str(me, "csrf");
  CHECK(str(me.at("customer"), "email").empty());
  CHECK(str(me.at("customer"), "handle") == "player.one");
  const std::vector<std::string> write = {"Content-Type: application/json",
                                          "X-CSRF-Token: " + csrf};
  // Their only way in cannot go.
  auto last = b.del(s.base + "/api/v1/me/identities/cfx", write);
  CHECK(last.status == 409);
  CHECK(last.body.find("\"conflict\"") != std::string::npos);
  CHECK(b.del(s.base + "/api/v1/me/identities/acme-sso", write).status == 404);

  // Adding one: the same flow, ending on the profile with the identity added.
  auto add = b.post(s.base + "/api/v1/me/identities/acme-sso", "", write);
  REQUIRE_MESSAGE(add.status == 200, add.body);
  const std::string url = str(boost::json::parse(add.body), "url");
  auto back = s.at_provider(b, url, {"sso-player", "", false, "P1"});
  auto added = b.get(back.location);
  CHECK(added.location == s.base + "/p/acme/profile");
  CHECK(s.me(b).at("identities").as_array().size() == 2);
  // Now either may go, but not both.
  CHECK(b.del(s.base + "/api/v1/me/identities/cfx", write).status == 204);
  CHECK(b.del(s.base + "/api/v1/me/identities/acme-sso", write).status == 409);
  // The removed identity no longer signs in as them: it makes a new customer.
  Browser later(s.cert.string());
  REQUIRE(sets_session(s.sign_in(later, "cfx", {"fivem-nomail", "", false, "Player One"})));
  CHECK(str(s.me(later).at("customer"), "id") != str(me.at("customer"), "id"));

  // An identity that is someone else's is not taken over.
  auto again = b.post(s.base + "/api/v1/me/identities/cfx", "", write);
  REQUIRE(again.status == 200);
  auto taken_back = s.at_provider(b, str(boost::json::parse(again.body), "url"),
                                  {"fivem-nomail", "", false, "Player One"});
  auto taken = b.get(taken_back.location);
  CHECK(taken.location == s.base + "/p/acme/profile?sign_in_error=identity_taken");
  CHECK(s.me(b).at("identities").as_array().size() == 1);

  // Adding needs the session's CSRF token, and a provider the project offers.
  CHECK(b.post(s.base + "/api/v1/me/identities/cfx", "", {}).status == 403);
  CHECK(b.post(s.base + "/api/v1/me/identities/google", "", write).status == 404);
}
