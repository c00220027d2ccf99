// Two-factor sign-in against a real portico-server (--demo), as a person uses it: enrol from an
// authenticator app (the codes are computed here with liboath from the secret the server gave),
// confirm, sign in with a code, a replayed code, recovery codes, disable; the same for staff;
// wrong codes limited like wrong passwords; the secret never stored in the clear.
#include <doctest/doctest.h>
#include <liboath/oath.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "../../support/demo_passwords.hpp"
#include "../../support/server_process.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;
using boost::beast::http::verb;

namespace {

// The code an authenticator app shows at `t` for the base32 `secret`.
std::string code_at(const std::string& secret, std::time_t t) {
  REQUIRE(oath_init() == OATH_OK);
  char* raw = nullptr;
  size_t len = 0;
  REQUIRE(oath_base32_decode(secret.data(), secret.size(), &raw, &len) == OATH_OK);
  char otp[7] = {};
  const int rc = oath_totp_generate(raw, len, t, 30, 0, 6, otp);
  std::free(raw);
  REQUIRE(rc == OATH_OK);
  return otp;
}
std::string code_now(const std::string& secret) { return code_at(secret, std::time(nullptr)); }
// The next step's code: within the server's window of one step, and newer than any used yet.
std::string code_next(const std::string& secret) {
  return code_at(secret, std::time(nullptr) + 30);
}
// A code that is not the right one now (nor a neighbour's, but for a one-in-a-million chance).
std::string wrong_code(const std::string& secret) {
  std::string c = code_now(secret);
  c[0] = c[0] == '9' ? '0' : static_cast<char>(c[0] + 1);
  return c;
}

// All of `s` in base32's alphabet (A-Z, 2-7), and `n` long.
bool base32_of(const std::string& s, std::size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
         });
}
// XXXX-XXXX-XXXX-XXXX in base32's alphabet.
bool recovery_shape(const std::string& s) {
  if (s.size() != 19) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i % 5 == 4 ? s[i] != '-' : !base32_of(std::string(1, s[i]), 1)) return false;
  }
  return true;
}

struct Answer {
  unsigned status;
  boost::json::value body;
};
Answer post(unsigned short port, const std::string& target, const std::string& body,
            const std::string& token = {}) {
  hc::Connection c(port);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  auto r = c.request(verb::post, target, body, headers);
  boost::json::value v;
  if (!r.body().empty()) v = hc::json(r);
  return {r.result_int(), v};
}
// The error's code or field ({"error": {code, message, field?}}), or "".
std::string error_part(const Answer& a, std::string_view part) {
  if (!a.body.is_object() || !a.body.as_object().contains("error")) return "";
  const auto& e = a.body.at("error").as_object();
  return e.contains(part) ? std::string(e.at(part).as_string()) : "";
}
std::string code_of(const Answer& a) { return error_part(a, "code"); }
std::string field_of(const Answer& a) { return error_part(a, "field"); }

// The token of a sign-in that must succeed.
std::string session_token(unsigned short port, const std::string& route, const std::string& body) {
  auto a = post(port, route, body);
  REQUIRE_MESSAGE(a.status == 200, boost::json::serialize(a.body));
  return std::string(a.body.at("token").as_string());
}

std::string login_body(const std::string& password, const std::string& totp = {}) {
  std::string b = R"({"project":"demo","email":"ann@example.com","password":")" + password + "\"";
  if (!totp.empty()) b += R"(,"totp":")" + totp + "\"";
  return b + "}";
}
std::string staff_body(const std::string& password, const std::string& totp = {}) {
  std::string b = R"({"email":"agent@demo.test","password":")" + password + "\"";
  if (!totp.empty()) b += R"(,"totp":")" + totp + "\"";
  return b + "}";
}

