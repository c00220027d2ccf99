// portico-server --config FILE: every flag a key, the command line over the file, unknown keys
// refused at start naming the key.
#include <doctest/doctest.h>

#include <fstream>

#include "../../support/server_process.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("the configuration file sets the server up and a flag on the command line wins") {
  TempDir dir;
  const auto from_file = dir / "from-file";
  const auto from_flag = dir / "from-flag";
  const std::string config = write(dir, "portico.toml",
                                   "# the reference server\n"
                                   "data = \"" +
                                       from_file.string() +
                                       "\"\n"
                                       "listen = \"127.0.0.1:0\"\n"
                                       "base-url = \"https://support.acme.test\"\n"
                                       "workers = 8\n"
                                       "sign-in-rate = 100\n"
                                       "demo = true\n");
  {
    ChildProcess server({PORTICO_SERVER, "--config", config});
    const auto port = listening_port(server);
    CHECK(hc::get(port, "/api/v1/projects/demo").result_int() == 200);  // demo = true
    CHECK(std::filesystem::exists(from_file / "data.mdb"));
    // Links go out under the file's base URL.
    hc::Connection c(port);
    REQUIRE(c.request(boost::beast::http::verb::post, "/api/v1/auth/magic-link",
                      R"({"project":"demo","email":"ann@example.com"})")
                .result_int() == 202);
    std::set<std::string> seen;
    (void)mailed_token(from_file / "mail", "ann@example.com", seen);
    bool https_link = false;
    for (const auto& e : std::filesystem::directory_iterator(from_file / "mail")) {
      https_link |=
          read_mail(e.path()).find("https://support.acme.test/p/demo/") != std::string::npos;
    }
    CHECK(https_link);
    server.kill(SIGTERM);
    CHECK(WEXITSTATUS(server.wait()) == 0);
  }
  {
    ChildProcess server({PORTICO_SERVER, "--config", config, "--data", from_flag.string()});
    const auto port = listening_port(server);
    CHECK(hc::get(port, "/healthz").result_int() == 200);
    CHECK(std::filesystem::exists(from_flag / "data.mdb"));
    server.kill(SIGTERM);
    server.wait();
  }
}

TEST_CASE("a configuration file with an unknown key or a wrong type or bad TOML stops the start") {
  TempDir dir;
  const std::string data = (dir / "data").string();
  auto start = [&](const std::string& text) {
    return run({PORTICO_SERVER, "--config", write(dir, "c.toml", text)}, std::nullopt, true);
  };
  auto unknown = start("data = \"" + data + "\"\nlisten = \"127.0.0.1:0\"\nlisten-port = 8080\n");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.out.find("unknown key 'listen-port'") != std::string::npos);
  auto typed = start("data = \"" + data + "\"\nlisten = \"127.0.0.1:0\"\nworkers = [1, 2]\n");
  CHECK(typed.exit_code == 1);
  CHECK(typed.out.find("'workers'") != std::string::npos);
  auto flag_typed = start("data = \"" + data + "\"\ndemo = \"yes\"\n");
  CHECK(flag_typed.exit_code == 1);
  CHECK(flag_typed.out.find("'demo'") != std::string::npos);
  auto broken = start("data = \"unterminated\n");
  CHECK(broken.exit_code == 1);
  CHECK(broken.out.find("c.toml") != std::string::npos);
  auto missing =
      run({PORTICO_SERVER, "--config", (dir / "nope.toml").string()}, std::nullopt, true);
  CHECK(missing.exit_code == 1);
  // A section of its own (providers come with their own issue) is no key of ours either.
  auto section = start("data = \"" + data + "\"\n[frobnicator]\nlevel = 3\n");
  CHECK(section.exit_code == 1);
  CHECK(section.out.find("'frobnicator'") != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "data" / "data.mdb"));  // nothing was started
}

