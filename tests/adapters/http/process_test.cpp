// portico-server as a process: start-up, graceful stop on SIGTERM, and what survives a restart.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "../../support/child_process.hpp"
#include "../../support/demo_passwords.hpp"
#include "../../support/http_client.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;
using namespace std::chrono_literals;
namespace hc = portico::test::http_client;

namespace {

// Starts the server on a free port and returns the port it printed.
unsigned short start(ChildProcess& server) {
  // "portico-server: listening on http://127.0.0.1:PORT (data in …)"
  for (int i = 0; i < 20; ++i) {
    auto line = server.read_line(30s);
    REQUIRE(line);
    const auto at = line->find("listening on http://127.0.0.1:");
    if (at == std::string::npos) continue;
    return static_cast<unsigned short>(
        std::stoi(line->substr(at + std::string("listening on http://127.0.0.1:").size())));
  }
  FAIL("the server never said where it listens");
  return 0;
}

std::vector<std::string> server_args(const TempDir& dir, bool demo) {
  std::vector<std::string> args = {PORTICO_SERVER, "--data", (dir / "data").string(), "--listen",
                                   "127.0.0.1:0"};
  if (demo) args.push_back("--demo");
  return args;
}

}  // namespace

TEST_CASE("the server stops gracefully on SIGTERM and its data is there after a restart") {
  TempDir dir;
  {
    ChildProcess server(server_args(dir, true));
    const auto port = start(server);
    CHECK(hc::get(port, "/api/v1/projects/demo").result_int() == 200);
    // The demo's tickets were mailed to their creator (the mail directory under the data).
    bool mailed = false;
    for (int i = 0; i < 300 && !mailed; ++i) {
      std::this_thread::sleep_for(10ms);
      std::error_code ec;
      mailed = std::distance(std::filesystem::directory_iterator(dir / "data" / "mail", ec),
                             std::filesystem::directory_iterator()) >= 2;
    }
    CHECK(mailed);
    hc::Connection idle(port);  // an idle kept-alive connection must not hold the stop up
    CHECK(idle.request(boost::beast::http::verb::get, "/healthz").result_int() == 200);
    server.kill(SIGTERM);
    const std::string rest = server.read_rest();
    const int status = server.wait();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(rest.find("stopped") != std::string::npos);
    CHECK(idle.closed_by_server());
  }
  {
    ChildProcess server(server_args(dir, false));  // no --demo: what is there was kept
    const auto port = start(server);
    CHECK(hc::get(port, "/api/v1/projects/demo").result_int() == 200);
    server.kill(SIGKILL);
    server.wait();
  }
  {
    // After SIGKILL too.
    ChildProcess server(server_args(dir, false));
    const auto port = start(server);
    CHECK(hc::get(port, "/api/v1/projects/demo").result_int() == 200);
    server.kill(SIGTERM);
    CHECK(WEXITSTATUS(server.wait()) == 0);
  }
}

TEST_CASE("a server that cannot start exits non-zero") {
  TempDir dir;
  auto no_data = run({PORTICO_SERVER, "--listen", "127.0.0.1:0"});
  CHECK(no_data.exit_code == 2);
  auto bad_flag = run({PORTICO_SERVER, "--data", dir.path().string(), "--frobnicate"});
  CHECK(bad_flag.exit_code == 2);
  // The port is taken.
  ChildProcess first(server_args(dir, false));
  const auto port = start(first);
  TempDir other;
  auto taken = run({PORTICO_SERVER, "--data", other.path().string(), "--listen",
                    "127.0.0.1:" + std::to_string(port)});
  CHECK(taken.exit_code == 1);
  first.kill(SIGTERM);
  first.wait();
}

