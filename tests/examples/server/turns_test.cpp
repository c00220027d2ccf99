// portico-server decides the commands that queue for one ticket together (a ticket's turn,
// docs/domain.md): many callers posting to one ticket at once over HTTP each get their own
// message, once, and a retried request with the same Idempotency-Key gets the first answer.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "../../support/server_process.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;
using boost::beast::http::verb;

namespace {

constexpr const char* kStaffPassword = "a staff passphrase for turns";

std::filesystem::path new_desk(const TempDir& dir) {
  const auto data = dir / "data";
  portico::test::new_desk(data, kStaffPassword);
  return data;
}

struct Posted {
  unsigned status = 0;
  std::string id;
};

Posted post(unsigned short port, const std::string& token, const std::string& target,
            const std::string& body, const std::string& key = {}) {
  hc::Connection c(port);
  std::vector<std::pair<std::string, std::string>> headers{{"Authorization", "Bearer " + token}};
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  auto r = c.request(verb::post, target, body, headers);
  Posted p{r.result_int(), {}};
  if (p.status == 201) p.id = std::string(hc::json(r).at("id").as_string());
  return p;
}

}  // namespace

TEST_CASE("customers and staff posting to one ticket at once each get their own message once") {
  TempDir dir;
  const auto data = new_desk(dir);
  ServerProcess server(data, {"--write-rate", "1000"});  // Ann writes 84 times here
  const auto ann = customer(server.port(), data, "acme", "ann@example.com");
  const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
  auto opened = ann.call(verb::post, "/api/v1/projects/acme/tickets",
                         R"({"subject":"Busy","message":"Many hands."})");
  REQUIRE_MESSAGE(opened.result_int() == 201, opened.body());
  const std::string n = std::to_string(hc::json(opened).at("number").to_number<std::uint64_t>());

  constexpr int kThreads = 8;
  constexpr int kEach = 10;
  std::vector<std::vector<Posted>> answers(kThreads + 2);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        answers[t].push_back(post(server.port(), ann.token,
                                  "/api/v1/projects/acme/tickets/" + n + "/messages",
                                  R"({"body":"reply )" + std::to_string(t * kEach + i) + R"("})"));
      }
    });
  }
  // Staff notes among them, and one request sent twice at once with the same key.
  threads.emplace_back([&] {
    for (int i = 0; i < kEach; ++i) {
      answers[kThreads].push_back(
          post(server.port(), agent.token, "/api/v1/staff/projects/acme/tickets/" + n + "/messages",
               R"({"body":"note )" + std::to_string(i) + R"(","internal":true})"));
    }
  });
  threads.emplace_back([&] {
    std::vector<std::thread> twice;
    std::vector<Posted> got(2);
    for (int k = 0; k < 2; ++k) {
      twice.emplace_back([&, k] {
        got[k] = post(server.port(), ann.token, "/api/v1/projects/acme/tickets/" + n + "/messages",
                      R"({"body":"sent twice"})", "retry-key-1");
      });
    }
    for (auto& th : twice) th.join();
    answers[kThreads + 1] = got;
  });
  for (auto& th : threads) th.join();

  std::set<std::string> ids;
  for (int t = 0; t < kThreads + 1; ++t) {
    REQUIRE(answers[t].size() == static_cast<std::size_t>(kEach));
    for (const Posted& p : answers[t]) {
      CHECK(p.status == 201);
      ids.insert(p.id);
    }
  }
  CHECK(ids.size() == (kThreads + 1) * kEach);  // every answer named its own message
  const auto& twice = answers[kThreads + 1];
  REQUIRE(twice.size() == 2);
  CHECK(twice[0].status == 201);
  CHECK(twice[1].status == 201);
  CHECK(twice[0].id == twice[1].id);  // the same key: one message, the same answer
  ids.insert(twice[0].id);

  const auto thread = agent.get("/api/v1/staff/projects/acme/tickets/" + n);
  const auto& messages = thread.at("messages").as_array();
  CHECK(messages.size() == 1 + (kThreads + 1) * kEach + 1);
  std::set<std::string> stored;
  for (const auto& m : messages) stored.insert(std::string(m.at("id").as_string()));
  CHECK(stored.size() == messages.size());  // no id twice in the thread
  for (const auto& id : ids) CHECK(stored.contains(id));
  // The customer sees her replies and not the notes.
  const auto seen = ann.get("/api/v1/projects/acme/tickets/" + n);
  CHECK(seen.at("messages").as_array().size() == 1 + kThreads * kEach + 1);
}
