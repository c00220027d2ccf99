// The findings of the security review (shared/reviews/security.md) that live in the HTTP
// adapter, each over real HTTP where it is reachable that way: rate-limit keys and budgets, the
// client address behind proxies, connection caps, secrets in the access log, /metrics.
#include <doctest/doctest.h>

#include <functional>
#include <future>
#include <thread>

#include "api_fixture.hpp"
#include "limits.hpp"

using namespace portico::test;
namespace detail = portico::http::detail;

namespace {

std::string body(std::initializer_list<std::pair<const char*, std::string>> fields) {
  boost::json::object o;
  for (const auto& [k, v] : fields) o[k] = v;
  return boost::json::serialize(o);
}

// The value of the metric line that starts with `name` (-1 when there is none).
long metric(Api& api, const std::string& name) {
  auto r = api.call(verb::get, "/metrics");
  REQUIRE(r.result_int() == 200);
  const std::string& text = r.body();
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stol(text.substr(at + name.size() + 2));
}

}  // namespace

// ---- H1: rate-limiter keys ----

TEST_CASE("sign-in fields that are no address or project never become rate-limit keys") {
  Api api;
  for (int i = 0; i < 5; ++i) {
    // Each a different 200 kB string: before the fix, each one a bucket keyed by it.
    const std::string junk = std::string(200'000, static_cast<char>('a' + i));
    const std::vector<std::pair<std::string, std::string>> asks = {
        {"/api/v1/auth/login",
         body({{"project", "acme"}, {"email", junk}, {"password", "not the password"}})},
        {"/api/v1/auth/login",
         body({{"project", junk}, {"email", "ann@globex.test"}, {"password", "x"}})},
        {"/api/v1/auth/magic-link", body({{"project", "acme"}, {"email", junk}})},
        {"/api/v1/auth/password-reset", body({{"project", "acme"}, {"email", junk}})},
        {"/api/v1/auth/register", body({{"project", "acme"},
                                        {"email", junk},
                                        {"password", "a long enough passphrase"},
                                        {"display_name", "Junk"}})},
        {"/api/v1/staff/auth/login", body({{"email", junk}, {"password", "wrong one"}})},
    };
    for (const auto& [route, payload] : asks) {
      CAPTURE(route);
      const unsigned status = api.call(verb::post, route, payload).result_int();
      CHECK((status == 400 || status == 401 || status == 404));
    }
  }
  CHECK(metric(api, "portico_rate_limit_keys{table=\"password\"}") == 0);
  CHECK(metric(api, "portico_rate_limit_keys{table=\"mail\"}") == 0);
  CHECK(metric(api, "portico_rate_limit_keys{table=\"address\"}") == 1);
}

TEST_CASE("the sign-in limits hold at most max_keys buckets per table") {
  Api api([](phttp::AppOptions& o) {
    o.limits.max_keys = 4;
    o.limits.failed_passwords = {3, 1e-6};
  });
  int limited = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = api.password_login("acme", "guess" + std::to_string(i) + "@globex.test",
                                "not the password");
    if (r.result_int() == 429) ++limited;
  }
  CHECK(metric(api, "portico_rate_limit_keys{table=\"password\"}") <= 4);
  CHECK(limited >= 6);
}

TEST_CASE("a rate-limit bucket full again is swept out by age and one that still counts is kept") {
  using namespace std::chrono_literals;
  detail::RateLimiter limiter(100, 60s);
  const phttp::RateLimit limit{2, 1};
  const auto t0 = detail::Clock::now();
  CHECK(!limiter.take("a", limit, t0));  // one of two: full again a minute later
  CHECK(!limiter.take("b", limit, t0));
  CHECK(!limiter.take("b", limit, t0));  // drained: full again after two minutes
  CHECK(limiter.size() == 2);
  CHECK(!limiter.take("c", limit, t0 + 100s));  // a sweep: "a" is full again and goes
  CHECK(limiter.size() == 2);
  CHECK(!limiter.take("d", limit, t0 + 10min));  // everything before is full again
  CHECK(limiter.size() == 1);
}

TEST_CASE("a rate-limit table full of buckets that still count refuses new keys and keeps them") {
  detail::RateLimiter limiter(2);
  const phttp::RateLimit limit{1, 1};
  const auto t0 = detail::Clock::now();
  CHECK(!limiter.take("a", limit, t0));
  CHECK(!limiter.take("b", limit, t0));
  auto refused = limiter.take("c", limit, t0);
  REQUIRE(refused);
  CHECK(refused->count() >= 1);
  CHECK(limiter.size() == 2);
  CHECK(limiter.take("a", limit, t0));  // still drained: not evicted to make room
}

// ---- H3: the password budget ----

