// The command handler over a real log: numbers, idempotency, retries, context, atomic joins.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "service_fixtures.hpp"

using namespace portico::test;

TEST_CASE("tickets get dense per-project numbers - unique under concurrent opens") {
  Desk desk;
  CHECK(desk.open("c-ann") == 1);
  CHECK(desk.open("c-bob") == 2);
  std::vector<std::thread> threads;
  std::mutex mu;
  std::multiset<std::uint64_t> numbers;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      // A second portal on the same log sees numbers the first one took.
      portico::service::Portal other(*desk.log);
      for (int i = 0; i < 10; ++i) {
        dt::OpenTicket cmd;
        cmd.subject = "Concurrent";
        cmd.body = "Body";
        cmd.message_id = "m-" + std::to_string(t) + "-" + std::to_string(i);
        auto r =
            (t % 2 ? other : *desk.portal).open_ticket("acme", cmd, Desk::as_customer("c-ann"));
        CHECK_MESSAGE(r, (r ? "" : r.error().code + ": " + r.error().message));
        if (r) {
          std::lock_guard lock(mu);
          numbers.insert(r->state->number);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(numbers.size() == 60);
  CHECK(std::set<std::uint64_t>(numbers.begin(), numbers.end()).size() == 60);
  CHECK(*numbers.begin() == 3);
  CHECK(*numbers.rbegin() == 62);
  // Another project counts from 1.
  REQUIRE(desk.portal->join_project("c-ann", "other", Desk::as_customer("c-ann")));
  dt::OpenTicket cmd{0, "Elsewhere", "Body", "m-x", {}, {}, {}, {}};
  CHECK(desk.portal->open_ticket("other", cmd, Desk::as_customer("c-ann"))->state->number == 1);
}

TEST_CASE("a command retried with the same id acts once and answers as the first time") {
  Desk desk;
  const auto n = desk.open("c-ann");
  const auto meta = Desk::as_customer("c-ann", "request-42");
  auto first = desk.portal->execute("acme", n, dt::PostReply{"m-r", "Hello"}, meta);
  REQUIRE(first);
  CHECK_FALSE(first->replayed);
  REQUIRE(first->events.size() == 1);
  auto again = desk.portal->execute("acme", n, dt::PostReply{"m-r", "Hello"}, meta);
  REQUIRE(again);
  CHECK(again->replayed);
  REQUIRE(again->events.size() == 1);
  CHECK(std::get<dt::MessagePosted>(again->events[0]).message_id == "m-r");
  CHECK(desk.ticket(n).messages.size() == 2);

  // Also for a command that a second try would refuse: closure requested once.
  const auto close_meta = Desk::as_customer("c-ann", "request-43");
  REQUIRE(desk.portal->execute("acme", n, dt::RequestClosure{}, close_meta));
  auto replay = desk.portal->execute("acme", n, dt::RequestClosure{}, close_meta);
  REQUIRE(replay);
  CHECK(replay->replayed);
  CHECK(replay->state->status == dom::Status::pending_closure);
  // A new id is a new command, which the rules refuse.
  auto fresh = desk.portal->execute("acme", n, dt::RequestClosure{}, Desk::as_customer("c-ann"));
  REQUIRE_FALSE(fresh);
  CHECK(fresh.error().code == "invalid_transition");

  // Opening a ticket twice with one id opens one ticket.
  dt::OpenTicket cmd{0, "Once", "Body", "m-once", {}, {}, {}, {}};
  auto a = desk.portal->open_ticket("acme", cmd, Desk::as_customer("c-ann", "open-1"));
  auto b = desk.portal->open_ticket("acme", cmd, Desk::as_customer("c-ann", "open-1"));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(b->replayed);
  CHECK(a->state->number == b->state->number);
  CHECK(desk.open("c-ann") == a->state->number + 1);
}

TEST_CASE("events of commands without an id get time-ordered ids - those with one derived ids") {
  Desk desk;
  const auto n = desk.open("c-ann");
  auto last_event_id = [&] {
    auto records = desk.log->read_stream("ticket:acme:" + std::to_string(n), 1,
                                         portico::log::Direction::forward, 100);
    REQUIRE(records);
    REQUIRE(!records->empty());
    return records->back().id;
  };
  REQUIRE(desk.portal->execute("acme", n, dt::PostReply{"r-1", "one"}, Desk::as_customer("c-ann")));
  const auto first = last_event_id();
  REQUIRE(desk.portal->execute("acme", n, dt::PostReply{"r-2", "two"}, Desk::as_customer("c-ann")));
  const auto second = last_event_id();
  // UUIDv7 (RFC 9562): version 7, and later ones sort after earlier ones (the end of the index).
  CHECK((first.bytes[6] >> 4) == 7);
  CHECK((second.bytes[6] >> 4) == 7);
  CHECK(first.bytes < second.bytes);
  // With an id: the name-based id a retry finds (version 8), the same for the same command id.
  const auto meta = Desk::as_customer("c-ann", "request-7");
  REQUIRE(desk.portal->execute("acme", n, dt::PostReply{"m-3", "three"}, meta));
  const auto derived = last_event_id();
  CHECK((derived.bytes[6] >> 4) == 8);
  CHECK(derived.bytes == portico::service::event_id("request-7", 0).bytes);
}

TEST_CASE("a long command id acts once like a short one") {
  Desk desk;
  const auto n = desk.open("c-ann");
  const auto meta = Desk::as_customer("c-ann", std::string(600, 'k'));
  auto first = desk.portal->execute("acme", n, dt::RequestClosure{}, meta);
  REQUIRE(first);
  auto again = desk.portal->execute("acme", n, dt::RequestClosure{}, meta);
  REQUIRE(again);
  CHECK(again->replayed);
  // What the command created is named after a bounded digest of its id.
  REQUIRE(desk.ticket(n).surveys.size() == 1);
  CHECK(desk.ticket(n).surveys[0].id.size() < 100);
}

TEST_CASE("concurrent replies are all recorded: conflicts are retried by deciding again") {
  Desk desk;
  const auto n = desk.open("c-ann");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = desk.portal->execute(
            "acme", n,
            dt::PostStaffMessage{"s-" + std::to_string(t) + "-" + std::to_string(i), "Reply", false,
                                 std::nullopt},
            Desk::as_staff("s-agent"));
        CHECK_MESSAGE(r, (r ? "" : r.error().code + ": " + r.error().message));
      }
    });
  }
  for (auto& th : threads) th.join();
  auto state = desk.ticket(n);
  CHECK(state.messages.size() == 81);
  CHECK(desk.log->stream_version(dt::stream_id("acme", n)).value() == 81);
}

