// The whole API served on 127.0.0.1 over a fresh log: projects "acme" and "other", customers
// Ann, Bob (globex.test) and Cat (initech.test), staff accounts for each project, e-mails caught
// in memory, and helpers to sign in and call routes as someone.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <mutex>
#include <portico/http/app.hpp>
#include <portico/http/server.hpp>
#include <portico/mail/mail.hpp>
#include <thread>

#include "../../projections/views_fixtures.hpp"
#include "../../support/http_client.hpp"

namespace portico::test {

namespace hc = portico::test::http_client;
namespace phttp = portico::http;
using boost::beast::http::verb;

// Keeps every e-mail sent.
class CapturedMail final : public mail::Transport {
 public:
  Result<void> send(const mail::Message& m) override {
    if (auto wait = delay.load(); wait.count() > 0) std::this_thread::sleep_for(wait);
    std::lock_guard lock(mu_);
    if (failing) return fail("unavailable", "the mail server is down");
    sent_.push_back(m);
    return {};
  }
  std::vector<mail::Message> to(const std::string& address) const {
    std::lock_guard lock(mu_);
    std::vector<mail::Message> out;
    for (const auto& m : sent_) {
      if (m.to == address) out.push_back(m);
    }
    return out;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return sent_.size();
  }
  // The token= of the newest e-mail to `address` ("" when there is none).
  std::string last_token(const std::string& address) const {
    auto mails = to(address);
    if (mails.empty()) return {};
    // By hand: GCC 12's <regex> trips -Werror=maybe-uninitialized in the ASan build.
    const std::string& text = mails.back().text;
    auto token_char = [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    };
    for (auto at = text.find("token="); at != std::string::npos; at = text.find("token=", at)) {
      at += 6;
      auto end = at;
      while (end < text.size() && token_char(text[end])) ++end;
      if (end > at) return text.substr(at, end - at);
    }
    return {};
  }
  std::atomic<bool> failing{false};
  std::atomic<std::chrono::milliseconds> delay{std::chrono::milliseconds(0)};  // a slow server

