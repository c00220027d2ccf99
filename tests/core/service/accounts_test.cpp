// Signing in over a real log: one-time tokens, passwords, sessions, staff; with a test clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <portico/domain/account.hpp>
#include <portico/service/accounts.hpp>
#include <portico/service/tokens.hpp>
#include <thread>

#include "service_fixtures.hpp"

using namespace portico::test;
namespace da = portico::domain::account;

namespace {

struct Accounts {
  Desk desk;
  std::unique_ptr<svc::Accounts> accounts;

  explicit Accounts(dom::project::Settings settings = Desk::default_settings())
      : desk(std::move(settings)) {
    accounts = std::make_unique<svc::Accounts>(*desk.log, *desk.portal, options());
  }

  svc::AccountsOptions options() {
    svc::AccountsOptions o;
    o.clock = [this] { return desk.now.load(); };
    o.argon2_passes = 1;  // the cheapest Argon2id: tests hash many passwords
    o.argon2_memory = 8 * 1024;
    auto list = svc::load_password_list(svc::kDefaultPasswordList);
    REQUIRE_MESSAGE(list, "john-data's password list");
    o.password_rules.is_common = *list;
    return o;
  }

  void advance(dom::TimeUs by) { desk.now += by; }
};

std::string code(const auto& result) { return result ? std::string("ok") : result.error().code; }

}  // namespace

TEST_CASE("a magic link signs in once - makes the identity and the membership - and expires") {
  Accounts a;
  auto mail = a.accounts->request_magic_link("acme", "  New.Person@Example.TEST ");
  REQUIRE(mail);
  CHECK(mail->email == "new.person@example.test");
  CHECK(mail->token.size() == 43);
  CHECK(mail->valid_for == 15 * 60 * dom::kSecond);  // what the e-mail will say
  auto session = a.accounts->use_magic_link(mail->token);
  REQUIRE(session);
  CHECK(session->project == "acme");
  auto c = a.desk.portal->customer(session->subject);
  REQUIRE(c);
  CHECK(c->email == "new.person@example.test");
  CHECK(c->handle == "new.person");
  CHECK(c->email_verified);
  CHECK(dom::customer::is_member(*c, "acme"));
  // Single use.
  CHECK(code(a.accounts->use_magic_link(mail->token)) == "invalid_token");
  // The same address signs in as the same identity, on another project too.
  auto second = a.accounts->request_magic_link("other", "new.person@example.test");
  REQUIRE(second);
  auto again = a.accounts->use_magic_link(second->token);
  REQUIRE(again);
  CHECK(again->subject == session->subject);
  CHECK(dom::customer::is_member(*a.desk.portal->customer(session->subject), "other"));
  // An existing customer (registered by the operator) is found by address, not duplicated.
  auto ann = a.accounts->request_magic_link("acme", "ANN@globex.test");
  REQUIRE(ann);
  CHECK(a.accounts->use_magic_link(ann->token)->subject == "c-ann");
  // Expiry: 15 minutes.
  auto late = a.accounts->request_magic_link("acme", "bob@globex.test");
  REQUIRE(late);
  a.advance(15 * 60 * dom::kSecond);
  CHECK(code(a.accounts->use_magic_link(late->token)) == "invalid_token");
  // Unknown, empty and oversize tokens.
  CHECK(code(a.accounts->use_magic_link("nope")) == "invalid_token");
  CHECK(code(a.accounts->use_magic_link("")) == "invalid_token");
  CHECK(code(a.accounts->use_magic_link(std::string(10000, 'a'))) == "invalid_token");
}

TEST_CASE("a magic link used by two threads at once signs in exactly once") {
  Accounts a;
  auto mail = a.accounts->request_magic_link("acme", "race@example.test");
  REQUIRE(mail);
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto s = a.accounts->use_magic_link(mail->token);
      (s ? ok : refused)++;
      if (!s) CHECK(s.error().code == "invalid_token");
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 1);
  CHECK(refused == 5);
}

TEST_CASE("magic links: the project must offer them and admit the address") {
  auto settings = Desk::default_settings();
  settings.sign_in = {"password"};
  Accounts a(settings);
  CHECK(code(a.accounts->request_magic_link("acme", "x@example.test")) == "forbidden");
  CHECK(code(a.accounts->request_magic_link("nope", "x@example.test")) == "not_found");
  CHECK(code(a.accounts->request_magic_link("../etc", "x@example.test")) == "not_found");

  Accounts b;
  auto allowed = Desk::default_settings();
  allowed.allowed_domains = {"corp.test"};
  REQUIRE(b.desk.portal->configure_project("acme", allowed, Desk::system()));
  CHECK(code(b.accounts->request_magic_link("acme", "x@example.test")) == "domain_not_allowed");
  for (const char* bad : {"", "no-at", "a@b", "two@@x.test", "a b@x.test", "<a@x.test>",
                          "a@x.test, b@y.test", "a@-x..test"}) {
    auto r = b.accounts->request_magic_link("acme", bad);
    CHECK_MESSAGE(code(r) == "invalid_request", bad);
    if (!r) CHECK(r.error().field == "email");
  }
  CHECK(b.accounts->request_magic_link("acme", "x@corp.test"));
}

