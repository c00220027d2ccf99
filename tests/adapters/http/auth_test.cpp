// Signing in over HTTP: magic links, passwords, sessions, cookies and CSRF, rate limits, realms.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <condition_variable>
#include <mutex>
#include <portico/http/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api_fixture.hpp"

using namespace portico::test;

namespace {

std::string body(std::initializer_list<std::pair<const char*, std::string>> fields) {
  boost::json::object o;
  for (const auto& [k, v] : fields) o[k] = v;
  return boost::json::serialize(o);
}

}  // namespace

TEST_CASE("magic link: e-mailed - signs in once with a cookie and a token - then 401") {
  Api api;
  auto asked = api.call(verb::post, "/api/v1/auth/magic-link",
                        body({{"project", "acme"}, {"email", "New@Example.test"}}));
  CHECK(asked.result_int() == 202);
  CHECK(asked.body() == "{}");
  auto mails = api.mail.to("new@example.test");
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].subject.find("Acme Support") != std::string::npos);
  CHECK(mails[0].text.find("http://portal.test/p/acme/auth/magic?token=") != std::string::npos);
  const std::string token = api.mail.last_token("new@example.test");
  auto verified = api.call(verb::post, "/api/v1/auth/magic-link/verify", body({{"token", token}}));
  REQUIRE(verified.result_int() == 200);
  auto v = hc::json(verified);
  CHECK(v.at("token").as_string().size() == 43);
  CHECK(v.at("csrf").as_string().size() == 43);
  CHECK(v.at("customer").at("email") == "new@example.test");
  CHECK(v.at("customer").at("handle") == "new");
  const std::string cookie(verified[boost::beast::http::field::set_cookie]);
  CHECK(cookie.starts_with("portico_session=" + std::string(v.at("token").as_string()) + ";"));
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Lax") != std::string::npos);
  CHECK(cookie.find("Secure") == std::string::npos);  // plain HTTP to an http:// base URL
  // The token is used up.
  auto again = api.call(verb::post, "/api/v1/auth/magic-link/verify", body({{"token", token}}));
  CHECK(again.result_int() == 401);
  CHECK(code_of(again) == "invalid_token");
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/magic-link/verify",
                         body({{"token", "made-up"}}))) == "invalid_token");
  // /me with the token, and the membership the sign-in made.
  auto me = api.call(verb::get, "/api/v1/me", {},
                     {{"Authorization", "Bearer " + std::string(v.at("token").as_string())}});
  REQUIRE(me.result_int() == 200);
  CHECK(hc::json(me).at("customer").at("email") == "new@example.test");
  CHECK(hc::json(me).at("projects").as_array().size() == 1);
  CHECK(hc::json(me).at("projects").at(0).at("slug") == "acme");
  CHECK(hc::json(me).at("projects").at(0).at("name") == "Acme Support");
}

TEST_CASE("magic link: expires after 15 minutes - and the project's rules apply") {
  Api api;
  REQUIRE(api.call(verb::post, "/api/v1/auth/magic-link",
                   body({{"project", "acme"}, {"email", "late@example.test"}}))
              .result_int() == 202);
  api.accounts_offset = 15 * 60 * dom::kSecond + dom::kSecond;
  auto late = api.call(verb::post, "/api/v1/auth/magic-link/verify",
                       body({{"token", api.mail.last_token("late@example.test")}}));
  CHECK(late.result_int() == 401);
  CHECK(code_of(late) == "invalid_token");

  CHECK(code_of(api.call(verb::post, "/api/v1/auth/magic-link",
                         body({{"project", "nope"}, {"email", "x@example.test"}}))) == "not_found");
  auto bad = api.call(verb::post, "/api/v1/auth/magic-link",
                      body({{"project", "acme"}, {"email", "not an address"}}));
  CHECK(bad.result_int() == 400);
  CHECK(hc::json(bad).at("error").at("field") == "email");
  auto missing = api.call(verb::post, "/api/v1/auth/magic-link", body({{"project", "acme"}}));
  CHECK(missing.result_int() == 400);
  CHECK(hc::json(missing).at("error").at("field") == "email");
  auto settings = Desk::default_settings();
  settings.allowed_domains = {"corp.test"};
  REQUIRE(api.desk.portal->configure_project("acme", settings, Desk::system()));
  auto denied = api.call(verb::post, "/api/v1/auth/magic-link",
                         body({{"project", "acme"}, {"email", "x@example.test"}}));
  CHECK(denied.result_int() == 403);
  CHECK(code_of(denied) == "domain_not_allowed");
  settings.sign_in = {"password"};
  REQUIRE(api.desk.portal->configure_project("acme", settings, Desk::system()));
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/magic-link",
                         body({{"project", "acme"}, {"email", "x@corp.test"}}))) == "forbidden");
}

