// Commands queued on one ticket are decided in order and appended together
// (detail::execute_together, core/service/src/store.hpp; the Portal's turns, portal.cpp).
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include "service_fixtures.hpp"
#include "store.hpp"

using namespace portico::test;
namespace detail = portico::service::detail;
using detail::TicketTraits;

namespace {

// A decider for `command` as `meta`'s actor, on whatever state it is handed.
std::function<portico::Result<std::vector<dt::Event>>(const dt::State&)> deciding(
    dt::Command command, const svc::CommandMeta& meta, std::string new_id) {
  return [command = std::move(command), actor = meta.actor,
          new_id = std::move(new_id)](const dt::State& s) {
    dt::Context ctx;
    ctx.actor = actor;
    ctx.now = s.updated_at + 1;
    ctx.project = "acme";
    ctx.is_member = true;
    ctx.new_id = new_id;
    return dt::decide(s, command, ctx);
  };
}

}  // namespace

TEST_CASE("queued commands on one ticket are decided in order and stored in one append") {
  Desk desk;
  const auto n = desk.open("c-ann");
  const std::string stream = "ticket:acme:" + std::to_string(n);
  const auto ann = Desk::as_customer("c-ann", "ann-1");
  const auto again = Desk::as_customer("c-ann", "ann-1");  // the same command id: a retry
  const auto bad = Desk::as_customer("c-ann", "ann-bad");
  const auto ann2 = Desk::as_customer("c-ann", "ann-2");
  // The first command acted before (stored alone), so its retry in the queue is a replay.
  detail::Caches caches;
  {
    detail::Queued<TicketTraits> first{
        &ann, ann.command_id, deciding(dt::PostReply{"m-a", "first"}, ann, ""), {}};
    detail::Queued<TicketTraits>* const one[] = {&first};
    detail::execute_together<TicketTraits>(*desk.log, stream, 4, caches, "the ticket", one);
    REQUIRE(first.result);
    REQUIRE(*first.result);
  }
  const auto before = desk.log->stats();
  detail::Queued<TicketTraits> replay{
      &again, again.command_id, deciding(dt::PostReply{"m-a", "first"}, again, ""), {}};
  detail::Queued<TicketTraits> refused{
      &bad, bad.command_id, deciding(dt::EditMessage{"m-none", "x"}, bad, ""), {}};
  detail::Queued<TicketTraits> second{
      &ann2, ann2.command_id, deciding(dt::PostReply{{}, "second"}, ann2, "m-b"), {}};
  // Decided on the state the one before leads to: "m-b" may be edited in the same turn.
  const auto ann3 = Desk::as_customer("c-ann", "ann-3");
  detail::Queued<TicketTraits> edit{
      &ann3, ann3.command_id, deciding(dt::EditMessage{"m-b", "second, edited"}, ann3, ""), {}};
  detail::Queued<TicketTraits>* const queued[] = {&replay, &refused, &second, &edit};
  detail::execute_together<TicketTraits>(*desk.log, stream, 4, caches, "the ticket", queued);

  const auto after = desk.log->stats();
  CHECK(after.appends - before.appends == 1);  // one append for the whole turn

  REQUIRE(replay.result);
  REQUIRE(*replay.result);
  CHECK((*replay.result)->replayed);
  CHECK(dt::created_by((*replay.result)->events).message_id == "m-a");

  REQUIRE(refused.result);
  REQUIRE_FALSE(*refused.result);
  CHECK(refused.result->error().code == "not_found");

  REQUIRE(second.result);
  REQUIRE(*second.result);
  CHECK(dt::created_by((*second.result)->events).message_id == "m-b");
  // Each answer is the state after its own events, not after the whole turn's.
  CHECK((*second.result)->state->messages.find("m-b")->body == "second");
  REQUIRE(edit.result);
  REQUIRE(*edit.result);
  CHECK((*edit.result)->state->messages.find("m-b")->body == "second, edited");
  CHECK((*edit.result)->version == (*second.result)->version + 1);

  auto t = desk.portal->ticket("acme", n);
  REQUIRE(t);
  CHECK((*t)->messages.size() == 3);  // the opening, m-a and m-b once each
  // Each command's events carry its own ids: a later retry of the edit finds it.
  auto edit_again = detail::replayed<TicketTraits>(*desk.log, stream, "ann-3", caches);
  REQUIRE(edit_again);
  REQUIRE(*edit_again);
  CHECK((*edit_again)->events.size() == 1);
}

TEST_CASE(
    "many callers posting to one ticket at once each get their own message - in fewer "
    "appends than commands") {
  Desk desk;
  const auto n = desk.open("c-ann");
  constexpr int kThreads = 16;
  constexpr int kEach = 20;
  const auto before = desk.log->stats();
  std::atomic<int> failed{0};
  std::vector<std::set<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto done =
            desk.portal->execute("acme", n, dt::PostReply{{}, "hello"}, Desk::as_customer("c-ann"));
        if (!done || done->created.message_id.empty() ||
            !done->state->messages.find(done->created.message_id)) {
          ++failed;
          continue;
        }
        ids[t].insert(done->created.message_id);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failed == 0);
  std::set<std::string> all;
  for (const auto& s : ids) all.insert(s.begin(), s.end());
  CHECK(all.size() == kThreads * kEach);
  auto t = desk.portal->ticket("acme", n);
  REQUIRE(t);
  CHECK((*t)->messages.size() == 1 + kThreads * kEach);
  // Sixteen threads on one ticket queue behind each other's appends: turns carry several.
  const auto after = desk.log->stats();
  CHECK(after.appends - before.appends < kThreads * kEach);
  MESSAGE("appends for " << kThreads * kEach << " replies: " << after.appends - before.appends);
}