TEST_CASE("portico-admin creates a project beside a running server") {
  TempDir dir;
  ChildProcess server(server_args(dir, false));
  const auto port = start(server);
  const std::string data = (dir / "data").string();
  CHECK(hc::get(port, "/api/v1/projects/beta").result_int() == 404);
  auto created =
      run({PORTICO_ADMIN, "--data", data, "project", "create", "beta", "--name", "Beta Desk",
           "--customer-reply", "reopen", "--closed-tickets", "reply_reopens", "--sign-in",
           "magic_link", "--allowed-domains", "beta.test,beta.example"});
  CHECK(created.exit_code == 0);
  CHECK(created.out == "project beta created: Beta Desk (http://127.0.0.1:8080/p/beta/)\n");
  auto r = hc::get(port, "/api/v1/projects/beta");
  REQUIRE(r.result_int() == 200);
  const auto p = hc::json(r);
  CHECK(p.at("name") == "Beta Desk");
  CHECK(p.at("policies").at("customer_reply") == "reopen");
  CHECK(p.at("policies").at("closed_tickets") == "reply_reopens");
  CHECK(p.at("sign_in").as_array().size() == 1);
  // Refusals change nothing and say so.
  CHECK(run({PORTICO_ADMIN, "--data", data, "project", "create", "beta", "--name", "Again"})
            .exit_code == 1);
  CHECK(run({PORTICO_ADMIN, "--data", data, "project", "create", "Bad Slug", "--name", "X"})
            .exit_code == 1);
  CHECK(run({PORTICO_ADMIN, "--data", data, "project", "create", "gamma"}).exit_code == 2);
  CHECK(run({PORTICO_ADMIN, "--data", data, "project", "create", "gamma", "--name", "G",
             "--customer-reply", "sometimes"})
            .exit_code == 1);  // an invalid value: exit 1 naming the flag
  // A directory that does not exist yet becomes a new data directory, the owner's alone.
  CHECK(run({PORTICO_ADMIN, "--data", (dir / "nowhere").string(), "project", "create", "g1",
             "--name", "G"})
            .exit_code == 0);
  CHECK((std::filesystem::status(dir / "nowhere").permissions() & std::filesystem::perms::all) ==
        std::filesystem::perms::owner_all);
  CHECK((std::filesystem::status(dir / "nowhere" / "data.mdb").permissions() &
         std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  // One that holds something else is left alone.
  std::filesystem::create_directories(dir / "other");
  { std::ofstream(dir / "other" / "notes.txt") << "mine"; }
  CHECK(run({PORTICO_ADMIN, "--data", (dir / "other").string(), "project", "create", "g2", "--name",
             "G"})
            .exit_code == 1);
  CHECK(!std::filesystem::exists(dir / "other" / "data.mdb"));
  CHECK(hc::get(port, "/api/v1/projects/beta").result_int() == 200);
  CHECK(hc::json(hc::get(port, "/api/v1/projects/beta")).at("name") == "Beta Desk");
  server.kill(SIGTERM);
  CHECK(WEXITSTATUS(server.wait()) == 0);
}

TEST_CASE("portico-admin adds staff beside a running server - the password from standard input") {
  TempDir dir;
  ChildProcess server(server_args(dir, true));
  const auto port = start(server);
  const auto demo = demo_passwords(server);
  const std::string data = (dir / "data").string();
  auto login = [&](const std::string& email, const std::string& password) {
    hc::Connection c(port);
    return c.request(boost::beast::http::verb::post, "/api/v1/staff/auth/login",
                     R"({"email":")" + email + R"(","password":")" + password + R"("})");
  };
  auto added = run({PORTICO_ADMIN, "--data", data, "staff", "add", "--project", "demo", "--email",
                    "Sam@Demo.test", "--name", "Sam Staff", "--role", "agent"},
                   "sams long passphrase\n");
  CHECK(added.exit_code == 0);
  CHECK(added.out.find("staff sam@demo.test") != std::string::npos);
  auto s = login("sam@demo.test", "sams long passphrase");
  REQUIRE(s.result_int() == 200);
  const std::string token(hc::json(s).at("token").as_string());
  CHECK(hc::get(port, "/api/v1/staff/projects/demo/tickets", {{"Authorization", "Bearer " + token}})
            .result_int() == 200);
  // Refusals: a weak password, an unknown project, a bad role, no password at all.
  CHECK(run({PORTICO_ADMIN, "--data", data, "staff", "add", "--project", "demo", "--email",
             "x@demo.test", "--name", "X", "--role", "agent"},
            "password1\n")
            .exit_code == 1);
  CHECK(login("x@demo.test", "password1").result_int() == 401);
  CHECK(run({PORTICO_ADMIN, "--data", data, "staff", "add", "--project", "nope", "--email",
             "y@demo.test", "--name", "Y", "--role", "agent"},
            "a long enough passphrase\n")
            .exit_code == 1);
  CHECK(run({PORTICO_ADMIN, "--data", data, "staff", "add", "--project", "demo", "--email",
             "y@demo.test", "--name", "Y", "--role", "owner"},
            "a long enough passphrase\n")
            .exit_code == 1);
  CHECK(run({PORTICO_ADMIN, "--data", data, "staff", "add", "--project", "demo", "--email",
             "y@demo.test", "--name", "Y", "--role", "agent"},
            "")
            .exit_code == 2);
  // The demo's own accounts sign in as the server printed.
  CHECK(login("agent@demo.test", demo.staff).result_int() == 200);
  hc::Connection c(port);
  CHECK(c.request(boost::beast::http::verb::post, "/api/v1/auth/login",
                  R"({"project":"demo","email":"ann@example.com","password":")" + demo.customer +
                      R"("})")
            .result_int() == 200);
  server.kill(SIGTERM);
  CHECK(WEXITSTATUS(server.wait()) == 0);
}