TEST_CASE("an e-mail that cannot go out is a 503 - and nothing was half done") {
  Api api;
  api.mail.failing = true;
  auto r = api.call(verb::post, "/api/v1/auth/magic-link",
                    body({{"project", "acme"}, {"email", "x@example.test"}}));
  CHECK(r.result_int() == 503);
  CHECK(code_of(r) == "unavailable");
}

TEST_CASE("a sign-in e-mail that fails after its answer is told to AppOptions on_warning") {
  std::mutex mu;
  std::vector<std::string> warnings;
  Api api([&](phttp::AppOptions& o) {
    o.on_warning = [&](std::string_view line) {
      std::lock_guard lock(mu);
      warnings.emplace_back(line);
    };
  });
  api.customer("ann@globex.test");
  api.mail.failing = true;
  // The password reset answers first and mails after (call() waits for that): the caller cannot
  // hear of the failure, so the sink does.
  auto r = api.call(verb::post, "/api/v1/auth/password-reset",
                    body({{"project", "acme"}, {"email", "ann@globex.test"}}));
  CHECK(r.result_int() == 202);
  std::lock_guard lock(mu);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("a sign-in e-mail did not go out") != std::string::npos);
  CHECK(warnings[0].find("the mail server is down") != std::string::npos);
  CHECK(warnings[0].find("ann@globex.test") == std::string::npos);  // no address in the line
}

TEST_CASE("register - verify - log in - weak passwords - not verified - wrong password") {
  Api api;
  auto weak = api.call(verb::post, "/api/v1/auth/register",
                       body({{"project", "acme"},
                             {"email", "dora@example.test"},
                             {"password", "password1"},
                             {"display_name", "Dora"}}));
  CHECK(weak.result_int() == 400);
  CHECK(hc::json(weak).at("error").at("field") == "password");
  const std::string reg = body({{"project", "acme"},
                                {"email", "dora@example.test"},
                                {"password", "correct horse battery"},
                                {"display_name", "Dora <b>Explorer</b>"}});
  auto registered = api.call(verb::post, "/api/v1/auth/register", reg);
  CHECK(registered.result_int() == 201);
  CHECK(registered.body() == "{}");
  auto mails = api.mail.to("dora@example.test");
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].text.find("/p/acme/auth/verify?token=") != std::string::npos);
  const std::string login = body(
      {{"project", "acme"}, {"email", "dora@example.test"}, {"password", "correct horse battery"}});
  auto unverified = api.call(verb::post, "/api/v1/auth/login", login);
  CHECK(unverified.result_int() == 403);
  CHECK(code_of(unverified) == "email_not_verified");
  auto verified = api.call(verb::post, "/api/v1/auth/verify-email",
                           body({{"token", api.mail.last_token("dora@example.test")}}));
  REQUIRE(verified.result_int() == 200);
  CHECK(hc::json(verified).at("customer").at("display_name") == "Dora <b>Explorer</b>");
  auto s = api.call(verb::post, "/api/v1/auth/login", login);
  REQUIRE(s.result_int() == 200);
  CHECK(hc::json(s).at("customer").at("email") == "dora@example.test");
  auto wrong = api.password_login("acme", "dora@example.test", "wrong horse battery");
  CHECK(wrong.result_int() == 401);
  CHECK(code_of(wrong) == "invalid_credentials");
  auto nobody = api.password_login("acme", "nobody@example.test", "correct horse battery");
  CHECK(code_of(nobody) == "invalid_credentials");
  // Registering an address that has a password changes nothing and says so by e-mail only.
  CHECK(api.call(verb::post, "/api/v1/auth/register", reg).result_int() == 201);
  CHECK(api.mail.to("dora@example.test").back().text.find("already") != std::string::npos);
}

TEST_CASE("password reset: 202 whoever asks - the link sets a password once and signs out") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  const std::size_t before = api.mail.count();
  CHECK(api.call(verb::post, "/api/v1/auth/password-reset",
                 body({{"project", "acme"}, {"email", "nobody@example.test"}}))
            .result_int() == 202);
  CHECK(api.mail.count() == before);  // no account: no e-mail, the same answer
  CHECK(api.call(verb::post, "/api/v1/auth/password-reset",
                 body({{"project", "acme"}, {"email", "ann@globex.test"}}))
            .result_int() == 202);
  const std::string token = api.mail.last_token("ann@globex.test");
  CHECK(api.mail.to("ann@globex.test").back().text.find("/p/acme/auth/reset?token=") !=
        std::string::npos);
  auto weak = api.call(verb::post, "/api/v1/auth/password-reset/confirm",
                       body({{"token", token}, {"password", "123456789012"}}));
  CHECK(weak.result_int() == 400);
  auto done = api.call(verb::post, "/api/v1/auth/password-reset/confirm",
                       body({{"token", token}, {"password", "anns new passphrase"}}));
  CHECK(done.result_int() == 204);
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/password-reset/confirm",
                         body({{"token", token}, {"password", "anns other passphrase"}}))) ==
        "invalid_token");
  // The session from before the reset is over.
  CHECK(api.call(verb::get, "/api/v1/me", ann).result_int() == 401);
  CHECK(api.password_login("acme", "ann@globex.test", "anns new passphrase").result_int() == 200);
}