TEST_CASE("write-rate bounds the changes of one signed-in caller and reads stay open") {
  TempDir dir;
  const auto data = dir / "data";
  const std::string config = write(dir, "portico.toml", "write-rate = 1\n");
  ServerProcess server(data, {"--demo", "--config", config});
  const auto ann = customer(server.port(), data, "demo", "ann@example.com");
  const auto bob = customer(server.port(), data, "demo", "bob@example.com");
  auto open = [](const Caller& who) {
    return who.call(boost::beast::http::verb::post, "/api/v1/projects/demo/tickets",
                    R"({"subject":"Once more","message":"Details"})");
  };
  // A burst of twice the rate, then 429 with Retry-After; nothing was opened by the refusal.
  CHECK(open(ann).result_int() == 201);
  CHECK(open(ann).result_int() == 201);
  const auto refused = open(ann);
  CHECK(refused.result_int() == 429);
  CHECK(hc::error_code(refused) == "rate_limited");
  CHECK(!refused[boost::beast::http::field::retry_after].empty());
  CHECK(ann.get("/api/v1/projects/demo/tickets?scope=mine").at("items").as_array().size() >= 2);
  // Another caller has a budget of their own.
  CHECK(open(bob).result_int() == 201);
  // A bad value stops the start, naming the flag.
  const auto bad = run({PORTICO_SERVER, "--data", (dir / "other").string(), "--write-rate", "0"},
                       std::nullopt, true);
  CHECK(bad.exit_code != 0);
  CHECK(bad.out.find("--write-rate") != std::string::npos);
}

TEST_CASE("metrics behind a token from a file and trusted proxies set in the configuration file") {
  TempDir dir;
  const auto data = dir / "data";
  const std::string token = "a-metrics-token-of-some-length";
  const std::string token_file = write(dir, "metrics.token", token + "\n");
  const auto access = dir / "access.log";
  const std::string config = write(dir, "portico.toml",
                                   "metrics-token-file = \"" + token_file +
                                       "\"\n"
                                       "trusted-proxy = [\"127.0.0.1/32\", \"::1\"]\n"
                                       "max-connections-per-address = 50\n"
                                       "access-log = \"" +
                                       access.string() + "\"\n");
  {
    ServerProcess server(data, {"--config", config});
    // L7: the route counts are the operator's: 401 without the token, 200 with it.
    const auto anonymous = hc::get(server.port(), "/metrics");
    CHECK(anonymous.result_int() == 401);
    CHECK(hc::error_code(anonymous) == "unauthenticated");
    CHECK(anonymous.body().find("portico_") == std::string::npos);
    CHECK(hc::get(server.port(), "/metrics", {{"Authorization", "Bearer wrong-token-of-length"}})
              .result_int() == 401);
    const auto allowed = hc::get(server.port(), "/metrics", {{"Authorization", "Bearer " + token}});
    CHECK(allowed.result_int() == 200);
    CHECK(allowed.body().find("portico_") != std::string::npos);
    // 127.0.0.1 is a trusted proxy here: the client it names is the one counted and logged.
    CHECK(hc::get(server.port(), "/healthz", {{"X-Forwarded-For", "203.0.113.7"}}).result_int() ==
          200);
  }
  std::ifstream in(access);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(log.find("203.0.113.7") != std::string::npos);
  CHECK(log.find(token) == std::string::npos);
  // Bad values stop the start, naming what is wrong.
  const auto range = run({PORTICO_SERVER, "--data", (dir / "x").string(), "--listen", "127.0.0.1:0",
                          "--trusted-proxy", "10.0.0.0/33"},
                         std::nullopt, true);
  CHECK(range.exit_code != 0);
  CHECK(range.out.find("10.0.0.0/33") != std::string::npos);
  const auto short_token =
      run({PORTICO_SERVER, "--data", (dir / "y").string(), "--metrics-token", "short"},
          std::nullopt, true);
  CHECK(short_token.exit_code == 2);
  CHECK(short_token.out.find("--metrics-token") != std::string::npos);
}

TEST_CASE("max-connections-per-address caps one client and serves another") {
  TempDir dir;
  ServerProcess server(dir / "data", {"--max-connections-per-address", "2"});
  hc::Connection a(server.port(), "127.0.0.1"), b(server.port(), "127.0.0.1");
  CHECK(a.request(boost::beast::http::verb::get, "/healthz").result_int() == 200);
  CHECK(b.request(boost::beast::http::verb::get, "/healthz").result_int() == 200);
  hc::Connection third(server.port(), "127.0.0.1");
  CHECK(third.closed_by_server_within(std::chrono::seconds(20)));
  hc::Connection other(server.port(), "127.0.0.2");
  CHECK(other.request(boost::beast::http::verb::get, "/healthz").result_int() == 200);
  const auto bad =
      run({PORTICO_SERVER, "--data", (dir / "x").string(), "--max-connections-per-address", "many"},
          std::nullopt, true);
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("--max-connections-per-address") != std::string::npos);
}