TEST_CASE("writes acknowledged over HTTP are there after SIGTERM and after SIGKILL") {
  TempDir dir;
  std::vector<std::uint64_t> acknowledged;
  std::string token;
  auto post = [&](unsigned short port, const std::string& subject) {
    hc::Connection c(port);
    auto r = c.request(boost::beast::http::verb::post, "/api/v1/projects/demo/tickets",
                       R"({"subject":")" + subject + R"(","message":"Please help"})",
                       {{"Authorization", "Bearer " + token}});
    REQUIRE(r.result_int() == 201);
    acknowledged.push_back(hc::json(r).at("number").to_number<std::uint64_t>());
  };
  auto count = [&](unsigned short port) {
    std::size_t found = 0;
    for (auto n : acknowledged) {
      found += hc::get(port, "/api/v1/projects/demo/tickets/" + std::to_string(n),
                       {{"Authorization", "Bearer " + token}})
                   .result_int() == 200;
    }
    return found;
  };
  for (int signal : {SIGTERM, SIGKILL}) {
    CAPTURE(signal);
    ChildProcess server(server_args(dir, true));
    const auto port = start(server);
    if (token.empty()) {
      const auto demo = demo_passwords(server);
      hc::Connection c(port);
      auto s = c.request(
          boost::beast::http::verb::post, "/api/v1/auth/login",
          R"({"project":"demo","email":"ann@example.com","password":")" + demo.customer + R"("})");
      REQUIRE(s.result_int() == 200);
      token = std::string(hc::json(s).at("token").as_string());
    }
    for (int i = 0; i < 20; ++i) post(port, "Acknowledged " + std::to_string(i));
    server.kill(signal);
    server.wait();
    ChildProcess again(server_args(dir, false));
    const auto port2 = start(again);
    // The session survived too (it is on the log), and so did every acknowledged ticket.
    CHECK(count(port2) == acknowledged.size());
    again.kill(SIGTERM);
    CHECK(WEXITSTATUS(again.wait()) == 0);
  }
  CHECK(acknowledged.size() == 40);
}

TEST_CASE("--demo passwords are random per data directory - printed once - kept across restarts") {
  TempDir one, two;
  auto login = [](unsigned short port, const std::string& password) {
    hc::Connection c(port);
    return c
        .request(boost::beast::http::verb::post, "/api/v1/staff/auth/login",
                 R"({"email":"agent@demo.test","password":")" + password + R"("})")
        .result_int();
  };
  DemoPasswords first;
  {
    ChildProcess server(server_args(one, true));
    const auto port = start(server);
    first = demo_passwords(server);
    CHECK(first.staff != first.customer);
    CHECK(first.staff.size() >= 20);
    CHECK(login(port, first.staff) == 200);
    CHECK(login(port, "dana keeps the desk") == 401);  // the password once published
    server.kill(SIGTERM);
    CHECK(WEXITSTATUS(server.wait()) == 0);
  }
  {
    // A restart with --demo keeps the accounts and their passwords, and prints none.
    ChildProcess server(server_args(one, true));
    const auto port = start(server);
    CHECK(login(port, first.staff) == 200);
    server.kill(SIGTERM);
    const std::string said = server.read_rest();
    server.wait();
    CHECK(said.find(first.staff) == std::string::npos);
    CHECK(said.find("demo password for") == std::string::npos);
    CHECK(said.find("were printed when") != std::string::npos);
  }
  ChildProcess other(server_args(two, true));
  const auto port = start(other);
  const auto second = demo_passwords(other);
  CHECK(second.staff != first.staff);
  CHECK(second.customer != first.customer);
  CHECK(login(port, second.staff) == 200);
  CHECK(login(port, first.staff) == 401);
  other.kill(SIGTERM);
  other.wait();
}