TEST_CASE("wrong passwords until 429 with Retry-After - per account - whatever the address") {
  Api api([](phttp::AppOptions& o) { o.limits.failed_passwords = {3, 1}; });
  REQUIRE(api.customer("ann@globex.test").id == "c-ann");
  const std::string wrong =
      body({{"project", "acme"}, {"email", "ann@globex.test"}, {"password", "not the password"}});
  for (int i = 0; i < 3; ++i) {
    CHECK(code_of(api.call(verb::post, "/api/v1/auth/login", wrong)) == "invalid_credentials");
  }
  auto limited = api.call(verb::post, "/api/v1/auth/login", wrong);
  CHECK(limited.result_int() == 429);
  CHECK(code_of(limited) == "rate_limited");
  const std::string retry(limited[boost::beast::http::field::retry_after]);
  REQUIRE(!retry.empty());
  CHECK(std::stoi(retry) >= 1);
  CHECK(std::stoi(retry) <= 60);
  // Another account is not held up; the staff realm counts its own.
  CHECK(code_of(api.password_login("acme", "bob@globex.test", "not the password")) ==
        "invalid_credentials");
  for (int i = 0; i < 3; ++i) {
    CHECK(code_of(api.call(verb::post, "/api/v1/staff/auth/login",
                           body({{"email", "agnes@acme.test"}, {"password", "wrong one"}}))) ==
          "invalid_credentials");
  }
  CHECK(api.call(verb::post, "/api/v1/staff/auth/login",
                 body({{"email", "agnes@acme.test"}, {"password", Api::kStaffPassword}}))
            .result_int() == 429);
}

TEST_CASE("every sign-in route is limited per client address") {
  Api api([](phttp::AppOptions& o) { o.limits.per_address = {4, 1}; });
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/api/v1/auth/magic-link", body({{"project", "acme"}, {"email", "a@example.test"}})},
      {"/api/v1/auth/magic-link/verify", body({{"token", "x"}})},
      {"/api/v1/auth/register", body({{"project", "acme"}})},
      {"/api/v1/auth/verify-email", body({{"token", "x"}})},
      {"/api/v1/auth/login", body({{"project", "acme"}})},
      {"/api/v1/auth/password-reset", body({{"project", "acme"}})},
      {"/api/v1/auth/password-reset/confirm", body({{"token", "x"}})},
      {"/api/v1/staff/auth/login", body({{"email", "x"}})},
  };
  for (const auto& [route, payload] : routes) {
    CAPTURE(route);
    api.app = std::make_unique<phttp::App>(*api.desk.log, *api.desk.portal, api.desk.views, [&] {
      phttp::AppOptions o;
      o.mail = &api.mail;
      o.limits.per_address = {4, 1};
      o.accounts.argon2_passes = 1;
      o.accounts.argon2_memory = 8 * 1024;
      return o;
    }());
    for (int i = 0; i < 4; ++i) CHECK(api.call(verb::post, route, payload).result_int() != 429);
    auto r = api.call(verb::post, route, payload);
    CHECK(r.result_int() == 429);
    CHECK(!r[boost::beast::http::field::retry_after].empty());
  }
}

TEST_CASE("sign-in e-mails to one address are limited") {
  Api api([](phttp::AppOptions& o) { o.limits.mails = {2, 0.2}; });
  const std::string ask = body({{"project", "acme"}, {"email", "ann@globex.test"}});
  CHECK(api.call(verb::post, "/api/v1/auth/magic-link", ask).result_int() == 202);
  CHECK(api.call(verb::post, "/api/v1/auth/password-reset", ask).result_int() == 202);
  auto r = api.call(verb::post, "/api/v1/auth/magic-link", ask);
  CHECK(r.result_int() == 429);
  CHECK(r[boost::beast::http::field::retry_after] == "300");
  CHECK(api.mail.to("ann@globex.test").size() == 2);
}

TEST_CASE("cookies need the CSRF header for changes - bearer tokens do not") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  const std::string open = R"({"subject":"Printer","message":"It jams"})";
  // Reads with the cookie alone are fine.
  CHECK(
      api.call(verb::get, "/api/v1/projects/acme/tickets", {}, ann.cookie("portico_session", false))
          .result_int() == 200);
  auto refused = api.call(verb::post, "/api/v1/projects/acme/tickets", open,
                          ann.cookie("portico_session", false));
  CHECK(refused.result_int() == 403);
  CHECK(code_of(refused) == "csrf");
  Headers wrong = ann.cookie("portico_session", false);
  wrong.emplace_back("X-CSRF-Token", ann.token);  // the session token is not the CSRF token
  CHECK(code_of(api.call(verb::post, "/api/v1/projects/acme/tickets", open, wrong)) == "csrf");
  const auto head = api.head();
  CHECK(api.head() == head);
  CHECK(api.call(verb::post, "/api/v1/projects/acme/tickets", open, ann.cookie()).result_int() ==
        201);
  CHECK(api.call(verb::post, "/api/v1/projects/acme/tickets", open, ann.bearer()).result_int() ==
        201);
  // DELETE, PUT and PATCH too.
  CHECK(code_of(api.call(verb::put, "/api/v1/projects/acme/tickets/1/favorite", {},
                         ann.cookie("portico_session", false))) == "csrf");
  CHECK(code_of(api.call(verb::delete_, "/api/v1/projects/acme/membership", {},
                         ann.cookie("portico_session", false))) == "csrf");
  CHECK(api.call(verb::put, "/api/v1/projects/acme/tickets/1/favorite", {}, ann.cookie())
            .result_int() == 204);
}

