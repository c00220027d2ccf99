// The async side: the outbox fed by a Runner, its delivery bookkeeping, and a feed killed at
// random moments that resumes without losing or double-applying an event.
#include <doctest/doctest.h>

#include <map>
#include <portico/projections/outbox.hpp>
#include <portico/projections/runner.hpp>
#include <random>
#include <set>
#include <thread>

#include "../core/log/count_projection.hpp"
#include "../support/child_process.hpp"
#include "views_fixtures.hpp"

using namespace portico::test;
using namespace std::chrono_literals;
namespace proj = portico::projections;
namespace plog = portico::log;
namespace dom = portico::domain;
namespace dt = portico::domain::ticket;

namespace {

plog::Options outbox_options() {
  plog::Options o;
  o.async_projections = {proj::Outbox::projection(), std::make_shared<CountProjection>()};
  return o;
}

std::multiset<std::string> kinds(const std::vector<proj::Delivery>& ds) {
  std::multiset<std::string> out;
  for (const auto& d : ds) out.insert(d.kind + " " + d.recipient);
  return out;
}

}  // namespace

TEST_CASE("the outbox holds one delivery per event and recipient that warrants an e-mail") {
  Desk d(Desk::default_settings(), outbox_options());
  const auto n = d.open("c-ann");
  REQUIRE(d.portal->execute("acme", n, dt::CreateInvite{"i", "h"}, Desk::as_customer("c-ann")));
  REQUIRE(d.portal->execute("acme", n, dt::JoinByInvite{"h"}, Desk::as_customer("c-bob")));
  REQUIRE(d.portal->execute("acme", n, dt::PostStaffMessage{"m-s", "hi", false, std::nullopt},
                            Desk::as_staff("s-agent")));
  REQUIRE(d.portal->execute("acme", n, dt::PostStaffMessage{"m-i", "note", true, std::nullopt},
                            Desk::as_staff("s-agent")));
  REQUIRE(d.portal->execute("acme", n, dt::SetStatus{dom::Status::resolved},
                            Desk::as_staff("s-agent")));
  proj::Outbox outbox(*d.log);
  proj::Runner runner(*d.log, "outbox");
  REQUIRE(runner.start());
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  auto pending = outbox.pending();
  REQUIRE(pending);
  CHECK(kinds(*pending) == std::multiset<std::string>{"ticket_created c-ann", "staff_replied c-ann",
                                                      "staff_replied c-bob", "status_changed c-ann",
                                                      "feedback_requested c-ann"});
  CHECK(outbox.pending_count().value() == 5);

  // A reply later is picked up by the running feed.
  REQUIRE(d.portal->execute("acme", n, dt::PostStaffMessage{"m-2", "more", false, std::nullopt},
                            Desk::as_staff("s-agent")));
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  CHECK(outbox.pending_count().value() == 7);
  runner.stop();

  // Sending: due ones first; delivered ones go; failed ones come back later; in the end dead.
  // Events carry the time of their decision (the handler keeps it from going back behind the
  // log's clock): a minute after the last one, all are due.
  const auto now = outbox.pending().value().back().created_at + 60 * dom::kSecond;
  auto due = outbox.due(now);
  REQUIRE(due);
  REQUIRE(due->size() == 7);
  REQUIRE(outbox.delivered(due->front().id));
  CHECK(outbox.pending_count().value() == 6);
  CHECK_FALSE(outbox.delivered(due->front().id));  // not twice
  const std::string flaky = (*due)[1].id;
  REQUIRE(outbox.failed(flaky, now, "smtp: 451 try later"));
  auto again = outbox.due(now);
  REQUIRE(again);
  CHECK(again->size() == 5);  // the failed one waits its backoff
  auto later = outbox.due(now + dom::kHour);
  REQUIRE(later);
  CHECK(later->size() == 6);
  for (std::uint32_t i = 1; i < proj::Outbox::kMaxAttempts; ++i) {
    REQUIRE(outbox.failed(flaky, now + static_cast<dom::TimeUs>(i) * dom::kDay, "still down"));
  }
  auto dead = outbox.dead();
  REQUIRE(dead);
  REQUIRE(dead->size() == 1);
  CHECK(dead->front().id == flaky);
  CHECK(dead->front().attempts == proj::Outbox::kMaxAttempts);
  CHECK(dead->front().last_error == "still down");
  CHECK(outbox.pending_count().value() == 5);
  CHECK_FALSE(outbox.failed("no-such-id", now, "x"));

  // A batch goes in one write: the rest at once, an unknown and a repeated id skipped.
  auto rest = outbox.due(now + dom::kHour);
  REQUIRE(rest);
  REQUIRE(rest->size() == 5);
  std::vector<std::string> ids{"no-such-id"};
  for (const auto& r : *rest) ids.push_back(r.id);
  ids.push_back(rest->front().id);
  REQUIRE(outbox.delivered(std::span<const std::string>(ids)));
  CHECK(outbox.pending_count().value() == 0);
  CHECK(outbox.due(now + dom::kDay * 30).value().empty());
  CHECK(outbox.dead().value().size() == 1);  // the dead one stays dead
}