std::vector<std::string> demo_args(const std::filesystem::path& data,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {PORTICO_SERVER, "--data", data.string(),    "--listen",
                                "127.0.0.1:0",  "--demo", "--sign-in-rate", "1000"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

struct Demo {
  TempDir dir;
  ChildProcess process;
  unsigned short port;
  DemoPasswords passwords;
  explicit Demo(std::vector<std::string> extra = {})
      : process(demo_args(dir / "data", std::move(extra))),
        port(listening_port(process)),
        passwords(demo_passwords(process)) {}
  ~Demo() {
    process.kill(SIGTERM);
    process.wait();
  }
};

// Enrols the holder of `token` under `base` ("/api/v1/me" or "/api/v1/staff/me"): the secret and
// the recovery codes.
std::pair<std::string, std::vector<std::string>> enrol(unsigned short port, const std::string& base,
                                                       const std::string& token) {
  auto started = post(port, base + "/totp", "", token);
  REQUIRE_MESSAGE(started.status == 200, boost::json::serialize(started.body));
  const std::string secret(started.body.at("secret").as_string());
  CHECK(base32_of(secret, 32));
  const std::string url(started.body.at("otpauth_url").as_string());
  CHECK(url.starts_with("otpauth://totp/"));
  CHECK(url.find("secret=" + secret) != std::string::npos);
  CHECK(url.find("&algorithm=SHA1&digits=6&period=30") != std::string::npos);
  // The app shows the project (for a customer) or Portico (for staff), and the address.
  if (base == "/api/v1/me") {
    CHECK(url.starts_with("otpauth://totp/Demo%20Support:ann%40example.com?"));
    CHECK(url.find("&issuer=Demo%20Support&") != std::string::npos);
  } else {
    CHECK(url.starts_with("otpauth://totp/Portico:agent%40demo.test?"));
  }

  auto wrong =
      post(port, base + "/totp/confirm", R"({"code":")" + wrong_code(secret) + "\"}", token);
  CHECK(wrong.status == 400);
  CHECK(field_of(wrong) == "code");
  auto confirmed =
      post(port, base + "/totp/confirm", R"({"code":")" + code_now(secret) + "\"}", token);
  REQUIRE_MESSAGE(confirmed.status == 200, boost::json::serialize(confirmed.body));
  std::vector<std::string> codes;
  for (const auto& c : confirmed.body.at("recovery_codes").as_array()) {
    codes.emplace_back(c.as_string());
    CHECK(recovery_shape(codes.back()));
  }
  CHECK(codes.size() == 10);
  CHECK(std::set<std::string>(codes.begin(), codes.end()).size() == 10);
  return {secret, codes};
}

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a customer turns on two-factor sign-in and signs in with codes and recovery codes") {
  Demo demo;
  const unsigned short port = demo.port;
  const std::string& password = demo.passwords.customer;
  const std::string token = session_token(port, "/api/v1/auth/login", login_body(password));
  hc::Connection c(port);
  auto me = c.request(verb::get, "/api/v1/me", {}, {{"Authorization", "Bearer " + token}});
  CHECK(hc::json(me).at("totp_enabled").as_bool() == false);

  const auto [secret, recovery] = enrol(port, "/api/v1/me", token);
  me = c.request(verb::get, "/api/v1/me", {}, {{"Authorization", "Bearer " + token}});
  CHECK(hc::json(me).at("totp_enabled").as_bool() == true);
  // Sealed with the server's key: a copy of the log does not hold the secret.
  const std::string log = file_text(demo.dir / "data" / "data.mdb");
  CHECK(log.find(secret) == std::string::npos);
  for (const auto& code : recovery) {  // only keyed hashes of the recovery codes
    std::string plain;
    for (char ch : code) {
      if (ch != '-') plain.push_back(ch);
    }
    CHECK(log.find(code) == std::string::npos);
    CHECK(log.find(plain) == std::string::npos);
  }

  auto without = post(port, "/api/v1/auth/login", login_body(password));
  CHECK(without.status == 401);
  CHECK(code_of(without) == "totp_required");
  CHECK_FALSE(without.body.as_object().contains("token"));
  auto wrong = post(port, "/api/v1/auth/login", login_body(password, wrong_code(secret)));
  CHECK(wrong.status == 401);
  CHECK(code_of(wrong) == "invalid_credentials");
  auto bad_password = post(port, "/api/v1/auth/login", login_body("not it", code_next(secret)));
  CHECK(bad_password.status == 401);

  const std::string next = code_next(secret);
  auto with = post(port, "/api/v1/auth/login", login_body(password, next));
  CHECK_MESSAGE(with.status == 200, boost::json::serialize(with.body));
  auto replay = post(port, "/api/v1/auth/login", login_body(password, next));
  CHECK(replay.status == 401);
  CHECK(code_of(replay) == "invalid_credentials");

  CHECK(post(port, "/api/v1/auth/login", login_body(password, recovery[0])).status == 200);
  CHECK(post(port, "/api/v1/auth/login", login_body(password, recovery[0])).status == 401);
  // As typed by a person: lower case, without the dashes.
  std::string typed;
  for (char ch : recovery[1]) {
    if (ch != '-') typed.push_back(static_cast<char>(std::tolower(ch)));
  }
  CHECK(post(port, "/api/v1/auth/login", login_body(password, typed)).status == 200);

  auto used = post(port, "/api/v1/me/totp/disable", R"({"code":")" + recovery[0] + "\"}", token);
  CHECK(used.status == 400);
  CHECK(field_of(used) == "code");
  auto again = post(port, "/api/v1/me/totp", "", token);  // on: disable first
  CHECK(again.status == 409);
  CHECK(post(port, "/api/v1/me/totp/disable", R"({"code":")" + recovery[2] + "\"}", token).status ==
        204);
  me = c.request(verb::get, "/api/v1/me", {}, {{"Authorization", "Bearer " + token}});
  CHECK(hc::json(me).at("totp_enabled").as_bool() == false);
  CHECK(post(port, "/api/v1/auth/login", login_body(password)).status == 200);
  auto off = post(port, "/api/v1/me/totp/disable", R"({"code":")" + recovery[3] + "\"}", token);
  CHECK(off.status == 409);
}