TEST_CASE("sessions expire when idle and absolutely - and logout ends them") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  CHECK(api.call(verb::get, "/api/v1/me", ann).result_int() == 200);
  api.accounts_offset = 11 * dom::kHour;
  CHECK(api.call(verb::get, "/api/v1/me", ann).result_int() == 200);
  api.accounts_offset = 22 * dom::kHour;  // 11 idle hours since the last request
  CHECK(api.call(verb::get, "/api/v1/me", ann).result_int() == 200);
  api.accounts_offset = 34 * dom::kHour + dom::kSecond;  // 12 idle hours
  auto idle = api.call(verb::get, "/api/v1/me", ann);
  CHECK(idle.result_int() == 401);
  CHECK(code_of(idle) == "unauthenticated");

  api.accounts_offset = 0;
  auto bob = api.customer("bob@globex.test");
  for (int h = 11; h < 30 * 24; h += 11) {
    api.accounts_offset = h * dom::kHour;
    REQUIRE(api.call(verb::get, "/api/v1/me", bob).result_int() == 200);
  }
  api.accounts_offset = 30 * dom::kDay;
  CHECK(api.call(verb::get, "/api/v1/me", bob).result_int() == 401);

  api.accounts_offset = 0;
  auto cat = api.customer("cat@initech.test");
  auto out = api.call(verb::post, "/api/v1/auth/logout", {}, cat.cookie());
  CHECK(out.result_int() == 204);
  CHECK(std::string(out[boost::beast::http::field::set_cookie]).find("Max-Age=0") !=
        std::string::npos);
  CHECK(api.call(verb::get, "/api/v1/me", cat).result_int() == 401);
  // Logging out twice, or without a session, is fine.
  CHECK(api.call(verb::post, "/api/v1/auth/logout", {}, cat.bearer()).result_int() == 204);
  CHECK(api.call(verb::post, "/api/v1/auth/logout").result_int() == 204);
}

TEST_CASE("realms: a customer token is worthless on staff routes and the reverse") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  auto login = api.call(verb::post, "/api/v1/staff/auth/login",
                        body({{"email", "agnes@acme.test"}, {"password", Api::kStaffPassword}}));
  REQUIRE(login.result_int() == 200);
  CHECK(hc::json(login).at("staff").at("display_name") == "Agnes Agent");
  CHECK(std::string(login[boost::beast::http::field::set_cookie]).starts_with("portico_staff="));
  CHECK(api.call(verb::get, "/api/v1/staff/projects/acme/tickets", ann).result_int() == 401);
  CHECK(api.call(verb::get, "/api/v1/staff/projects/acme/tickets", agnes).result_int() == 200);
  CHECK(api.call(verb::get, "/api/v1/me", agnes).result_int() == 401);
  CHECK(api.call(verb::get, "/api/v1/projects/acme/tickets", agnes).result_int() == 401);
  // Cookies of one realm are not read by the other.
  CHECK(api.call(verb::get, "/api/v1/staff/projects/acme/tickets", {},
                 {{"Cookie", "portico_session=" + agnes.token}})
            .result_int() == 401);
  CHECK(api.call(verb::get, "/api/v1/staff/projects/acme/tickets", {},
                 {{"Cookie", "portico_staff=" + agnes.token}})
            .result_int() == 200);
  CHECK(code_of(api.call(verb::post, "/api/v1/staff/auth/login",
                         body({{"email", "ann@globex.test"},
                               {"password", Api::kStaffPassword}}))) == "invalid_credentials");
  // A malformed Authorization header is no session.
  CHECK(api.call(verb::get, "/api/v1/me", {}, {{"Authorization", "Basic abc"}}).result_int() ==
        401);
  CHECK(api.call(verb::get, "/api/v1/me", {}, {{"Authorization", "Bearer "}}).result_int() == 401);
}