TEST_CASE("a runner refuses an inline projection and an unknown one") {
  Desk d(Desk::default_settings(), views_options());
  proj::Runner inline_runner(*d.log, std::string(proj::Views::kName));
  CHECK_FALSE(inline_runner.start());
  proj::Runner unknown(*d.log, "nope");
  CHECK_FALSE(unknown.start());
}

TEST_CASE("an async feed killed at random moments resumes without losing or repeating an event") {
  // Registered from the start, so the outbox covers the whole history.
  Desk d(Desk::default_settings(), outbox_options());
  std::mt19937 rng(7);
  auto busy = [&](int tickets) {
    for (int i = 0; i < tickets; ++i) {
      const auto n = d.open(i % 2 ? "c-ann" : "c-bob");
      REQUIRE(d.portal->execute(
          "acme", n, dt::PostStaffMessage{"s-" + std::to_string(n), "answer", false, std::nullopt},
          Desk::as_staff("s-agent")));
      if (i % 3 == 0) {
        REQUIRE(d.portal->execute("acme", n, dt::SetStatus{dom::Status::resolved},
                                  Desk::as_staff("s-agent")));
      }
    }
  };
  busy(300);
  int kills_mid_feed = 0;
  for (int round = 0; round < 10; ++round) {
    ChildProcess child({PORTICO_PROJECTIONS_TEST_CHILD, "runner", d.dir.path().string()});
    REQUIRE(child.read_line(30s));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 60));
    child.kill(SIGKILL);
    const std::string rest = child.read_rest();
    child.wait();
    if (rest.find("position") != std::string::npos) ++kills_mid_feed;
    busy(20);  // the log moves on while nobody feeds the projections
  }
  const std::uint64_t head = d.log->head().value();
  {
    // Once more, to the end.
    ChildProcess child({PORTICO_PROJECTIONS_TEST_CHILD, "runner", d.dir.path().string()});
    bool reached = false;
    for (int i = 0; i < 100'000 && !reached; ++i) {
      auto line = child.read_line(30s);
      REQUIRE(line);
      reached = *line == "position " + std::to_string(head);
    }
    CHECK(reached);
    child.kill(SIGKILL);
    child.wait();
  }
  CHECK(kills_mid_feed >= 3);
  long counted = 0;
  REQUIRE(d.log->read_projection("counts", [&](const plog::TableReader& t) {
    CHECK(t.position() == head);
    counted = CountProjection::read(t, 1, "events");
  }));
  CHECK(counted == static_cast<long>(head));  // each event exactly once

  // The deliveries the history warrants, worked out from the log by hand: every ticket here has
  // its creator as its only participant, so each warranting event tells one person.
  std::set<std::string> expected;
  std::map<std::string, std::string> creators;
  for (std::uint64_t next = 1; next <= head;) {
    auto chunk = d.log->read_all(next, 4096).value();
    for (const auto& r : chunk) {
      const auto p = r.payload_object();
      if (r.type == "TicketOpened") creators[r.stream] = p.at("creator").as_string().c_str();
      const bool tells = r.type == "TicketOpened" || r.type == "StatusChanged" ||
                         r.type == "TicketClosed" || r.type == "TicketReopened" ||
                         r.type == "SurveyOffered" ||
                         (r.type == "MessagePosted" && !p.at("internal").as_bool() &&
                          p.at("author").at("realm").as_string() == "staff");
      if (tells) expected.insert(std::to_string(r.position) + ":" + creators[r.stream]);
    }
    next = chunk.back().position + 1;
  }
  proj::Outbox outbox(*d.log);
  auto pending = outbox.pending(1'000'000);
  REQUIRE(pending);
  std::set<std::string> ids;
  for (const auto& p : *pending) ids.insert(p.id);
  CHECK(ids.size() == pending->size());
  CHECK(ids == expected);
  CHECK(outbox.pending_count().value() == expected.size());
  CHECK(expected.size() >= 500 * 2);
}