TEST_CASE("parallel wrong passwords cannot outrun the budget of an account") {
  Api api([](phttp::AppOptions& o) {
    o.limits.failed_passwords = {3, 1e-6};
    o.accounts.argon2_memory = 32 * 1024;  // long enough for the guesses to overlap
  });
  const std::string wrong =
      body({{"project", "acme"}, {"email", "ann@globex.test"}, {"password", "not the password"}});
  constexpr int kGuesses = 16;
  std::vector<std::future<unsigned>> guesses;
  for (int i = 0; i < kGuesses; ++i) {
    guesses.push_back(std::async(std::launch::async, [&] {
      return api.call(verb::post, "/api/v1/auth/login", wrong).result_int();
    }));
  }
  int checked = 0, limited = 0;
  for (auto& g : guesses) {
    const unsigned status = g.get();
    if (status == 401) ++checked;
    if (status == 429) ++limited;
  }
  CHECK(checked <= 3);
  CHECK(checked + limited == kGuesses);
}

TEST_CASE("parallel staff password guesses cannot outrun the budget either") {
  Api api([](phttp::AppOptions& o) {
    o.limits.failed_passwords = {3, 1e-6};
    o.accounts.argon2_memory = 32 * 1024;
  });
  const std::string wrong = body({{"email", "agnes@acme.test"}, {"password", "wrong one"}});
  std::vector<std::future<unsigned>> guesses;
  for (int i = 0; i < 16; ++i) {
    guesses.push_back(std::async(std::launch::async, [&] {
      return api.call(verb::post, "/api/v1/staff/auth/login", wrong).result_int();
    }));
  }
  int checked = 0;
  for (auto& g : guesses) checked += g.get() == 401 ? 1 : 0;
  CHECK(checked <= 3);
}

TEST_CASE("one password budget per account across every project") {
  Api api([](phttp::AppOptions& o) { o.limits.failed_passwords = {3, 1e-6}; });
  for (const char* project : {"acme", "other", "acme"}) {
    CHECK(code_of(api.password_login(project, "ann@globex.test", "not the password")) ==
          "invalid_credentials");
  }
  CHECK(api.password_login("other", "ann@globex.test", "not the password").result_int() == 429);
}

TEST_CASE("a right password gives its token back") {
  Api api([](phttp::AppOptions& o) { o.limits.failed_passwords = {2, 1e-6}; });
  const std::string right = body({{"email", "agnes@acme.test"}, {"password", Api::kStaffPassword}});
  for (int i = 0; i < 4; ++i) {
    CHECK(api.call(verb::post, "/api/v1/staff/auth/login", right).result_int() == 200);
  }
}

// ---- M4: no lock-out of a chosen account by a stranger ----

namespace {

hc::Response call_from(Api& api, const std::string& from, const std::string& target,
                       const std::string& payload) {
  hc::Connection c(api.port(), from);
  return c.request(verb::post, target, payload);
}

}  // namespace

TEST_CASE("a stranger's wrong passwords do not lock the owner out from another address") {
  Api api([](phttp::AppOptions& o) { o.limits.failed_passwords = {3, 1e-6}; });
  const std::string wrong = body({{"email", "agnes@acme.test"}, {"password", "wrong one"}});
  const std::string right = body({{"email", "agnes@acme.test"}, {"password", Api::kStaffPassword}});
  for (int i = 0; i < 3; ++i) {
    CHECK(call_from(api, "127.0.0.1", "/api/v1/staff/auth/login", wrong).result_int() == 401);
  }
  // The stranger's address is done, right password or not ...
  CHECK(call_from(api, "127.0.0.1", "/api/v1/staff/auth/login", wrong).result_int() == 429);
  CHECK(call_from(api, "127.0.0.1", "/api/v1/staff/auth/login", right).result_int() == 429);
  // ... the owner's is not.
  CHECK(call_from(api, "127.0.0.2", "/api/v1/staff/auth/login", right).result_int() == 200);
}

