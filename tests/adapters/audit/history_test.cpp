// portico-audit history: who did what and when, and a ticket's state at any past moment.
#include <doctest/doctest.h>

#include <history.hpp>
#include <portico/service/portal.hpp>

#include "../../support/child_process.hpp"
#include "../../support/temp_dir.hpp"

namespace dom = portico::domain;
namespace dt = portico::domain::ticket;

TEST_CASE("RFC 3339 times parse - with fractions and offsets - anything else does not") {
  using portico::audit::parse_time;
  CHECK(parse_time("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_time("2026-11-22T02:00:04.123456Z") == 1'795'312'804'123'456);
  CHECK(parse_time("2026-11-22T02:00:04.5Z") == 1'795'312'804'500'000);
  CHECK(parse_time("2026-11-22T03:00:04+01:00") == 1'795'312'804'000'000);
  CHECK_FALSE(parse_time("2026-11-22"));
  CHECK_FALSE(parse_time("2026-02-30T00:00:00Z"));
  CHECK_FALSE(parse_time("2026-11-22T25:00:00Z"));
  CHECK_FALSE(parse_time("2026-11-22T02:00:04"));
  CHECK_FALSE(parse_time("2026-11-22T02:00:04Zjunk"));
}

TEST_CASE("history prints every event of a ticket and its state now or at a past time") {
  portico::test::TempDir dir;
  std::int64_t now = 1'795'312'800'000'000;  // 2026-11-22T02:00:00Z
  portico::log::Options options;
  options.clock = [&] { return now; };
  auto log = std::move(*portico::log::Log::open(dir.path(), options));
  portico::service::Options portal_options;
  portal_options.clock = [&] { return now; };
  portico::service::Portal portal(*log, portal_options);
  const portico::service::CommandMeta system{dom::system_actor(), "", {}};
  dom::project::Settings settings;
  settings.name = "Acme";
  REQUIRE(portal.create_project("acme", settings, system));
  REQUIRE(portal.add_staff("acme", {"s-1", "s@acme.test", "Sam", "agent"}, system));
  REQUIRE(portal.register_customer({"c-1", "ann@x.test", "Ann", "ann"}, system));
  const portico::service::CommandMeta ann{{dom::Realm::customer, "c-1"}, "", {}};
  const portico::service::CommandMeta sam{{dom::Realm::staff, "s-1"}, "", {}};
  REQUIRE(portal.join_project("c-1", "acme", ann));
  now += 60'000'000;  // 02:01
  REQUIRE(portal.open_ticket("acme", {0, "Broken", "It fails", "m-1", {}, {}, {}, {}}, ann));
  now += 60'000'000;  // 02:02
  REQUIRE(portal.execute("acme", 1, dt::SetStatus{dom::Status::in_progress}, sam));
  now += 60'000'000;  // 02:03
  REQUIRE(portal.execute("acme", 1, dt::SetStatus{dom::Status::resolved}, sam));

  const std::string d = dir.path().string();
  auto all =
      portico::test::run({PORTICO_AUDIT, "history", d, "--project", "acme", "--ticket", "1"});
  CHECK(all.exit_code == 0);
  CHECK(all.out.find("2026-11-22T02:01:00.000000Z") != std::string::npos);
  CHECK(all.out.find("customer:c-1") != std::string::npos);
  CHECK(all.out.find("TicketOpened") != std::string::npos);
  CHECK(all.out.find("staff:s-1") != std::string::npos);
  CHECK(all.out.find("SurveyOffered") != std::string::npos);
  CHECK(all.out.find(R"("status":"resolved")") != std::string::npos);

  auto past = portico::test::run({PORTICO_AUDIT, "history", d, "--project", "acme", "--ticket", "1",
                                  "--at", "2026-11-22T02:02:30Z"});
  CHECK(past.exit_code == 0);
  CHECK(past.out.find("state of acme #1 at 2026-11-22T02:02:30.000000Z (2 of 4 events)") !=
        std::string::npos);
  CHECK(past.out.find(R"("status":"in_progress")") != std::string::npos);
  CHECK(past.out.find("SurveyOffered") == std::string::npos);

  auto before = portico::test::run({PORTICO_AUDIT, "history", d, "--project", "acme", "--ticket",
                                    "1", "--at", "2026-11-22T02:00:30Z"});
  CHECK(before.out.find("(not opened yet)") != std::string::npos);

  CHECK(portico::test::run({PORTICO_AUDIT, "history", d, "--project", "acme", "--ticket", "9"})
            .exit_code == 2);
  CHECK(portico::test::run({PORTICO_AUDIT, "history", d, "--project", "acme"}).exit_code == 2);
  CHECK(portico::test::run({PORTICO_AUDIT, "history", d, "--project", "acme", "--ticket", "1",
                            "--at", "yesterday"})
            .exit_code == 2);
}