TEST_CASE("sign-ins and sign-outs are on the log - with no secret in it") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  REQUIRE(api.call(verb::post, "/api/v1/auth/logout", ann).result_int() == 204);
  auto records = api.desk.log->read_all(1, 100000);
  REQUIRE(records);
  int started = 0, ended = 0;
  std::string all;
  for (const auto& r : *records) {
    started += r.type == "SessionStarted";
    ended += r.type == "SessionEnded";
    all += r.stream + boost::json::serialize(r.payload_object());
  }
  CHECK(started == 1);
  CHECK(ended == 1);
  CHECK(all.find(ann.token) == std::string::npos);
  CHECK(all.find(ann.csrf) == std::string::npos);
}

TEST_CASE("registering an address that has a customer gives it no password - its owner is told") {
  Api api;
  auto ann = api.customer("ann@globex.test");  // a magic-link customer: no password
  const std::string attacker_pw = "attacker knows this one";
  auto taken = api.call(verb::post, "/api/v1/auth/register",
                        body({{"project", "acme"},
                              {"email", "ann@globex.test"},
                              {"password", attacker_pw},
                              {"display_name", "Mallory"}}));
  auto fresh = api.call(verb::post, "/api/v1/auth/register",
                        body({{"project", "acme"},
                              {"email", "new@example.test"},
                              {"password", attacker_pw},
                              {"display_name", "New"}}));
  // The same answer for a taken address and a new one (API.md: 201 {}).
  CHECK(taken.result_int() == 201);
  CHECK(fresh.result_int() == 201);
  CHECK(taken.body() == fresh.body());
  CHECK(taken[boost::beast::http::field::content_type] ==
        fresh[boost::beast::http::field::content_type]);
  // Ann got a notice with no link that sets anything, and the password does not sign in.
  auto mails = api.mail.to("ann@globex.test");
  REQUIRE(!mails.empty());
  CHECK(mails.back().text.find("already") != std::string::npos);
  CHECK(api.mail.last_token("ann@globex.test").empty());
  CHECK(
      code_of(api.call(
          verb::post, "/api/v1/auth/login",
          body({{"project", "acme"}, {"email", "ann@globex.test"}, {"password", attacker_pw}}))) ==
      "invalid_credentials");
  CHECK(api.call(verb::get, "/api/v1/me", ann).result_int() == 200);
}

TEST_CASE("a pending registration of someone else's address ends when its owner signs in") {
  Api api;
  REQUIRE(api.call(verb::post, "/api/v1/auth/register",
                   body({{"project", "acme"},
                         {"email", "victim@example.test"},
                         {"password", "attacker knows this one"},
                         {"display_name", "Victim"}}))
              .result_int() == 201);
  const std::string attackers_link = api.mail.last_token("victim@example.test");
  REQUIRE(!attackers_link.empty());
  api.customer("victim@example.test");  // the owner signs in by magic link
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/verify-email",
                         body({{"token", attackers_link}}))) == "invalid_token");
  CHECK(code_of(api.password_login("acme", "victim@example.test", "attacker knows this one")) ==
        "invalid_credentials");
}

namespace {

struct Timed {
  hc::Response response;
  std::chrono::milliseconds took;
};

// One request on a fresh connection, without waiting for the work done after the answer.
Timed timed(Api& api, const std::string& target, const std::string& payload) {
  hc::Connection c(api.port());
  const auto start = std::chrono::steady_clock::now();
  auto r = c.request(verb::post, target, payload);
  return {std::move(r), std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)};
}

}  // namespace

TEST_CASE("password reset answers alike for known and unknown addresses - before any e-mail") {
  Api api;
  api.customer("ann@globex.test");
  api.mail.delay = std::chrono::milliseconds(600);  // a slow mail server
  auto known = timed(api, "/api/v1/auth/password-reset",
                     body({{"project", "acme"}, {"email", "ann@globex.test"}}));
  auto unknown = timed(api, "/api/v1/auth/password-reset",
                       body({{"project", "acme"}, {"email", "nobody@globex.test"}}));
  CHECK(known.response.result_int() == 202);
  CHECK(unknown.response.result_int() == 202);
  CHECK(known.response.body() == unknown.response.body());
  // Neither waited for the mail server: the token's append and the e-mail come after.
  CHECK(known.took < std::chrono::milliseconds(300));
  CHECK(unknown.took < std::chrono::milliseconds(300));
  api.app->flush();
  api.mail.delay = std::chrono::milliseconds(0);
  CHECK(api.mail.last_token("ann@globex.test").size() == 43);
  CHECK(api.mail.to("nobody@globex.test").empty());
  // A mail server that refuses is no tell either (it used to be a 503 for accounts only).
  api.mail.failing = true;
  auto refused = api.call(verb::post, "/api/v1/auth/password-reset",
                          body({{"project", "acme"}, {"email", "ann@globex.test"}}));
  CHECK(refused.result_int() == 202);
  CHECK(refused.body() == unknown.response.body());
}