TEST_CASE("guesses from many addresses leave the owner their own address and the e-mailed link") {
  Api api([](phttp::AppOptions& o) {
    o.limits.failed_passwords = {100, 1e-6};
    o.limits.failed_passwords_account = {3, 1e-6};
  });
  const std::string right = body({{"email", "agnes@acme.test"}, {"password", Api::kStaffPassword}});
  const std::string wrong = body({{"email", "agnes@acme.test"}, {"password", "wrong one"}});
  REQUIRE(call_from(api, "127.0.0.3", "/api/v1/staff/auth/login", right).result_int() == 200);
  for (const char* from : {"127.0.0.1", "127.0.0.2", "127.0.0.4"}) {
    CHECK(call_from(api, from, "/api/v1/staff/auth/login", wrong).result_int() == 401);
  }
  CHECK(call_from(api, "127.0.0.5", "/api/v1/staff/auth/login", wrong).result_int() == 429);
  // Where the owner signed in before still works; so do wrong guesses there, counted there.
  CHECK(call_from(api, "127.0.0.3", "/api/v1/staff/auth/login", right).result_int() == 200);

  // A customer whose password budget is gone still signs in by the e-mailed link.
  const std::string ann_wrong =
      body({{"project", "acme"}, {"email", "ann@globex.test"}, {"password", "not the password"}});
  for (const char* from : {"127.0.0.1", "127.0.0.2", "127.0.0.4"}) {
    CHECK(call_from(api, from, "/api/v1/auth/login", ann_wrong).result_int() == 401);
  }
  CHECK(call_from(api, "127.0.0.6", "/api/v1/auth/login", ann_wrong).result_int() == 429);
  auto asked = call_from(api, "127.0.0.6", "/api/v1/auth/magic-link",
                         body({{"project", "acme"}, {"email", "ann@globex.test"}}));
  CHECK(asked.result_int() == 202);
  const std::string token = api.mail.last_token("ann@globex.test");
  REQUIRE(!token.empty());
  CHECK(api.call(verb::post, "/api/v1/auth/magic-link/verify", body({{"token", token}}))
            .result_int() == 200);
}

TEST_CASE("sign-in e-mails are counted only for requests that will send one") {
  Api api([](phttp::AppOptions& o) { o.limits.mails = {2, 1e-6}; });
  // A stranger's refused requests for ann's address: a project that does not exist, or a slug no
  // project can have.
  for (int i = 0; i < 5; ++i) {
    for (const char* project : {"zz", "nope-project", "UPPER"}) {
      const unsigned status = api.call(verb::post, "/api/v1/auth/magic-link",
                                       body({{"project", project}, {"email", "ann@globex.test"}}))
                                  .result_int();
      CHECK(status == 404);
      CHECK(api.call(verb::post, "/api/v1/auth/password-reset",
                     body({{"project", project}, {"email", "ann@globex.test"}}))
                .result_int() == 404);
    }
  }
  CHECK(api.call(verb::post, "/api/v1/auth/magic-link",
                 body({{"project", "acme"}, {"email", "ann@globex.test"}}))
            .result_int() == 202);
  CHECK(api.mail.to("ann@globex.test").size() == 1);
}

// ---- M5: how the limits know the client ----

namespace {

unsigned verify_from(Api& api, const std::string& forwarded_for) {
  hc::Connection c(api.port());
  return c
      .request(verb::post, "/api/v1/auth/magic-link/verify", body({{"token", "x"}}),
               {{"X-Forwarded-For", forwarded_for}})
      .result_int();
}

// A server allowing two sign-in requests per client address, trusting the proxies of `range`.
std::unique_ptr<Api> behind_proxy(const std::string& range) {
  return std::make_unique<Api>(
      [](phttp::AppOptions& o) {
        o.limits.per_address = {2, 1e-6};
      },
      [range](phttp::ServerOptions& so) { so.trusted_proxies = {range}; });
}

}  // namespace

TEST_CASE("behind a trusted proxy the sign-in limits count the client it forwards") {
  const auto server = behind_proxy("127.0.0.0/8");
  Api& api = *server;
  CHECK(verify_from(api, "203.0.113.1") == 401);
  CHECK(verify_from(api, "198.51.100.9, 203.0.113.1") == 401);  // the rightmost is the client
  CHECK(verify_from(api, "203.0.113.1") == 429);
  CHECK(verify_from(api, "203.0.113.2") == 401);             // someone else behind the same proxy
  CHECK(verify_from(api, "203.0.113.2, 127.0.0.9") == 401);  // a second trusted hop is skipped
  CHECK(verify_from(api, "203.0.113.2") == 429);
}

TEST_CASE("X-Forwarded-For from an address that is no trusted proxy is ignored") {
  const auto server = behind_proxy("10.0.0.0/8");
  Api& api = *server;
  CHECK(verify_from(api, "203.0.113.1") == 401);
  CHECK(verify_from(api, "203.0.113.2") == 401);
  CHECK(verify_from(api, "203.0.113.3") == 429);
}