TEST_CASE("the context comes from the log: membership - staff standing - organisations") {
  Desk desk;
  const auto n = desk.open("c-ann");
  // A customer of no relation, staff of another project, an unknown ticket: all not_found.
  CHECK(desk.portal->execute("acme", n, dt::PostReply{"m", "x"}, Desk::as_customer("c-cat"))
            .error()
            .code == "not_found");
  CHECK(desk.portal
            ->execute("acme", n, dt::SetStatus{dom::Status::in_progress}, Desk::as_staff("s-other"))
            .error()
            .code == "not_found");
  CHECK(desk.portal->execute("acme", 99, dt::PostReply{"m", "x"}, Desk::as_customer("c-ann"))
            .error()
            .code == "not_found");
  CHECK(desk.portal->execute("nope", n, dt::PostReply{"m", "x"}, Desk::as_customer("c-ann"))
            .error()
            .code == "not_found");
  CHECK(desk.portal->execute("acme", n, dt::SetStatus{dom::Status::in_progress},
                             Desk::as_staff("s-agent")));

  // Leaving the project hides the ticket; signing in there again shows it.
  REQUIRE(desk.portal->leave_project("c-ann", "acme", Desk::as_customer("c-ann")));
  CHECK(
      desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-ann")).error().code ==
      "not_found");
  REQUIRE(desk.portal->join_project("c-ann", "acme", Desk::as_customer("c-ann")));
  CHECK(desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-ann")));

  // Bob shares Ann's organisation: he reads her ticket only with organisation visibility on.
  CHECK(
      desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-bob")).error().code ==
      "not_found");
  auto settings = Desk::default_settings();
  settings.policies.organization_visibility = true;
  REQUIRE(desk.portal->configure_project("acme", settings, Desk::system()));
  CHECK(desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-bob")));
  // Cat is of another organisation.
  CHECK(
      desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-cat")).error().code ==
      "not_found");
}

TEST_CASE("joining through an invite makes the customer a member in the same append") {
  Desk desk;
  const auto n = desk.open("c-ann");
  REQUIRE(desk.portal->register_customer({"c-new", "new@globex.test", "New", "newbie"},
                                         Desk::system()));
  REQUIRE(desk.portal->execute("acme", n, dt::CreateInvite{"inv-1", "hash-1"},
                               Desk::as_customer("c-ann")));
  const auto head = desk.log->head().value();
  auto joined =
      desk.portal->execute("acme", n, dt::JoinByInvite{"hash-1"}, Desk::as_customer("c-new"));
  REQUIRE(joined);
  CHECK(joined->state->participants.contains("c-new"));
  CHECK(desk.portal->customer("c-new")->projects.contains("acme"));
  auto records = desk.log->read_all(head + 1, 10);
  REQUIRE(records->size() == 2);  // one append: the ticket's and the customer's event
  CHECK(records->at(0).type == "ParticipantJoined");
  CHECK(records->at(1).type == "MembershipJoined");
  // Now a participant, they reply.
  CHECK(desk.portal->execute("acme", n, dt::PostReply{"m-new", "Hi"}, Desk::as_customer("c-new")));
}

TEST_CASE("allowed e-mail domains apply to signing in and to joining through an invite") {
  auto settings = Desk::default_settings();
  Desk desk(settings);
  const auto n = desk.open("c-ann");
  settings.allowed_domains = {"globex.test"};
  REQUIRE(desk.portal->configure_project("acme", settings, Desk::system()));
  REQUIRE(desk.portal->register_customer({"c-out", "x@elsewhere.test", "Out", "outsider"},
                                         Desk::system()));
  auto signin = desk.portal->join_project("c-out", "acme", Desk::as_customer("c-out"));
  REQUIRE_FALSE(signin);
  CHECK(signin.error().code == "domain_not_allowed");
  REQUIRE(desk.portal->execute("acme", n, dt::CreateInvite{"inv-1", "hash-1"},
                               Desk::as_customer("c-ann")));
  auto join =
      desk.portal->execute("acme", n, dt::JoinByInvite{"hash-1"}, Desk::as_customer("c-out"));
  REQUIRE_FALSE(join);
  CHECK(join.error().code == "domain_not_allowed");
  CHECK_FALSE(desk.ticket(n).participants.contains("c-out"));
}

TEST_CASE("handles are unique - a mention reaches only people who can read the ticket") {
  Desk desk;
  auto taken = desk.portal->register_customer({"c-dup", "d@x.test", "Dup", "ann"}, Desk::system());
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == "conflict");
  CHECK(taken.error().field == "handle");
  CHECK(desk.portal->customer_by_handle("ann").value() == std::optional<std::string>("c-ann"));
  CHECK_FALSE(desk.portal->customer("c-dup"));

  const auto n = desk.open("c-ann");
  REQUIRE(desk.portal->execute("acme", n, dt::CreateInvite{"inv-1", "hash-1"},
                               Desk::as_customer("c-ann")));
  REQUIRE(desk.portal->execute("acme", n, dt::JoinByInvite{"hash-1"}, Desk::as_customer("c-bob")));
  auto r = desk.portal->execute(
      "acme", n, dt::PostStaffMessage{"s-1", "@bob and @cat, see @nobody", false, std::nullopt},
      Desk::as_staff("s-agent"));
  REQUIRE(r);
  CHECK(std::get<dt::MessagePosted>(r->events[0]).mentions == std::vector<std::string>{"c-bob"});
}

TEST_CASE("project - customer and staff commands are checked too") {
  Desk desk;
  dom::project::Settings bad = Desk::default_settings();
  bad.name = "";
  CHECK(desk.portal->create_project("fresh", bad, Desk::system()).error().field == "name");
  CHECK(desk.portal->create_project("Bad Slug", Desk::default_settings(), Desk::system())
            .error()
            .field == "slug");
  CHECK(
      desk.portal->create_project("acme", Desk::default_settings(), Desk::system()).error().code ==
      "conflict");
  CHECK(desk.portal->add_staff("acme", {"s-x", "x@acme.test", "X", "boss"}, Desk::system())
            .error()
            .field == "role");
  // An agent may not add staff; an admin may.
  CHECK(desk.portal
            ->add_staff("acme", {"s-x", "x@acme.test", "X", "agent"}, Desk::as_staff("s-agent"))
            .error()
            .code == "forbidden");
  REQUIRE(
      desk.portal->add_staff("acme", {"s-boss", "b@acme.test", "Boss", "admin"}, Desk::system()));
  CHECK(desk.portal->add_staff("acme", {"s-x", "x@acme.test", "X", "agent"},
                               Desk::as_staff("s-boss")));
  CHECK(desk.portal->register_customer({"c-bad", "not-an-email", "Bad", "bad"}, Desk::system())
            .error()
            .field == "email");
}

TEST_CASE("an organisation set up after a ticket was opened makes it visible to colleagues") {
  auto settings = Desk::default_settings();
  settings.organizations.clear();
  settings.policies.organization_visibility = true;
  Desk desk(settings);
  const auto n = desk.open("c-ann");
  CHECK(
      desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-bob")).error().code ==
      "not_found");
  settings.organizations = {{"Globex", {"globex.test"}}};
  REQUIRE(desk.portal->configure_project("acme", settings, Desk::system()));
  CHECK(desk.portal->execute("acme", n, dt::AddFavorite{}, Desk::as_customer("c-bob")));
  settings.organizations = {{"Globex Renamed", {"globex.test"}}};  // both renamed together
  REQUIRE(desk.portal->configure_project("acme", settings, Desk::system()));
  CHECK(desk.portal->execute("acme", n, dt::RemoveFavorite{}, Desk::as_customer("c-bob")));
}

TEST_CASE(
    "the same open retried while the first is in flight opens one ticket - numbers stay dense") {
  Desk desk;
  for (int round = 0; round < 20; ++round) {
    dt::OpenTicket cmd{0, "Twice", "Body", "m-twice", {}, {}, {}, {}};
    const std::string key = "open-race-" + std::to_string(round);
    std::optional<portico::Result<svc::TicketOutcome>> a, b;
    std::thread ta(
        [&] { a.emplace(desk.portal->open_ticket("acme", cmd, Desk::as_customer("c-ann", key))); });
    std::thread tb(
        [&] { b.emplace(desk.portal->open_ticket("acme", cmd, Desk::as_customer("c-ann", key))); });
    ta.join();
    tb.join();
    REQUIRE(*a);
    REQUIRE(*b);
    CHECK((*a)->state->number == (*b)->state->number);
    CHECK((*a)->state->number == static_cast<std::uint64_t>(round + 1));
  }
  CHECK(desk.open("c-ann") == 21);
}

TEST_CASE("a replay shows nothing to a caller who can no longer read the ticket") {
  Desk desk;
  const auto n = desk.open("c-ann");
  REQUIRE(desk.portal->execute("acme", n, dt::CreateInvite{"inv-1", "hash-1"},
                               Desk::as_customer("c-ann")));
  REQUIRE(desk.portal->execute("acme", n, dt::JoinByInvite{"hash-1"}, Desk::as_customer("c-bob")));
  const auto meta = Desk::as_customer("c-bob", "bob-key-1");
  REQUIRE(desk.portal->execute("acme", n, dt::PostReply{"m-b", "Me too"}, meta));
  REQUIRE(
      desk.portal->execute("acme", n, dt::RemoveParticipant{"c-bob"}, Desk::as_customer("c-ann")));
  auto replay = desk.portal->execute("acme", n, dt::PostReply{"m-b", "Me too"}, meta);
  REQUIRE_FALSE(replay);
  CHECK(replay.error().code == "not_found");
}

TEST_CASE("tickets are opened only through open_ticket") {
  Desk desk;
  auto r =
      desk.portal->execute("acme", 50, dt::OpenTicket{50, "Sneaky", "Body", "m", {}, {}, {}, {}},
                           Desk::as_customer("c-ann"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid_request");
  CHECK(desk.open("c-ann") == 1);
}

TEST_CASE("event times never go backwards along a ticket's stream under concurrency") {
  Desk desk;
  desk.real_time = true;
  const auto n = desk.open("c-ann");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        CHECK(desk.portal->execute(
            "acme", n,
            dt::PostStaffMessage{"s-" + std::to_string(t) + "-" + std::to_string(i), "x", false,
                                 std::nullopt},
            Desk::as_staff("s-agent")));
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto messages = desk.ticket(n).messages;
  REQUIRE(messages.size() == 121);
  for (std::size_t i = 1; i < messages.size(); ++i) {
    CHECK(messages[i].created_at >= messages[i - 1].created_at);
  }
}

TEST_CASE(
    "busy tickets stay cached while others pass through - a reply shares the thread it extends") {
  Desk desk;
  svc::Options options;
  options.cached_tickets = 8;
  svc::Portal portal(*desk.log, options);
  // The cache is full of tickets nobody writes to any more.
  for (int k = 0; k < 8; ++k) REQUIRE(portal.ticket("acme", desk.open("c-bob")));
  // Then four tickets take replies in turn, as a busy desk's do.
  std::vector<std::uint64_t> busy;
  for (int k = 0; k < 4; ++k) busy.push_back(desk.open("c-ann"));
  std::vector<std::shared_ptr<const dt::State>> previous(busy.size());
  for (std::size_t round = 0; round < 20; ++round) {
    for (std::size_t k = 0; k < busy.size(); ++k) {
      auto next = portal.execute(
          "acme", busy[k],
          dt::PostReply{"m-" + std::to_string(round) + "-" + std::to_string(k), "One more thing"},
          Desk::as_customer("c-ann"));
      REQUIRE(next);
      REQUIRE(next->state->messages.size() == round + 2);
      if (previous[k]) {
        // Neither folded again from the log nor copied: the messages before the reply are the
        // very ones the previous answer held.
        CHECK(&next->state->messages[0] == &previous[k]->messages[0]);
        CHECK(&next->state->messages[round] == &previous[k]->messages[round]);
      }
      previous[k] = next->state;
    }
    // A ticket this portal has not seen goes through between rounds.
    REQUIRE(portal.ticket("acme", desk.open("c-bob")));
  }
}

TEST_CASE("a command's outcome names what it created and how its caller stands - also on replay") {
  Desk desk;
  const auto n = desk.open("c-ann");
  const auto meta = Desk::as_customer("c-ann", "ann-reply-1");
  auto first = desk.portal->execute("acme", n, dt::PostReply{{}, "Any news?"}, meta);
  REQUIRE(first);
  const std::string id = first->created.message_id;
  REQUIRE_FALSE(id.empty());
  CHECK(first->state->messages.find(id));
  CHECK(first->role == dt::Role::creator);
  CHECK(first->can_read);
  CHECK_FALSE(first->replayed);
  // The retry derives nothing new: the first run's message, once.
  auto again = desk.portal->execute("acme", n, dt::PostReply{{}, "Any news?"}, meta);
  REQUIRE(again);
  CHECK(again->replayed);
  CHECK(again->created.message_id == id);
  CHECK(again->state->messages.size() == first->state->messages.size());
  // Another command id: another message id.
  auto other = desk.portal->execute("acme", n, dt::PostReply{{}, "Any news?"},
                                    Desk::as_customer("c-ann", "ann-reply-2"));
  REQUIRE(other);
  CHECK(other->created.message_id != id);

  // An invite link's id, and a participant's standing after joining by it.
  auto invite =
      desk.portal->execute("acme", n, dt::CreateInvite{{}, "hash-9"}, Desk::as_customer("c-ann"));
  REQUIRE(invite);
  CHECK_FALSE(invite->created.invite_id.empty());
  CHECK(invite->state->invites.contains(invite->created.invite_id));
  auto joined =
      desk.portal->execute("acme", n, dt::JoinByInvite{"hash-9"}, Desk::as_customer("c-bob"));
  REQUIRE(joined);
  CHECK(joined->role == dt::Role::participant);
  CHECK(joined->can_read);
  auto left = desk.portal->execute("acme", n, dt::LeaveTicket{}, Desk::as_customer("c-bob"));
  REQUIRE(left);
  CHECK(left->role == dt::Role::none);
  CHECK_FALSE(left->can_read);
}