TEST_CASE("register - verify the address - sign in with the password") {
  Accounts a;
  // Weak passwords: short, common (also with digits appended or another case), the address.
  for (const char* weak : {"short", "password123", "Password2024!", "aaaaaaaaaaaa", "qwertyuiop",
                           "dora.explorer-secret"}) {
    auto r = a.accounts->register_customer("acme", "dora.explorer@example.test", weak, "Dora");
    CHECK_MESSAGE(code(r) == "invalid_request", weak);
    if (!r) CHECK(r.error().field == "password");
  }
  CHECK(code(a.accounts->register_customer("acme", "dora@example.test", "correct horse battery",
                                           "")) == "invalid_request");
  auto mail =
      a.accounts->register_customer("acme", "dora@example.test", "correct horse battery", "Dora");
  REQUIRE(mail);
  REQUIRE(!mail->token.empty());
  // Not verified yet: the right password is told apart, a wrong one is not.
  CHECK(code(a.accounts->sign_in("acme", "dora@example.test", "correct horse battery")) ==
        "email_not_verified");
  CHECK(code(a.accounts->sign_in("acme", "dora@example.test", "wrong horse battery")) ==
        "invalid_credentials");
  auto verified = a.accounts->verify_email(mail->token);
  REQUIRE(verified);
  CHECK(code(a.accounts->verify_email(mail->token)) == "invalid_token");
  auto session = a.accounts->sign_in("acme", "Dora@Example.test", "correct horse battery");
  REQUIRE(session);
  CHECK(session->subject == verified->subject);
  CHECK(code(a.accounts->sign_in("acme", "dora@example.test", "correct horse batter")) ==
        "invalid_credentials");
  CHECK(code(a.accounts->sign_in("acme", "nobody@example.test", "correct horse battery")) ==
        "invalid_credentials");
  CHECK(code(a.accounts->sign_in("acme", "not an address", "correct horse battery")) ==
        "invalid_credentials");
  // Registering again with a verified password changes nothing and mails no link.
  auto again = a.accounts->register_customer("acme", "dora@example.test", "another long passphrase",
                                             "Mallory");
  REQUIRE(again);
  CHECK(again->token.empty());
  CHECK(a.accounts->sign_in("acme", "dora@example.test", "correct horse battery"));
  CHECK(code(a.accounts->sign_in("acme", "dora@example.test", "another long passphrase")) ==
        "invalid_credentials");
}

TEST_CASE("a second registration of an address changes nothing - the first link still works") {
  Accounts a;
  auto first =
      a.accounts->register_customer("acme", "eve@example.test", "first long secret", "Eve");
  REQUIRE(first);
  a.advance(dom::kSecond);
  auto second =
      a.accounts->register_customer("acme", "eve@example.test", "second long secret", "Mallory");
  REQUIRE(second);
  CHECK(second->token.empty());  // the owner is told, nobody gets a link for the new password
  REQUIRE(a.accounts->verify_email(first->token));
  CHECK(a.accounts->sign_in("acme", "eve@example.test", "first long secret"));
  CHECK(code(a.accounts->sign_in("acme", "eve@example.test", "second long secret")) ==
        "invalid_credentials");
}

TEST_CASE("a registration never gives a password to an address that has a customer") {
  Accounts a;
  // A magic-link customer (no password); someone registers her address.
  auto link = a.accounts->request_magic_link("acme", "ann@example.test");
  auto ann = a.accounts->use_magic_link(link->token);
  REQUIRE(ann);
  auto attacker =
      a.accounts->register_customer("acme", "ann@example.test", "attacker knows this", "Mallory");
  REQUIRE(attacker);
  CHECK(attacker->token.empty());
  CHECK(attacker->display_name == "ann");  // her name (from her address), not his
  CHECK(code(a.accounts->sign_in("acme", "ann@example.test", "attacker knows this")) ==
        "invalid_credentials");
  auto c = a.desk.portal->customer(ann->subject);
  REQUIRE(c);
  CHECK(c->password_hash.empty());
}