TEST_CASE("IPv6 clients are counted by their /64") {
  Api api(
      [](phttp::AppOptions& o) {
        o.limits.per_address = {2, 1e-6};
      },
      [](phttp::ServerOptions& so) {
        so.trusted_proxies = {"127.0.0.1/32", "::1"};
      });
  CHECK(verify_from(api, "2001:db8:1:2::1") == 401);
  CHECK(verify_from(api, "2001:db8:1:2:ffff::77") == 401);
  CHECK(verify_from(api, "2001:db8:1:2::abcd") == 429);
  CHECK(verify_from(api, "2001:db8:1:3::1") == 401);  // another /64
  CHECK(detail::address_key("::ffff:192.0.2.1") == "192.0.2.1");
  CHECK(detail::address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
}

TEST_CASE("a trusted proxy that is not an address range stops the start") {
  ViewsDesk desk;
  phttp::App app(*desk.log, *desk.portal, desk.views);
  phttp::ServerOptions o;
  o.port = 0;
  o.trusted_proxies = {"10.0.0.0/33"};
  phttp::Server server(
      [&](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); }, o);
  auto started = server.start();
  REQUIRE_FALSE(started);
  CHECK(started.error().message.find("10.0.0.0/33") != std::string::npos);
}

// ---- M6: connection slots ----

namespace {

// The API's server on its own (no sign-in limits involved), with `tweak` applied.
struct Plain {
  ViewsDesk desk;
  phttp::App app{*desk.log, *desk.portal, desk.views};
  std::unique_ptr<phttp::Server> server;
  explicit Plain(const std::function<void(phttp::ServerOptions&)>& tweak) {
    phttp::ServerOptions o;
    o.port = 0;
    o.io_threads = 1;
    o.workers = 2;
    tweak(o);
    server = std::make_unique<phttp::Server>(
        [this](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); }, o);
    REQUIRE(server->start());
  }
  unsigned short port() const { return server->port(); }
};

}  // namespace

TEST_CASE("one client address holds at most max_connections_per_address connections") {
  Plain s([](phttp::ServerOptions& o) { o.max_connections_per_address = 2; });
  hc::Connection a(s.port(), "127.0.0.1"), b(s.port(), "127.0.0.1");
  CHECK(a.request(verb::get, "/healthz").result_int() == 200);
  CHECK(b.request(verb::get, "/healthz").result_int() == 200);
  hc::Connection third(s.port(), "127.0.0.1");
  CHECK(third.closed_by_server_within(std::chrono::seconds(20)));
  // Another client is served, and the first still is.
  hc::Connection other(s.port(), "127.0.0.2");
  CHECK(other.request(verb::get, "/healthz").result_int() == 200);
  CHECK(a.request(verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("a trusted proxy is not held to the per-address connection cap") {
  Plain s([](phttp::ServerOptions& o) {
    o.max_connections_per_address = 1;
    o.trusted_proxies = {"127.0.0.1/32"};
  });
  hc::Connection a(s.port(), "127.0.0.1"), b(s.port(), "127.0.0.1");
  CHECK(a.request(verb::get, "/healthz").result_int() == 200);
  CHECK(b.request(verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("request headers sent slowly get the header deadline not the read deadline") {
  Plain s([](phttp::ServerOptions& o) {
    o.header_timeout = std::chrono::milliseconds(200);
    o.read_timeout = std::chrono::minutes(5);
  });
  hc::Connection c(s.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // and the rest never comes
  CHECK(c.closed_by_server_within(std::chrono::seconds(20)));
  hc::Connection fresh(s.port());  // a new connection that sends nothing at all
  CHECK(fresh.closed_by_server_within(std::chrono::seconds(20)));
}

// ---- M7: no secret in the access log ----

TEST_CASE("no invite survey sign-in or provider secret reaches the access log") {
  TempDir dir;
  std::FILE* log = std::fopen((dir / "access.log").c_str(), "w+");
  REQUIRE(log);
  const std::vector<std::string> targets = {
      "/invite/SECRETa",
      "/invite/SECRETb?x=1",
      "/api/v1/invites/SECRETc/join",
      "/api/v1/surveys/SECRETd",
      "/p/acme/auth/magic?token=SECRETe",
      "/p/acme/auth/verify?x=1&Token=SECRETf",
      "/p/acme/survey?token=SECRETg",
      "/api/v1/auth/oauth/google/callback?code=SECRETh&state=SECRETi",
      "/p/acme/auth/reset?reset_token=SECRETj",
  };
  {
    Plain s([&](phttp::ServerOptions& o) { o.access_log = log; });
    for (const auto& t : targets) (void)hc::get(s.port(), t);
    hc::Connection c(s.port());
    (void)c.request(verb::post, "/api/v1/invites/SECRETk/join", "{}");
  }
  std::fflush(log);
  std::rewind(log);
  char line[4096];
  std::size_t lines = 0;
  while (std::fgets(line, sizeof line, log)) {
    ++lines;
    const std::string text(line);
    CAPTURE(text);
    CHECK(text.find("SECRET") == std::string::npos);
  }
  CHECK(lines == targets.size() + 1);
  std::fclose(log);
}