 private:
  mutable std::mutex mu_;
  std::vector<mail::Message> sent_;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Api {
  // Someone signed in: the session's secrets and who it is.
  struct Session {
    std::string token;
    std::string csrf;
    std::string id;
    Headers bearer() const { return {{"Authorization", "Bearer " + token}}; }
    // A browser's way: the cookie, and the CSRF header for changes.
    Headers cookie(std::string_view name = "portico_session", bool with_csrf = true) const {
      Headers h{{"Cookie", std::string(name) + "=" + token}};
      if (with_csrf) h.emplace_back("X-CSRF-Token", csrf);
      return h;
    }
  };

  ViewsDesk desk;
  CapturedMail mail;
  std::atomic<dom::TimeUs> accounts_offset{0};  // moves the sessions' clock forward
  std::unique_ptr<phttp::App> app;
  std::unique_ptr<phttp::Server> server;
  std::string agnes_id, otto_id;  // staff accounts of acme and other
  static constexpr const char* kStaffPassword = "staff passphrase one";

  explicit Api(std::function<void(phttp::AppOptions&)> tweak = {},
               std::function<void(phttp::ServerOptions&)> server_tweak = {}) {
    desk.real_time = true;
    phttp::AppOptions o;
    o.base_url = "http://portal.test";
    o.mail = &mail;
    o.accounts.argon2_passes = 1;  // the cheapest Argon2id: tests hash many passwords
    o.accounts.argon2_memory = 8 * 1024;
    o.accounts.clock = [this] {
      using namespace std::chrono;
      return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() +
             accounts_offset.load();
    };
    auto list = service::load_password_list(service::kDefaultPasswordList);
    REQUIRE(list);
    o.accounts.password_rules.is_common = *list;
    o.limits.per_address = {1e9, 1e9};  // tests come from one address; 429 tests set their own
    o.writes = {1e9, 1e9};
    if (tweak) tweak(o);
    app = std::make_unique<phttp::App>(*desk.log, *desk.portal, desk.views, o);
    agnes_id = staff("agnes@acme.test", "Agnes Agent", "acme");
    otto_id = staff("otto@other.test", "Otto Other", "other");
    phttp::ServerOptions so;
    so.port = 0;
    so.io_threads = 1;
    so.workers = 8;
    so.headers = phttp::security_headers();
    if (server_tweak) server_tweak(so);
    server = std::make_unique<phttp::Server>(
        [this](const phttp::Request& r, const phttp::Peer& p) { return app->handle(r, p); }, so);
    REQUIRE(server->start());
  }

  std::string staff(const std::string& email, const std::string& name, const std::string& slug) {
    auto account = app->accounts().set_staff_account(email, name, kStaffPassword);
    REQUIRE(account);
    REQUIRE(desk.portal->add_staff(slug, {account->id, email, name, "agent"}, Desk::system()));
    return account->id;
  }

  unsigned short port() const { return server->port(); }

  hc::Response call(verb method, const std::string& target, const std::string& body = {},
                    const Headers& headers = {}) {
    hc::Connection c(port());
    auto r = c.request(method, target, body, headers);
    // Some e-mails go out after the answer (registration, password reset): tests read them next.
    app->flush();
    return r;
  }
  hc::Response call(verb method, const std::string& target, const Session& as,
                    const std::string& body = {}) {
    return call(method, target, body, as.bearer());
  }

  Session session_of(const hc::Response& r, std::string_view who = "customer") {
    REQUIRE_MESSAGE(r.result_int() == 200, r.body());
    auto v = hc::json(r);
    return {std::string(v.at("token").as_string()), std::string(v.at("csrf").as_string()),
            std::string(v.at(who).at("id").as_string())};
  }

  // Signs in by magic link on `project`, as a browser following the e-mail would.
  Session customer(const std::string& email, const std::string& project = "acme") {
    auto asked = call(verb::post, "/api/v1/auth/magic-link",
                      R"({"project":")" + project + R"(","email":")" + email + R"("})");
    REQUIRE_MESSAGE(asked.result_int() == 202, asked.body());
    const std::string token = mail.last_token(email);
    REQUIRE(!token.empty());
    return session_of(
        call(verb::post, "/api/v1/auth/magic-link/verify", R"({"token":")" + token + R"("})"));
  }

  // POST /api/v1/auth/login as a customer with a password (the answer, whatever it is).
  hc::Response password_login(const std::string& project, const std::string& email,
                              const std::string& password) {
    boost::json::object b{{"project", project}, {"email", email}, {"password", password}};
    return call(verb::post, "/api/v1/auth/login", boost::json::serialize(b));
  }

  Session staff_login(const std::string& email) {
    return session_of(
        call(verb::post, "/api/v1/staff/auth/login",
             R"({"email":")" + email + R"(","password":")" + kStaffPassword + R"("})"),
        "staff");
  }

  // Opens a ticket on acme as `who`; its number.
  std::uint64_t open(const Session& who, const std::string& subject = "Help",
                     const std::string& project = "acme") {
    auto r = call(
        verb::post, "/api/v1/projects/" + project + "/tickets", who,
        boost::json::serialize(boost::json::object{{"subject", subject}, {"message", "It broke"}}));
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    return hc::json(r).at("number").to_number<std::uint64_t>();
  }

  std::uint64_t head() const { return desk.log->head().value(); }
};

inline std::string code_of(const hc::Response& r) {
  if (r.body().empty()) return std::to_string(r.result_int());
  auto v = boost::json::parse(r.body());
  if (!v.is_object() || !v.as_object().contains("error")) return std::to_string(r.result_int());
  return std::string(v.at("error").at("code").as_string());
}

}  // namespace portico::test
