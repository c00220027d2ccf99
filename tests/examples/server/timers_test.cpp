// portico-server keeps its timers: a scheduled closure, the pending_closure and resolved
// timeouts (set with portico-admin project update), across a restart and with two servers on one
// data directory — over HTTP, with the real clock.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "../../support/server_process.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;
using namespace std::chrono_literals;
using boost::beast::http::verb;

namespace {

constexpr const char* kStaffPassword = "a staff passphrase for timers";

// A new operator's desk on a fresh directory (tests/support/server_process.hpp).
std::filesystem::path new_desk(const TempDir& dir, std::vector<std::string> settings = {}) {
  const auto data = dir / "data";
  portico::test::new_desk(data, kStaffPassword, std::move(settings));
  return data;
}

std::uint64_t open_ticket(const Caller& customer, const std::string& subject) {
  auto r = customer.call(verb::post, "/api/v1/projects/acme/tickets",
                         R"({"subject":")" + subject + R"(","message":"It broke."})");
  REQUIRE_MESSAGE(r.result_int() == 201, r.body());
  return hc::json(r).at("number").to_number<std::uint64_t>();
}

std::string status_of(const Caller& staff, std::uint64_t n) {
  return std::string(staff.get("/api/v1/staff/projects/acme/tickets/" + std::to_string(n))
                         .at("status")
                         .as_string());
}

// Waits (at most `limit`) until the ticket is closed; how long it took.
std::optional<std::chrono::milliseconds> until_closed(const Caller& staff, std::uint64_t n,
                                                      std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    if (status_of(staff, n) == "closed") {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

std::string rfc3339_in(std::chrono::milliseconds ahead) {
  const auto t = std::chrono::system_clock::now() + ahead;
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", buffer, static_cast<int>(ms));
  return out;
}

// How many TicketClosed events the ticket's history holds (portico-audit, from the log alone).
int closings(const std::filesystem::path& data, std::uint64_t n) {
  auto history = run(
      {PORTICO_AUDIT, "history", data.string(), "--project", "acme", "--ticket", std::to_string(n)},
      std::nullopt, true);
  REQUIRE_MESSAGE(history.exit_code == 0, history.out);
  int count = 0;
  for (auto at = history.out.find("TicketClosed"); at != std::string::npos;
       at = history.out.find("TicketClosed", at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("a closure scheduled 2 s ahead closes the ticket within 5 s after its time - once") {
  TempDir dir;
  const auto data = new_desk(dir);
  ServerProcess server(data);
  const auto ann = customer(server.port(), data, "acme", "ann@example.com");
  const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
  const auto n = open_ticket(ann, "Printer on fire");
  auto scheduled = agent.call(
      verb::post, "/api/v1/staff/projects/acme/tickets/" + std::to_string(n) + "/scheduled-closure",
      R"({"at":")" + rfc3339_in(2s) + R"("})");
  REQUIRE_MESSAGE(scheduled.result_int() == 200, scheduled.body());
  CHECK(hc::json(scheduled).at("status") == "closure_scheduled");
  // The customer is told when it closes.
  CHECK(ann.get("/api/v1/projects/acme/tickets/" + std::to_string(n))
            .at("closure")
            .at("closes_at")
            .is_string());
  const auto took = until_closed(agent, n, 7s + 500ms);
  REQUIRE(took);
  CHECK(*took >= 1500ms);  // not before its time (the clock's granularity aside)
  CHECK(ann.get("/api/v1/projects/acme/tickets/" + std::to_string(n)).at("status") == "closed");
  server.stop();
  CHECK(closings(data, n) == 1);
}

TEST_CASE(
    "the project's pending_closure and resolved timeouts close tickets (set with project update)") {
  TempDir dir;
  const auto data = new_desk(dir);
  ServerProcess server(data);
  const auto ann = customer(server.port(), data, "acme", "ann@example.com");
  const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
  // Set while the server runs: it follows the log and sees the change at once.
  auto updated = admin(data, {"project", "update", "acme", "--pending-closure-timeout", "2s",
                              "--resolved-timeout", "3s"});
  REQUIRE_MESSAGE(updated.exit_code == 0, updated.out);
  const auto asked = open_ticket(ann, "Please close this");
  const auto solved = open_ticket(ann, "Solved by staff");
  auto request = ann.call(
      verb::post, "/api/v1/projects/acme/tickets/" + std::to_string(asked) + "/closure-request");
  REQUIRE_MESSAGE(request.result_int() == 200, request.body());
  CHECK(hc::json(request).at("status") == "pending_closure");
  auto resolve = agent.call(
      verb::post, "/api/v1/staff/projects/acme/tickets/" + std::to_string(solved) + "/status",
      R"({"status":"resolved"})");
  REQUIRE_MESSAGE(resolve.result_int() == 200, resolve.body());
  CHECK(until_closed(agent, asked, 8s));
  CHECK(until_closed(agent, solved, 9s));
  // 0 is never: a resolved ticket then stays resolved.
  REQUIRE(admin(data, {"project", "update", "acme", "--resolved-timeout", "0"}).exit_code == 0);
  const auto kept = open_ticket(ann, "Stays resolved");
  REQUIRE(agent
              .call(verb::post,
                    "/api/v1/staff/projects/acme/tickets/" + std::to_string(kept) + "/status",
                    R"({"status":"resolved"})")
              .result_int() == 200);
  std::this_thread::sleep_for(4s);
  CHECK(status_of(agent, kept) == "resolved");
  server.stop();
  CHECK(closings(data, asked) == 1);
  CHECK(closings(data, solved) == 1);
}

TEST_CASE("a timer due while the server was down fires once after the restart") {
  TempDir dir;
  const auto data = new_desk(dir);
  std::uint64_t n = 0;
  {
    ServerProcess server(data);
    const auto ann = customer(server.port(), data, "acme", "ann@example.com");
    const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
    n = open_ticket(ann, "Close me later");
    REQUIRE(
        agent
            .call(verb::post,
                  "/api/v1/staff/projects/acme/tickets/" + std::to_string(n) + "/scheduled-closure",
                  R"({"at":")" + rfc3339_in(2s) + R"("})")
            .result_int() == 200);
    CHECK(server.stop() == 0);  // at once: the time has not come
  }
  std::this_thread::sleep_for(2500ms);  // the time passes while nothing runs
  {
    ServerProcess server(data);
    const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
    CHECK(until_closed(agent, n, 5s));
  }
  {
    // And a second restart does not close it again.
    ServerProcess server(data);
    const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
    std::this_thread::sleep_for(1s);
    CHECK(status_of(agent, n) == "closed");
  }
  CHECK(closings(data, n) == 1);
}

TEST_CASE("two servers on one data directory close a scheduled ticket exactly once") {
  TempDir dir;
  const auto data = new_desk(dir);
  ServerProcess first(data);
  ServerProcess second(data);
  const auto ann = customer(first.port(), data, "acme", "ann@example.com");
  const auto agent_first = staff(first.port(), "agent@acme.test", kStaffPassword);
  const auto agent_second = staff(second.port(), "agent@acme.test", kStaffPassword);
  std::vector<std::uint64_t> tickets;
  for (int i = 0; i < 5; ++i) tickets.push_back(open_ticket(ann, "Race " + std::to_string(i)));
  // Both schedulers hear of every closure (one through its own append, one through the log).
  for (std::size_t i = 0; i < tickets.size(); ++i) {
    const Caller& agent = i % 2 == 0 ? agent_first : agent_second;
    REQUIRE(agent
                .call(verb::post,
                      "/api/v1/staff/projects/acme/tickets/" + std::to_string(tickets[i]) +
                          "/scheduled-closure",
                      R"({"at":")" + rfc3339_in(2s) + R"("})")
                .result_int() == 200);
  }
  for (auto n : tickets) CHECK(until_closed(agent_second, n, 8s));
  first.stop();
  second.stop();
  for (auto n : tickets) {
    CAPTURE(n);
    CHECK(closings(data, n) == 1);
  }
}