TEST_CASE("a magic link ends a pending registration someone else made") {
  Accounts a;
  auto attacker =
      a.accounts->register_customer("acme", "victim@example.test", "attacker knows this", "Victim");
  REQUIRE(attacker);
  auto link = a.accounts->request_magic_link("acme", "victim@example.test");
  REQUIRE(a.accounts->use_magic_link(link->token));
  CHECK(code(a.accounts->sign_in("acme", "victim@example.test", "attacker knows this")) ==
        "invalid_credentials");
  // The link the registration mailed no longer verifies anything.
  CHECK(code(a.accounts->verify_email(attacker->token)) == "invalid_token");
}

TEST_CASE("a password reset sets a verified password and ends earlier sessions") {
  Accounts a;
  CHECK_FALSE(a.accounts->request_password_reset("acme", "nobody@example.test")->has_value());
  auto link = a.accounts->request_magic_link("acme", "fay@example.test");
  auto old_session = a.accounts->use_magic_link(link->token);
  REQUIRE(old_session);
  REQUIRE(a.accounts->authenticate(dom::Realm::customer, old_session->token));
  auto reset = a.accounts->request_password_reset("acme", "fay@example.test");
  REQUIRE(reset);
  REQUIRE(reset->has_value());
  CHECK(code(a.accounts->reset_password((*reset)->token, "12345")) == "invalid_request");
  a.advance(dom::kSecond);
  REQUIRE(a.accounts->reset_password((*reset)->token, "a brand new passphrase"));
  CHECK(code(a.accounts->reset_password((*reset)->token, "another new passphrase")) ==
        "invalid_token");
  CHECK(code(a.accounts->authenticate(dom::Realm::customer, old_session->token)) ==
        "unauthenticated");
  auto s = a.accounts->sign_in("acme", "fay@example.test", "a brand new passphrase");
  REQUIRE(s);
  CHECK(a.accounts->authenticate(dom::Realm::customer, s->token));
  // Reset links last an hour.
  auto late = a.accounts->request_password_reset("acme", "fay@example.test");
  a.advance(dom::kHour);
  CHECK(code(a.accounts->reset_password((*late)->token, "yet another passphrase")) ==
        "invalid_token");
}