TEST_CASE("staff turn on two-factor sign-in the same way") {
  Demo demo;
  const unsigned short port = demo.port;
  const std::string& password = demo.passwords.staff;
  const std::string token = session_token(port, "/api/v1/staff/auth/login", staff_body(password));
  // A customer's session is not a staff member's, nor the other way round.
  CHECK(post(port, "/api/v1/me/totp", "", token).status == 401);
  const auto [secret, recovery] = enrol(port, "/api/v1/staff/me", token);
  auto without = post(port, "/api/v1/staff/auth/login", staff_body(password));
  CHECK(without.status == 401);
  CHECK(code_of(without) == "totp_required");
  const std::string next = code_next(secret);
  CHECK(post(port, "/api/v1/staff/auth/login", staff_body(password, next)).status == 200);
  CHECK(post(port, "/api/v1/staff/auth/login", staff_body(password, next)).status == 401);
  CHECK(post(port, "/api/v1/staff/auth/login", staff_body(password, recovery[9])).status == 200);
  CHECK(post(port, "/api/v1/staff/me/totp/disable", R"({"code":")" + recovery[9] + "\"}", token)
            .status == 400);
  CHECK(post(port, "/api/v1/staff/me/totp/disable", R"({"code":")" + recovery[8] + "\"}", token)
            .status == 204);
  CHECK(post(port, "/api/v1/staff/auth/login", staff_body(password)).status == 200);
}

TEST_CASE("wrong two-factor codes count against the same budget as wrong passwords") {
  Demo demo;
  const unsigned short port = demo.port;
  const std::string& password = demo.passwords.customer;
  const std::string token = session_token(port, "/api/v1/auth/login", login_body(password));
  const auto [secret, recovery] = enrol(port, "/api/v1/me", token);
  unsigned refused = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto a = post(port, "/api/v1/auth/login", login_body(password, wrong_code(secret)));
    if (a.status == 401) ++refused;
    if (a.status == 429) ++limited;
  }
  // The (account, address) budget holds 10 wrong ones: the wrong code at confirmation was one.
  CHECK(refused == 9);
  CHECK(limited == 3);
  // The right code is refused too while the budget is spent: guessing cannot go on around it.
  CHECK(post(port, "/api/v1/auth/login", login_body(password, code_next(secret))).status == 429);
  // And a signed-in session cannot guess at disable instead: the same budget.
  auto disable =
      post(port, "/api/v1/me/totp/disable", R"({"code":")" + wrong_code(secret) + "\"}", token);
  CHECK(disable.status == 429);
}