TEST_CASE("a reset outbox rebuilds who is on each ticket but sends nothing again") {
  Desk d(Desk::default_settings(), outbox_options());
  const auto n = d.open("c-ann");
  REQUIRE(d.portal->execute("acme", n, dt::CreateInvite{"i", "h"}, Desk::as_customer("c-ann")));
  REQUIRE(d.portal->execute("acme", n, dt::JoinByInvite{"h"}, Desk::as_customer("c-bob")));
  proj::Runner runner(*d.log, "outbox");
  REQUIRE(runner.start());
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  proj::Outbox outbox(*d.log);
  CHECK(outbox.pending_count().value() == 1);  // ticket_created to ann
  // Reset (a rebuild, or a new outbox version) while the runner runs.
  const std::string name = "outbox";
  REQUIRE(d.log->rebuild_projections(std::span(&name, 1)));
  CHECK(outbox.pending_count().value() == 0);
  CHECK(d.log->projection_info("outbox").value().position == 0);
  // The runner follows the reset and replays the history, queueing nothing old...
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  CHECK(outbox.pending_count().value() == 0);
  // ...but knows who is on the ticket: a staff reply goes to both, a status change to the
  // creator.
  REQUIRE(d.portal->execute("acme", n, dt::PostStaffMessage{"m-s", "hi", false, std::nullopt},
                            Desk::as_staff("s-agent")));
  REQUIRE(d.portal->execute("acme", n, dt::SetStatus{dom::Status::in_progress},
                            Desk::as_staff("s-agent")));
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  auto pending = outbox.pending();
  REQUIRE(pending);
  CHECK(kinds(*pending) == std::multiset<std::string>{"staff_replied c-ann", "staff_replied c-bob",
                                                      "status_changed c-ann"});
}

TEST_CASE("customers who left the project are not e-mailed about its tickets") {
  Desk d(Desk::default_settings(), outbox_options());
  const auto n = d.open("c-ann");
  REQUIRE(d.portal->execute("acme", n, dt::CreateInvite{"i", "h"}, Desk::as_customer("c-ann")));
  REQUIRE(d.portal->execute("acme", n, dt::JoinByInvite{"h"}, Desk::as_customer("c-bob")));
  REQUIRE(d.portal->leave_project("c-bob", "acme", Desk::as_customer("c-bob")));
  REQUIRE(d.portal->execute("acme", n, dt::PostStaffMessage{"m-s", "secret", false, std::nullopt},
                            Desk::as_staff("s-agent")));
  proj::Runner runner(*d.log, "outbox");
  REQUIRE(runner.start());
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  proj::Outbox outbox(*d.log);
  auto pending = outbox.pending();
  REQUIRE(pending);
  CHECK(kinds(*pending) ==
        std::multiset<std::string>{"ticket_created c-ann", "staff_replied c-ann"});
}