TEST_CASE("sessions: realms - sign-out - idle and absolute expiry - activity across a restart") {
  Accounts a;
  auto link = a.accounts->request_magic_link("acme", "gil@example.test");
  auto s = a.accounts->use_magic_link(link->token);
  REQUIRE(s);
  auto caller = a.accounts->authenticate(dom::Realm::customer, s->token);
  REQUIRE(caller);
  CHECK(caller->id == s->subject);
  CHECK(caller->csrf_hash == svc::token_hash(s->csrf));
  CHECK(code(a.accounts->authenticate(dom::Realm::staff, s->token)) == "unauthenticated");
  CHECK(code(a.accounts->authenticate(dom::Realm::customer, s->csrf)) == "unauthenticated");
  // Idle: 12 hours without a request ends it; activity keeps it going, also after a restart.
  for (int i = 0; i < 5; ++i) {
    a.advance(11 * dom::kHour);
    REQUIRE(a.accounts->authenticate(dom::Realm::customer, s->token));
  }
  // A restart comes after the log took the last activity (closing a log answers every append in
  // flight first).
  auto recorded_now = [&] {
    auto last =
        a.desk.log->read_stream(da::session_stream(svc::token_hash(s->token)),
                                portico::log::kEndOfStream, portico::log::Direction::backward, 1);
    return last && !last->empty() && last->front().type == "SessionRefreshed" &&
           last->front().payload_object().at("at").to_number<dom::TimeUs>() == a.desk.now.load();
  };
  for (int i = 0; i < 5000 && !recorded_now(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(recorded_now());
  {
    svc::Accounts restarted(*a.desk.log, *a.desk.portal, a.options());
    a.advance(11 * dom::kHour);
    CHECK(restarted.authenticate(dom::Realm::customer, s->token));
  }
  a.advance(12 * dom::kHour);
  CHECK(code(a.accounts->authenticate(dom::Realm::customer, s->token)) == "unauthenticated");
  // Absolute: 30 days however active.
  auto link2 = a.accounts->request_magic_link("acme", "gil@example.test");
  auto s2 = a.accounts->use_magic_link(link2->token);
  for (int i = 0; i < 65; ++i) {  // 715 hours, never idle for 12
    a.advance(11 * dom::kHour);
    REQUIRE(a.accounts->authenticate(dom::Realm::customer, s2->token));
  }
  a.advance(11 * dom::kHour);  // 726 hours > 30 days
  CHECK(code(a.accounts->authenticate(dom::Realm::customer, s2->token)) == "unauthenticated");
  // Sign-out ends it at once, and twice is fine.
  auto link3 = a.accounts->request_magic_link("acme", "gil@example.test");
  auto s3 = a.accounts->use_magic_link(link3->token);
  REQUIRE(a.accounts->sign_out(s3->token));
  REQUIRE(a.accounts->sign_out(s3->token));
  CHECK(code(a.accounts->authenticate(dom::Realm::customer, s3->token)) == "unauthenticated");
}

TEST_CASE("staff accounts: created by address - password sign-in in the staff realm") {
  Accounts a;
  CHECK(code(a.accounts->set_staff_account("agent@acme.test", "Agnes", "letmein")) ==
        "invalid_request");
  auto staff = a.accounts->set_staff_account("Agent@acme.test", "Agnes", "staff passphrase 1");
  REQUIRE(staff);
  // Setting it again keeps the id and changes the password.
  auto same = a.accounts->set_staff_account("agent@acme.test", "Agnes", "staff passphrase 2");
  REQUIRE(same);
  CHECK(same->id == staff->id);
  CHECK(code(a.accounts->staff_sign_in("agent@acme.test", "staff passphrase 1")) ==
        "invalid_credentials");
  auto s = a.accounts->staff_sign_in("agent@acme.test", "staff passphrase 2");
  REQUIRE(s);
  CHECK(s->realm == dom::Realm::staff);
  auto caller = a.accounts->authenticate(dom::Realm::staff, s->token);
  REQUIRE(caller);
  CHECK(caller->id == staff->id);
  CHECK(code(a.accounts->authenticate(dom::Realm::customer, s->token)) == "unauthenticated");
  CHECK(code(a.accounts->staff_sign_in("nobody@acme.test", "staff passphrase 2")) ==
        "invalid_credentials");
  // A customer's password is no staff password, even for the same address.
  CHECK(code(a.accounts->staff_sign_in("ann@globex.test", "staff passphrase 2")) ==
        "invalid_credentials");
}

TEST_CASE("sign-ins and sign-outs are events on the log - and no secret is stored") {
  Accounts a;
  auto link = a.accounts->request_magic_link("acme", "hal@example.test");
  auto s = a.accounts->use_magic_link(link->token);
  REQUIRE(a.accounts->sign_out(s->token));
  std::vector<std::string> types;
  std::string everything;
  auto records = a.desk.log->read_all(1, 100000);
  REQUIRE(records);
  for (const auto& r : *records) {
    types.push_back(r.type);
    everything += r.stream + " " + boost::json::serialize(r.payload_object()) + "\n";
  }
  CHECK(std::count(types.begin(), types.end(), "SessionStarted") == 1);
  CHECK(std::count(types.begin(), types.end(), "SessionEnded") == 1);
  CHECK(std::count(types.begin(), types.end(), "TokenUsed") == 1);
  CHECK(everything.find(link->token) == std::string::npos);
  CHECK(everything.find(s->token) == std::string::npos);
  CHECK(everything.find(s->csrf) == std::string::npos);
  CHECK(everything.find("session:" + svc::token_hash(s->token)) != std::string::npos);
}

TEST_CASE("password rules and e-mail addresses (pure)") {
  da::PasswordRules rules;
  rules.is_common = [](std::string_view p) { return p == "dragon" || p == "password"; };
  CHECK(da::check_password("a long enough passphrase", "x@y.test", rules));
  CHECK_FALSE(da::check_password("dragon", "x@y.test", rules));
  CHECK_FALSE(da::check_password("123456789012345", "x@y.test", rules));
  CHECK_FALSE(da::check_password("abababababab", "x@y.test", rules));
  CHECK_FALSE(da::check_password("Dragon123456!", "x@y.test", rules));
  CHECK_FALSE(da::check_password(std::string(257, 'x') + "y", "x@y.test", rules));
  CHECK_FALSE(da::check_password("\xff\xfe long text here", "x@y.test", rules));
  CHECK(da::normalize_email(" A.B+tag@Example.COM ") == "a.b+tag@example.com");
  CHECK_FALSE(da::normalize_email("a@b@c.test"));
  CHECK_FALSE(da::normalize_email(".a@b.test"));
  CHECK_FALSE(da::normalize_email("a@b.test\r\nBcc: x@y.test"));
  CHECK(da::handle_from_email("Ann.Lee+x@b.test") == "ann.lee");
  CHECK(da::handle_from_email("x@b.test") == "x_");
}