TEST_CASE("register answers alike for a new and a taken address - before any e-mail") {
  Api api;
  api.customer("ann@globex.test");
  api.mail.delay = std::chrono::milliseconds(600);
  auto reg = [&](const std::string& email) {
    return timed(api, "/api/v1/auth/register",
                 body({{"project", "acme"},
                       {"email", email},
                       {"password", "a long enough passphrase"},
                       {"display_name", "Someone"}}));
  };
  auto taken = reg("ann@globex.test");
  auto fresh = reg("new@globex.test");
  CHECK(taken.response.result_int() == 201);
  CHECK(fresh.response.result_int() == 201);
  CHECK(taken.response.body() == fresh.response.body());
  CHECK(taken.took < std::chrono::milliseconds(300));
  CHECK(fresh.took < std::chrono::milliseconds(300));
  api.app->flush();
  api.mail.delay = std::chrono::milliseconds(0);
  CHECK(api.mail.last_token("new@globex.test").size() == 43);
  api.mail.failing = true;
  CHECK(reg("ann@globex.test").response.result_int() == 201);
  CHECK(reg("other@globex.test").response.result_int() == 201);
  api.app->flush();
}

TEST_CASE("a password reset voids the reset and magic links sent before it") {
  Api api;
  api.customer("ann@globex.test");
  const std::string reset = body({{"project", "acme"}, {"email", "ann@globex.test"}});
  REQUIRE(api.call(verb::post, "/api/v1/auth/password-reset", reset).result_int() == 202);
  const std::string older_reset = api.mail.last_token("ann@globex.test");
  REQUIRE(api.call(verb::post, "/api/v1/auth/magic-link", reset).result_int() == 202);
  const std::string older_magic = api.mail.last_token("ann@globex.test");
  REQUIRE(api.call(verb::post, "/api/v1/auth/password-reset", reset).result_int() == 202);
  const std::string used = api.mail.last_token("ann@globex.test");
  REQUIRE(older_reset != used);
  REQUIRE(api.call(verb::post, "/api/v1/auth/password-reset/confirm",
                   body({{"token", used}, {"password", "anns new passphrase"}}))
              .result_int() == 204);
  auto stale = api.call(verb::post, "/api/v1/auth/password-reset/confirm",
                        body({{"token", older_reset}, {"password", "someone elses passphrase"}}));
  CHECK(stale.result_int() == 401);
  CHECK(code_of(stale) == "invalid_token");
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/magic-link/verify",
                         body({{"token", older_magic}}))) == "invalid_token");
  // Links asked for after the reset work.
  REQUIRE(api.call(verb::post, "/api/v1/auth/magic-link", reset).result_int() == 202);
  CHECK(api.call(verb::post, "/api/v1/auth/magic-link/verify",
                 body({{"token", api.mail.last_token("ann@globex.test")}}))
            .result_int() == 200);
  CHECK(api.password_login("acme", "ann@globex.test", "anns new passphrase").result_int() == 200);
}

TEST_CASE("display names are one line of text - and a registrant's name is not mailed") {
  Api api;
  for (const std::string& name :
       {std::string("Eve\nYour account is locked"), std::string("Eve\r\nBcc: x"),
        std::string("Eve \xe2\x80\xae"), std::string("Eve\xc2\x85"), std::string("\x1b[31m")}) {
    CAPTURE(name);
    auto r = api.call(verb::post, "/api/v1/auth/register",
                      body({{"project", "acme"},
                            {"email", "mallory@example.test"},
                            {"password", "a long enough passphrase"},
                            {"display_name", name}}));
    CHECK(r.result_int() == 400);
    CHECK(hc::json(r).at("error").at("field") == "display_name");
  }
  CHECK(api.mail.to("mallory@example.test").empty());
  // The address is not proven yet: the registrant's words stay out of the mail sent to it.
  REQUIRE(api.call(verb::post, "/api/v1/auth/register",
                   body({{"project", "acme"},
                         {"email", "eve@example.test"},
                         {"password", "a long enough passphrase"},
                         {"display_name", "Call 555 0100 now"}}))
              .result_int() == 201);
  auto mails = api.mail.to("eve@example.test");
  REQUIRE(mails.size() == 1);
  CHECK(mails[0].text.find("555") == std::string::npos);
  CHECK(mails[0].text.starts_with("Hello there,"));
}

