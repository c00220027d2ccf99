// portico-server as a process: start-up, graceful stop on SIGTERM, and what survives a restart.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <thread>

#include "../../support/child_process.hpp"
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
  CHECK(created.out == "project beta created: Beta Desk\n");
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
            .exit_code == 2);
  CHECK(run({PORTICO_ADMIN, "--data", (dir / "nowhere").string(), "project", "create", "g",
             "--name", "G"})
            .exit_code == 1);
  CHECK(hc::get(port, "/api/v1/projects/beta").result_int() == 200);
  CHECK(hc::json(hc::get(port, "/api/v1/projects/beta")).at("name") == "Beta Desk");
  server.kill(SIGTERM);
  CHECK(WEXITSTATUS(server.wait()) == 0);
}