TEST_CASE("the key that seals two-factor secrets can live outside the data directory") {
  TempDir keys;
  const std::string key = (keys / "portico.key").string();
  // An explicit key file must exist: a key made anew would lock everyone out.
  {
    TempDir fresh;
    auto refused = run({PORTICO_SERVER, "--data", (fresh / "data").string(), "--listen",
                        "127.0.0.1:0", "--key-file", key},
                       std::nullopt, true);
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.find("openssl rand") != std::string::npos);
  }
  auto write_key = [](const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  };
  write_key(key, "a key of the operator's own, 32 characters or more\n");
  write_key((keys / "other.key").string(), "another key entirely, also long enough for it\n");
  std::string secret, password;
  std::filesystem::path data;
  TempDir dir;
  data = dir / "data";
  {
    ChildProcess server(demo_args(data, {"--key-file", key}));
    const auto port = listening_port(server);
    password = demo_passwords(server).customer;
    secret =
        enrol(port, "/api/v1/me", session_token(port, "/api/v1/auth/login", login_body(password)))
            .first;
    server.kill(SIGTERM);
    server.wait();
  }
  CHECK(std::filesystem::exists(key));
  CHECK_FALSE(std::filesystem::exists(data / "secret.key"));
  {
    // The data directory with another key: the sealed secret does not open, no code works.
    ChildProcess server(demo_args(data, {"--key-file", (keys / "other.key").string()}));
    const auto port = listening_port(server);
    auto refused = post(port, "/api/v1/auth/login", login_body(password, code_next(secret)));
    CHECK(refused.status == 401);
    CHECK(code_of(refused) == "invalid_credentials");
    server.kill(SIGTERM);
    server.wait();
  }
  {
    ChildProcess server(demo_args(data, {"--key-file", key}));  // its own key again
    const auto port = listening_port(server);
    CHECK(post(port, "/api/v1/auth/login", login_body(password, code_next(secret))).status == 200);
    server.kill(SIGTERM);
    server.wait();
  }
}

TEST_CASE(
    "a project that requires two-factor sign-in for staff lets a member without it only enrol") {
  Demo demo;
  const unsigned short port = demo.port;
  auto required =
      admin(demo.dir / "data", {"project", "update", "demo", "--staff-totp", "required"});
  REQUIRE_MESSAGE(required.exit_code == 0, required.out);
  const std::string token =
      session_token(port, "/api/v1/staff/auth/login", staff_body(demo.passwords.staff));
  hc::Connection c(port);
  auto queue = c.request(verb::get, "/api/v1/staff/projects/demo/tickets", {},
                         {{"Authorization", "Bearer " + token}});
  CHECK(queue.result_int() == 403);
  const auto error = hc::json(queue).at("error");
  CHECK(error.at("code").as_string() == "forbidden");
  CHECK(std::string(error.at("message").as_string()).find("two-factor") != std::string::npos);
  auto reply =
      post(port, "/api/v1/staff/projects/demo/tickets/1/messages", R"({"body":"hi"})", token);
  CHECK(reply.status == 403);

  enrol(port, "/api/v1/staff/me", token);
  queue = c.request(verb::get, "/api/v1/staff/projects/demo/tickets", {},
                    {{"Authorization", "Bearer " + token}});
  CHECK(queue.result_int() == 200);
  // Optional again: nothing is asked of anyone.
  REQUIRE(admin(demo.dir / "data", {"project", "update", "demo", "--staff-totp", "optional"})
              .exit_code == 0);
}

TEST_CASE("the operator turns off the two-factor sign-in of a staff member who lost the phone") {
  Demo demo;
  const unsigned short port = demo.port;
  const std::string token =
      session_token(port, "/api/v1/staff/auth/login", staff_body(demo.passwords.staff));
  enrol(port, "/api/v1/staff/me", token);
  CHECK(code_of(post(port, "/api/v1/staff/auth/login", staff_body(demo.passwords.staff))) ==
        "totp_required");
  auto reset = admin(demo.dir / "data", {"staff", "totp-reset", "--email", "agent@demo.test"});
  CHECK_MESSAGE(reset.exit_code == 0, reset.out);
  CHECK(reset.out ==
        "two-factor sign-in of agent@demo.test is off and their sessions have ended\n");
  hc::Connection c(port);
  CHECK(c.request(verb::get, "/api/v1/staff/me", {}, {{"Authorization", "Bearer " + token}})
            .result_int() == 401);  // the session ended with it
  CHECK(post(port, "/api/v1/staff/auth/login", staff_body(demo.passwords.staff)).status == 200);
  auto again = admin(demo.dir / "data", {"staff", "totp-reset", "--email", "agent@demo.test"});
  CHECK(again.exit_code == 1);  // nothing to turn off
  CHECK(
      admin(demo.dir / "data", {"staff", "totp-reset", "--email", "nobody@demo.test"}).exit_code ==
      1);
}