TEST_CASE("a sign-in link can be described without using it - its landing page asks first") {
  Api api;
  REQUIRE(api.call(verb::post, "/api/v1/auth/magic-link",
                   body({{"project", "acme"}, {"email", "mallory@example.test"}}))
              .result_int() == 202);
  const std::string magic = api.mail.last_token("mallory@example.test");
  auto described = api.call(verb::post, "/api/v1/auth/link", body({{"token", magic}}));
  REQUIRE(described.result_int() == 200);
  CHECK(hc::json(described).at("purpose") == "magic_link");
  CHECK(hc::json(described).at("email") == "mallory@example.test");
  CHECK(hc::json(described).at("project") == "acme");
  CHECK(described[boost::beast::http::field::set_cookie].empty());  // nobody was signed in
  REQUIRE(api.call(verb::post, "/api/v1/auth/register",
                   body({{"project", "acme"},
                         {"email", "vera@example.test"},
                         {"password", "a long enough passphrase"},
                         {"display_name", "Vera"}}))
              .result_int() == 201);
  const std::string verify = api.mail.last_token("vera@example.test");
  CHECK(hc::json(api.call(verb::post, "/api/v1/auth/link", body({{"token", verify}})))
            .at("purpose") == "verify_email");
  // Described links still work once (the page's button); then they describe nothing.
  CHECK(api.call(verb::post, "/api/v1/auth/magic-link/verify", body({{"token", magic}}))
            .result_int() == 200);
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/link", body({{"token", magic}}))) ==
        "invalid_token");
  CHECK(code_of(api.call(verb::post, "/api/v1/auth/link", body({{"token", "made-up"}}))) ==
        "invalid_token");
  // The landing pages are the portal's, which does the asking (tests/e2e).
  auto page = api.call(verb::get, "/p/acme/auth/magic?token=" + magic);
  CHECK(page.result_int() == 200);
}

namespace {

hc::Response keyed(Api& api, const std::string& target, const std::string& key,
                   const std::string& payload, Headers headers = {}) {
  headers.emplace_back("Idempotency-Key", key);
  return api.call(verb::post, target, payload, headers);
}

}  // namespace

TEST_CASE("an Idempotency-Key answer is replayed to its caller only while they are signed in") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  const std::string open = body({{"subject", "Charged twice"}, {"message", "See my bank"}});
  auto first = keyed(api, "/api/v1/projects/acme/tickets", "k1", open, ann.bearer());
  REQUIRE(first.result_int() == 201);
  // The same caller by cookie (with the CSRF header) is the same caller.
  auto again = keyed(api, "/api/v1/projects/acme/tickets", "k1", open, ann.cookie());
  CHECK(again["Idempotent-Replayed"] == "true");
  CHECK(again.body() == first.body());
  // Another body with the key: 409 conflict (API.md), nothing done.
  auto other = keyed(api, "/api/v1/projects/acme/tickets", "k1",
                     body({{"subject", "Other"}, {"message", "Other"}}), ann.bearer());
  CHECK(other.result_int() == 409);
  CHECK(code_of(other) == "conflict");
  // Signed out: the stored answer is not handed to whoever still holds the old token.
  REQUIRE(api.call(verb::post, "/api/v1/auth/logout", {}, ann.bearer()).result_int() == 204);
  auto after = keyed(api, "/api/v1/projects/acme/tickets", "k1", open, ann.bearer());
  CHECK(after.result_int() == 401);
  CHECK(after["Idempotent-Replayed"].empty());
}

TEST_CASE("sign-in answers are not kept by the Idempotency-Key cache") {
  Api api;
  const std::string login = body({{"email", "agnes@acme.test"}, {"password", Api::kStaffPassword}});
  auto first = keyed(api, "/api/v1/staff/auth/login", "sign-in-1", login);
  auto second = keyed(api, "/api/v1/staff/auth/login", "sign-in-1", login);
  REQUIRE(first.result_int() == 200);
  REQUIRE(second.result_int() == 200);
  CHECK(second["Idempotent-Replayed"].empty());
  CHECK(hc::json(first).at("token") != hc::json(second).at("token"));
}

TEST_CASE("strangers cannot evict a caller's Idempotency-Keys - and large answers are not kept") {
  Api api([](phttp::AppOptions& o) {
    o.idempotency.per_owner = 4;
    o.idempotency.max_entries = 20;
  });
  auto ann = api.customer("ann@globex.test");
  const std::string open = body({{"subject", "Mine"}, {"message", "Keep my key"}});
  REQUIRE(keyed(api, "/api/v1/projects/acme/tickets", "ann-1", open, ann.bearer()).result_int() ==
          201);
  // Someone without a session stores many answers under many keys: only their own are evicted.
  for (int i = 0; i < 40; ++i) {
    const std::string who = "x" + std::to_string(i) + "@nowhere.test";
    CHECK(keyed(api, "/api/v1/auth/password-reset", "spam-" + std::to_string(i),
                body({{"project", "acme"}, {"email", who}}))
              .result_int() == 202);
  }
  CHECK(keyed(api, "/api/v1/projects/acme/tickets", "ann-1", open,
              ann.bearer())["Idempotent-Replayed"] == "true");
  // Their latest keys are still theirs; their oldest are gone.
  CHECK(keyed(api, "/api/v1/auth/password-reset", "spam-39",
              body({{"project", "acme"}, {"email", "x39@nowhere.test"}}))["Idempotent-Replayed"] ==
        "true");
  CHECK(keyed(api, "/api/v1/auth/password-reset", "spam-0",
              body({{"project", "acme"}, {"email", "x0@nowhere.test"}}))["Idempotent-Replayed"]
            .empty());

  Api small([](phttp::AppOptions& o) { o.idempotency.max_answer_bytes = 300; });
  auto bob = small.customer("bob@globex.test");
  auto big = keyed(small, "/api/v1/projects/acme/tickets", "big", open, bob.bearer());
  REQUIRE(big.result_int() == 201);
  auto retried = keyed(small, "/api/v1/projects/acme/tickets", "big", open, bob.bearer());
  CHECK(retried["Idempotent-Replayed"].empty());
  // Not kept in memory, still acted once: ticket commands are idempotent on the log.
  CHECK(hc::json(retried).at("number") == hc::json(big).at("number"));
}

