// The scheduler closes a ticket once at its time, also when restarted around that time.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <portico/errc.hpp>
#include <portico/service/scheduler.hpp>
#include <string>
#include <vector>

#include "service_fixtures.hpp"

using namespace portico::test;
using portico::service::Scheduler;

namespace {

int count_closed(const Desk& desk, std::uint64_t n) {
  auto records =
      desk.log->read_stream(dt::stream_id("acme", n), 1, portico::log::Direction::forward, 10'000);
  REQUIRE(records);
  int closed = 0;
  for (const auto& r : *records) closed += r.type == "TicketClosed";
  return closed;
}

}  // namespace

TEST_CASE("a scheduled closure closes the ticket once - at its time") {
  Desk desk;
  const auto n = desk.open("c-ann");
  const dom::TimeUs at = desk.now + dom::kHour;
  REQUIRE(desk.portal->execute("acme", n, dt::ScheduleClosure{at}, Desk::as_staff("s-agent")));
  Scheduler scheduler(*desk.portal, [&] { return desk.now.load(); });
  CHECK(scheduler.step().value() == 0);
  CHECK(scheduler.next_due() == at);
  desk.now = at - 1;
  CHECK(scheduler.step().value() == 0);
  CHECK(desk.ticket(n).status == dom::Status::closure_scheduled);
  desk.now = at;
  CHECK(scheduler.step().value() == 1);
  CHECK(desk.ticket(n).status == dom::Status::closed);
  desk.now = at + dom::kDay;
  scheduler.step().value();
  CHECK(count_closed(desk, n) == 1);
}

TEST_CASE("restarted around the closing time - the scheduler still closes exactly once") {
  for (int restart_after : {0, 1, 2}) {
    CAPTURE(restart_after);
    Desk desk;
    const auto n = desk.open("c-ann");
    const dom::TimeUs at = desk.now + dom::kHour;
    REQUIRE(desk.portal->execute("acme", n, dt::ScheduleClosure{at}, Desk::as_staff("s-agent")));
    {
      Scheduler first(*desk.portal, [&] { return desk.now.load(); });
      first.step().value();
      if (restart_after >= 1) {
        desk.now = at;
        first.step().value();  // closes it, then "crashes"
      }
    }
    desk.now = at + (restart_after == 2 ? dom::kSecond : 0);
    // A fresh scheduler rebuilds its timers from the log.
    Scheduler second(*desk.portal, [&] { return desk.now.load(); });
    second.step().value();
    second.step().value();
    CHECK(desk.ticket(n).status == dom::Status::closed);
    CHECK(count_closed(desk, n) == 1);
  }
}

TEST_CASE("two schedulers racing on one log close once (the command id makes it a replay)") {
  Desk desk;
  const auto n = desk.open("c-ann");
  REQUIRE(desk.portal->execute("acme", n, dt::RequestClosure{}, Desk::as_customer("c-ann")));
  Scheduler a(*desk.portal, [&] { return desk.now.load(); });
  Scheduler b(*desk.portal, [&] { return desk.now.load(); });
  a.step().value();
  b.step().value();
  desk.now = desk.now + 48 * dom::kHour;  // the pending-closure timeout
  std::thread ta([&] { CHECK(a.step()); });
  std::thread tb([&] { CHECK(b.step()); });
  ta.join();
  tb.join();
  CHECK(desk.ticket(n).status == dom::Status::closed);
  CHECK(count_closed(desk, n) == 1);
}

TEST_CASE("resolved tickets close after the project's timeout - a policy change moves the timer") {
  Desk desk;
  const auto n = desk.open("c-ann");
  REQUIRE(desk.portal->execute("acme", n, dt::SetStatus{dom::Status::resolved},
                               Desk::as_staff("s-agent")));
  Scheduler scheduler(*desk.portal, [&] { return desk.now.load(); });
  scheduler.step().value();
  // Surveys expire after 7 days, before the 14-day resolved timeout.
  CHECK(scheduler.next_due() == desk.now + 7 * dom::kDay);
  auto settings = Desk::default_settings();
  settings.policies.resolved_timeout = 2 * dom::kDay;
  REQUIRE(desk.portal->configure_project("acme", settings, Desk::system()));
  scheduler.step().value();
  CHECK(scheduler.next_due() == desk.now + 2 * dom::kDay);
  desk.now = desk.now + 2 * dom::kDay;
  CHECK(scheduler.step().value() == 1);
  CHECK(desk.ticket(n).status == dom::Status::closed);
}

TEST_CASE("a running scheduler thread fires on time and stops cleanly") {
  Desk desk;
  const auto n = desk.open("c-ann");
  // A real clock for this one: the closure is 200 ms away.
  auto real_now = portico::system_clock_us;
  desk.real_time = true;
  REQUIRE(desk.portal->execute("acme", n, dt::ScheduleClosure{real_now() + 200'000},
                               Desk::as_staff("s-agent")));
  Scheduler scheduler(*desk.portal, real_now);
  scheduler.start();
  for (int i = 0; i < 300 && desk.ticket(n).status != dom::Status::closed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  scheduler.stop();
  CHECK(desk.ticket(n).status == dom::Status::closed);
}

TEST_CASE("a timer that cannot fire stays and fires once the log takes writes again") {
  portico::test::TempDir dir;
  std::atomic<dom::TimeUs> now{1'795'000'000'000'000};
  svc::Options options;
  options.clock = [&] { return now.load(); };
  std::uint64_t n = 0;
  {
    auto log = std::move(*portico::log::Log::open(dir.path()));
    svc::Portal portal(*log, options);
    dom::project::Settings s;
    s.name = "Acme";
    REQUIRE(portal.create_project("acme", s, Desk::system()));
    REQUIRE(portal.register_customer({"c-1", "a@x.test", "Ann", "ann"}, Desk::system()));
    REQUIRE(portal.join_project("c-1", "acme", Desk::as_customer("c-1")));
    n = portal.open_ticket("acme", {0, "S", "B", "m-1", {}, {}, {}, {}}, Desk::as_customer("c-1"))
            ->state->number;
    REQUIRE(portal.execute("acme", n, dt::RequestClosure{}, Desk::as_customer("c-1")));
  }
  now = now + 49 * dom::kHour;
  {
    portico::log::Options read_only;
    read_only.read_only = true;
    auto log = std::move(*portico::log::Log::open(dir.path(), read_only));
    svc::Portal portal(*log, options);
    Scheduler scheduler(portal, [&] { return now.load(); });
    auto r = scheduler.step();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == portico::errc::kUnavailable);
    CHECK(scheduler.next_due() == now + dom::kSecond);  // kept, to be tried again
  }
  auto log = std::move(*portico::log::Log::open(dir.path()));
  svc::Portal portal(*log, options);
  Scheduler scheduler(portal, [&] { return now.load(); });
  CHECK(scheduler.step().value() == 1);
  CHECK((*portal.ticket("acme", n))->status == dom::Status::closed);
}

TEST_CASE("a step of the scheduler thread that fails is told to SchedulerOptions on_warning") {
  portico::test::TempDir dir;
  std::atomic<dom::TimeUs> now{1'795'000'000'000'000};
  svc::Options options;
  options.clock = [&] { return now.load(); };
  {
    auto log = std::move(*portico::log::Log::open(dir.path()));
    svc::Portal portal(*log, options);
    dom::project::Settings s;
    s.name = "Acme";
    REQUIRE(portal.create_project("acme", s, Desk::system()));
    REQUIRE(portal.register_customer({"c-1", "a@x.test", "Ann", "ann"}, Desk::system()));
    REQUIRE(portal.join_project("c-1", "acme", Desk::as_customer("c-1")));
    const auto n =
        portal.open_ticket("acme", {0, "S", "B", "m-1", {}, {}, {}, {}}, Desk::as_customer("c-1"))
            ->state->number;
    REQUIRE(portal.execute("acme", n, dt::RequestClosure{}, Desk::as_customer("c-1")));
  }
  now = now + 49 * dom::kHour;  // the pending closure is due...
  portico::log::Options read_only;
  read_only.read_only = true;  // ...and the log refuses to record it
  auto log = std::move(*portico::log::Log::open(dir.path(), read_only));
  svc::Portal portal(*log, options);
  std::mutex mu;
  std::condition_variable told;
  std::vector<std::string> warnings;
  svc::SchedulerOptions scheduler_options;
  // No clock: the portal's, which says the closure is due.
  scheduler_options.on_warning = [&](std::string_view line) {
    std::lock_guard lock(mu);
    warnings.emplace_back(line);
    told.notify_all();
  };
  Scheduler scheduler(portal, std::move(scheduler_options));
  scheduler.start();
  {
    std::unique_lock lock(mu);
    told.wait_for(lock, std::chrono::seconds(10), [&] { return !warnings.empty(); });
  }
  scheduler.stop();
  std::lock_guard lock(mu);
  REQUIRE_FALSE(warnings.empty());
  CHECK(warnings.front().starts_with("scheduler: "));
  CHECK(warnings.front().find("(unavailable)") != std::string::npos);
}