namespace {

// A route whose handler throws on its first call.
struct ThrowsOnce {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  phttp::Response operator()(const phttp::Call& c) const {
    if (calls->fetch_add(1) == 0) throw std::runtime_error("a bug");
    return phttp::json_response(c.request, 201, boost::json::object{{"ok", true}});
  }
};

}  // namespace

TEST_CASE("a handler that throws does not hold its Idempotency-Key") {
  Api api([](phttp::AppOptions& o) { o.idempotency.wait = std::chrono::seconds(20); });
  api.app->router().add(verb::post, "/api/v1/test/throws", ThrowsOnce{});
  CHECK(keyed(api, "/api/v1/test/throws", "k", "{}").result_int() == 500);
  const auto start = std::chrono::steady_clock::now();
  auto retry = keyed(api, "/api/v1/test/throws", "k", "{}");
  CHECK(retry.result_int() == 201);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE(
    "sign-in e-mails sent while their request waits are capped - the rest answer 503 at once") {
  // A mail server that takes each e-mail and holds it until the test lets go.
  struct Held final : portico::mail::Transport {
    std::mutex mu;
    std::condition_variable cv;
    int entered = 0;
    bool released = false;
    portico::Result<void> send(const portico::mail::Message&) override {
      std::unique_lock lock(mu);
      ++entered;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
      return {};
    }
  } held;
  Api api([&](phttp::AppOptions& o) {
    o.mail = &held;
    o.limits.concurrent_mails = 2;
  });
  auto ask = [&](const std::string& email) {
    return api.call(verb::post, "/api/v1/auth/magic-link",
                    body({{"project", "acme"}, {"email", email}}));
  };
  std::vector<std::thread> waiting;
  std::vector<unsigned> statuses(2);
  for (int i = 0; i < 2; ++i) {
    waiting.emplace_back(
        [&, i] { statuses[i] = ask("held" + std::to_string(i) + "@example.test").result_int(); });
  }
  {
    std::unique_lock lock(held.mu);
    REQUIRE(held.cv.wait_for(lock, std::chrono::seconds(30), [&] { return held.entered == 2; }));
  }
  auto third = ask("third@example.test");
  CHECK(third.result_int() == 503);
  CHECK(code_of(third) == "unavailable");
  {
    std::lock_guard lock(held.mu);
    held.released = true;
  }
  held.cv.notify_all();
  for (auto& t : waiting) t.join();
  CHECK(statuses == std::vector<unsigned>{202, 202});
  // With the mail server free again, the next one goes out.
  CHECK(ask("fourth@example.test").result_int() == 202);
  CHECK(held.entered == 3);
}

TEST_CASE("a customer chooses their language with PATCH /api/v1/me - and only that") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto me = [&] {
    return boost::json::parse(api.call(verb::get, "/api/v1/me", "", ann.bearer()).body());
  };
  CHECK(me().at("language").is_null());
  auto chosen = api.call(verb::patch, "/api/v1/me", R"({"language":"de"})", ann.bearer());
  REQUIRE(chosen.result_int() == 200);
  CHECK(boost::json::parse(chosen.body()).at("language") == "de");
  CHECK(me().at("language") == "de");
  // Refused, and nothing changes.
  for (const char* bad :
       {R"({"language":"German"})", R"({"language":"de-de"})", R"({"language":7})", R"({})",
        R"({"language":"fr","display_name":"X"})"}) {
    CAPTURE(bad);
    auto r = api.call(verb::patch, "/api/v1/me", bad, ann.bearer());
    CHECK(r.result_int() == 400);
    CHECK(code_of(r) == "invalid_request");
  }
  CHECK(me().at("language") == "de");
  // A cookie session needs its CSRF token for it.
  CHECK(api.call(verb::patch, "/api/v1/me", R"({"language":"fr"})",
                 ann.cookie("portico_session", false))
            .result_int() == 403);
  CHECK(api.call(verb::patch, "/api/v1/me", R"({"language":"pt-BR"})", ann.cookie()).result_int() ==
        200);
  // Back to automatic.
  CHECK(api.call(verb::patch, "/api/v1/me", R"({"language":null})", ann.bearer()).result_int() ==
        200);
  CHECK(me().at("language").is_null());
  CHECK(api.call(verb::patch, "/api/v1/me", R"({"language":"de"})").result_int() == 401);
}
