// The portal's read models, through the command handler: what a customer or staff member sees
// right after acting.
#include <doctest/doctest.h>

#include <portico/service/scheduler.hpp>

#include "views_fixtures.hpp"

using namespace portico::test;
namespace proj = portico::projections;
namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
using V = std::vector<std::uint64_t>;

TEST_CASE("a customer sees a ticket they opened at once with the newest activity first") {
  ViewsDesk d;
  const auto t1 = d.open("c-ann", "First");
  d.tick();
  const auto t2 = d.open("c-ann", "Second");
  CHECK(d.numbers("c-ann") == V{t2, t1});
  d.tick();
  d.run(t1, dt::PostReply{"m-r1", "more detail"}, Desk::as_customer("c-ann"));
  CHECK(d.numbers("c-ann") == V{t1, t2});  // activity moves it up
  auto page = d.views.customer_tickets("c-ann", "acme", {});
  REQUIRE(page);
  const auto& top = page->items.front();
  CHECK(top.subject == "First");
  CHECK(top.role == dt::Role::creator);
  CHECK(top.status == dom::Status::open);
  CHECK(top.waiting_on == dom::Realm::staff);
  CHECK(top.updated_at > top.created_at);
  CHECK_FALSE(page->next_cursor);
  CHECK(d.numbers("c-bob").empty());  // not his
}

TEST_CASE("reactions and favorites do not move a ticket up the list") {
  ViewsDesk d;
  const auto t1 = d.open("c-ann");
  d.tick();
  const auto t2 = d.open("c-ann");
  d.tick();
  d.run(t1, dt::AddFavorite{}, Desk::as_customer("c-ann"));
  d.run(t1, dt::AddReaction{d.ticket(t1).messages[0].id, "👍"}, Desk::as_customer("c-ann"));
  CHECK(d.numbers("c-ann") == V{t2, t1});
}

TEST_CASE("scopes split tickets created from tickets joined through an invite") {
  ViewsDesk d;
  const auto own = d.open("c-bob", "Bob's own");
  d.tick();
  const auto anns = d.open("c-ann", "Ann's");
  d.run(anns, dt::CreateInvite{"inv-1", "hash-1"}, Desk::as_customer("c-ann"));
  d.run(anns, dt::JoinByInvite{"hash-1"}, Desk::as_customer("c-bob"));
  proj::ListQuery q;
  q.scope = proj::Scope::mine;
  CHECK(d.numbers("c-bob", q) == V{own});
  q.scope = proj::Scope::participating;
  CHECK(d.numbers("c-bob", q) == V{anns});
  CHECK(d.numbers("c-bob") == V{anns, own});
  auto page = d.views.customer_tickets("c-bob", "acme", q);
  REQUIRE(page);
  CHECK(page->items.front().role == dt::Role::participant);
  // A participant who leaves no longer lists it.
  d.run(anns, dt::LeaveTicket{}, Desk::as_customer("c-bob"));
  CHECK(d.numbers("c-bob", q).empty());
  CHECK(d.numbers("c-bob") == V{own});
}

TEST_CASE("the status filter lists only the statuses asked for") {
  ViewsDesk d;
  const auto a = d.open("c-ann");
  const auto b = d.open("c-ann");
  const auto c = d.open("c-ann");
  d.run(b, dt::SetStatus{dom::Status::in_progress}, Desk::as_staff("s-agent"));
  d.run(c, dt::SetStatus{dom::Status::resolved}, Desk::as_staff("s-agent"));
  proj::ListQuery q;
  q.statuses = {dom::Status::open};
  CHECK(d.numbers("c-ann", q) == V{a});
  q.statuses = {dom::Status::in_progress, dom::Status::resolved};
  CHECK(d.numbers("c-ann", q) == V{c, b});
  q.statuses = {dom::Status::closed};
  CHECK(d.numbers("c-ann", q).empty());
}

TEST_CASE("search finds tickets by subject text or number") {
  ViewsDesk d;
  const auto printer = d.open("c-ann", "The Printer is on fire");
  d.open("c-ann", "Password reset");
  proj::ListQuery q;
  q.q = "printer";
  CHECK(d.numbers("c-ann", q) == V{printer});
  q.q = "#" + std::to_string(printer);
  CHECK(d.numbers("c-ann", q) == V{printer});
  q.q = "nothing like this";
  CHECK(d.numbers("c-ann", q).empty());
}

TEST_CASE("a customer who left a project lists nothing there until they sign in again") {
  ViewsDesk d;
  const auto t = d.open("c-ann");
  REQUIRE(d.portal->leave_project("c-ann", "acme", Desk::as_customer("c-ann")));
  CHECK(d.numbers("c-ann").empty());
  auto overview = d.views.overview("c-ann", "acme");
  REQUIRE(overview);
  CHECK(overview->active == 0);
  CHECK(overview->recent.empty());
  auto favorites = d.views.favorites("c-ann", "acme");
  REQUIRE(favorites);
  CHECK(favorites->items.empty());
  REQUIRE(d.portal->join_project("c-ann", "acme", Desk::as_customer("c-ann")));
  CHECK(d.numbers("c-ann") == V{t});
}

TEST_CASE("organisation members see the organisation's tickets only when the project enables it") {
  // ann and bob share globex.test (the Globex organisation); cat is elsewhere.
  ViewsDesk d;
  const auto anns = d.open("c-ann", "Ann's");
  const auto cats = d.open("c-cat", "Cat's");
  proj::ListQuery org;
  org.scope = proj::Scope::organization;
  CHECK(d.numbers("c-bob").empty());
  CHECK(d.numbers("c-bob", org).empty());

  auto settings = Desk::default_settings();
  settings.policies.organization_visibility = true;
  REQUIRE(d.portal->configure_project("acme", settings, Desk::system()));
  CHECK(d.numbers("c-bob") == V{anns});
  CHECK(d.numbers("c-bob", org) == V{anns});
  auto page = d.views.customer_tickets("c-bob", "acme", {});
  REQUIRE(page);
  CHECK(page->items.front().role == dt::Role::organization);
  CHECK(d.numbers("c-cat") == V{cats});  // no organisation: own tickets only
  // Ann's own list holds her ticket once, though it is hers and her organisation's.
  CHECK(d.numbers("c-ann") == V{anns});
  auto overview = d.views.overview("c-ann", "acme");
  REQUIRE(overview);
  CHECK(overview->active == 1);
  auto bobs = d.views.overview("c-bob", "acme");
  REQUIRE(bobs);
  CHECK(bobs->active == 1);
  CHECK(bobs->by_status[dom::Status::open] == 1);

  // The organisation is renamed away from globex.test: visibility goes with it.
  settings.organizations = {{"Initech", {"initech.test"}}};
  REQUIRE(d.portal->configure_project("acme", settings, Desk::system()));
  CHECK(d.numbers("c-bob").empty());
}

TEST_CASE("the overview counts by status and shows the recent tickets") {
  ViewsDesk d;
  const auto a = d.open("c-ann");
  const auto b = d.open("c-ann");
  const auto c = d.open("c-ann");
  d.run(b, dt::SetStatus{dom::Status::awaiting_customer}, Desk::as_staff("s-agent"));
  d.run(c, dt::SetStatus{dom::Status::resolved}, Desk::as_staff("s-agent"));
  auto o = d.views.overview("c-ann", "acme");
  REQUIRE(o);
  CHECK(o->active == 2);
  CHECK(o->by_status[dom::Status::open] == 1);
  CHECK(o->by_status[dom::Status::awaiting_customer] == 1);
  CHECK(o->by_status[dom::Status::resolved] == 1);
  CHECK(o->by_status[dom::Status::closed] == 0);
  REQUIRE(o->recent.size() == 3);
  CHECK(o->recent.front().number == c);
  (void)a;
}

TEST_CASE("favorites disappear when the ticket is resolved or closed") {
  ViewsDesk d;
  const auto a = d.open("c-ann");
  const auto b = d.open("c-ann");
  const auto c = d.open("c-ann");
  for (auto n : {a, b, c}) {
    d.tick();
    d.run(n, dt::AddFavorite{}, Desk::as_customer("c-ann"));
  }
  auto favs = [&] {
    auto page = d.views.favorites("c-ann", "acme");
    REQUIRE(page);
    V out;
    for (const auto& s : page->items) {
      CHECK(s.favorite);
      out.push_back(s.number);
    }
    return out;
  };
  CHECK(favs() == V{c, b, a});  // newest marked first
  auto list = d.views.customer_tickets("c-ann", "acme", {});
  REQUIRE(list);
  CHECK(list->items.front().favorite);
  d.run(a, dt::SetStatus{dom::Status::resolved}, Desk::as_staff("s-agent"));
  CHECK(favs() == V{c, b});
  d.run(b, dt::RequestClosure{}, Desk::as_customer("c-ann"));
  d.run(b, dt::CloseNow{}, Desk::as_customer("c-ann"));
  CHECK(favs() == V{c});
  d.run(c, dt::RemoveFavorite{}, Desk::as_customer("c-ann"));
  CHECK(favs().empty());
}

TEST_CASE("staff replies mentions and surveys reach the bell across projects") {
  ViewsDesk d;
  // Ann is a member of both projects.
  REQUIRE(d.portal->join_project("c-ann", "other", Desk::as_customer("c-ann")));
  const auto acme_ticket = d.open("c-ann", "Acme trouble");
  dt::OpenTicket other;
  other.subject = "Other trouble";
  other.body = "Hello";
  other.message_id = "m-other";
  auto opened = d.portal->open_ticket("other", other, Desk::as_customer("c-ann"));
  REQUIRE(opened);
  d.tick();
  d.run(acme_ticket, dt::PostStaffMessage{"m-s1", "We are looking into it", false, std::nullopt},
        Desk::as_staff("s-agent"));
  d.tick();
  REQUIRE(d.portal->execute("other", opened->state->number,
                            dt::PostStaffMessage{"m-s2", "Hi from other", false, std::nullopt},
                            Desk::as_staff("s-other")));
  // An internal note tells nobody.
  d.run(acme_ticket, dt::PostStaffMessage{"m-s3", "internal", true, std::nullopt},
        Desk::as_staff("s-agent"));
  // Bob mentions ann on his own ticket... she cannot read it: no notification.
  const auto bobs = d.open("c-bob");
  d.run(bobs, dt::PostReply{"m-b1", "cc @ann"}, Desk::as_customer("c-bob"));
  // ...then invites her, and mentions her again.
  d.run(bobs, dt::CreateInvite{"inv-b", "hash-b"}, Desk::as_customer("c-bob"));
  d.run(bobs, dt::JoinByInvite{"hash-b"}, Desk::as_customer("c-ann"));
  d.tick();
  d.run(bobs, dt::PostReply{"m-b2", "@ann have a look"}, Desk::as_customer("c-bob"));
  d.tick();
  d.run(acme_ticket, dt::SetStatus{dom::Status::resolved}, Desk::as_staff("s-agent"));

  auto bell = d.views.notifications("c-ann");
  REQUIRE(bell);
  REQUIRE(bell->items.size() == 4);
  CHECK(bell->unread == 4);
  CHECK(bell->items[0].kind == proj::NotificationKind::survey);
  CHECK(bell->items[0].ticket == acme_ticket);
  CHECK(bell->items[1].kind == proj::NotificationKind::mention);
  CHECK(bell->items[1].preview == "@ann have a look");
  CHECK(bell->items[2].kind == proj::NotificationKind::staff_reply);
  CHECK(bell->items[2].project == "other");
  CHECK(bell->items[3].kind == proj::NotificationKind::staff_reply);
  CHECK(bell->items[3].project == "acme");
  CHECK(bell->items[3].subject == "Acme trouble");
  CHECK(bell->items[3].preview == "We are looking into it");

  // Mark one read; then all.
  REQUIRE(d.portal->read_notifications("c-ann", dom::inbox::MarkRead{{bell->items[2].id}},
                                       Desk::as_customer("c-ann")));
  auto after = d.views.notifications("c-ann", true);
  REQUIRE(after);
  CHECK(after->unread == 3);
  CHECK(after->items.size() == 3);
  // Answering the survey takes it out of the bell's unread count.
  d.run(acme_ticket, dt::AnswerSurvey{5, std::nullopt, std::nullopt}, Desk::as_customer("c-ann"));
  CHECK(d.views.notifications("c-ann").value().unread == 2);
  const auto newest = d.views.newest_notification("c-ann").value();
  REQUIRE(d.portal->read_notifications("c-ann", dom::inbox::MarkAllRead{newest},
                                       Desk::as_customer("c-ann")));
  CHECK(d.views.notifications("c-ann").value().unread == 0);
  // Someone else cannot read ann's notifications.
  auto theft =
      d.portal->read_notifications("c-ann", dom::inbox::MarkRead{{1}}, Desk::as_customer("c-bob"));
  CHECK_FALSE(theft);
  CHECK(d.views.notification("c-ann", bell->items[0].id).value().has_value());
  CHECK_FALSE(d.views.notification("c-bob", bell->items[0].id).value().has_value());
}

TEST_CASE("the scheduler expires a survey after 7 days: recorded and its bell entry read") {
  ViewsDesk d;
  const auto t = d.open("c-ann");
  d.run(t, dt::SetStatus{dom::Status::resolved}, Desk::as_staff("s-agent"));
  auto bell = d.views.notifications("c-ann");
  REQUIRE(bell);
  REQUIRE(bell->items.size() == 1);
  CHECK(bell->items[0].kind == proj::NotificationKind::survey);
  CHECK(bell->unread == 1);
  // No timeout would close it first: only the survey's week is due.
  svc::Scheduler scheduler(*d.portal, [&d] { return d.now.load(); });
  d.tick(7 * dom::kDay - dom::kSecond);
  REQUIRE(scheduler.step());
  CHECK(d.views.notifications("c-ann").value().unread == 1);
  d.tick(dom::kSecond);
  auto fired = scheduler.step();
  REQUIRE(fired);
  CHECK(*fired == 1);
  const auto state = d.ticket(t);
  REQUIRE(state.surveys.size() == 1);
  CHECK(state.surveys[0].state == dt::SurveyState::expired);
  auto after = d.views.notifications("c-ann");
  REQUIRE(after);
  CHECK(after->unread == 0);
  REQUIRE(after->items.size() == 1);
  CHECK(after->items[0].read);
  // The resolved ticket itself still closes at its own (14-day) time, once.
  d.tick(7 * dom::kDay);
  REQUIRE(scheduler.step());
  CHECK(d.ticket(t).status == dom::Status::closed);
}

TEST_CASE("mark all read leaves notifications that came after the newest one seen unread") {
  ViewsDesk d;
  const auto t = d.open("c-ann");
  d.run(t, dt::PostStaffMessage{"s-1", "one", false, std::nullopt}, Desk::as_staff("s-agent"));
  const auto seen = d.views.newest_notification("c-ann").value();
  d.run(t, dt::PostStaffMessage{"s-2", "two", false, std::nullopt}, Desk::as_staff("s-agent"));
  REQUIRE(d.portal->read_notifications("c-ann", dom::inbox::MarkAllRead{seen},
                                       Desk::as_customer("c-ann")));
  auto bell = d.views.notifications("c-ann");
  REQUIRE(bell);
  CHECK(bell->unread == 1);
  CHECK_FALSE(bell->items[0].read);
  CHECK(bell->items[1].read);
}

TEST_CASE("the staff queue filters by status team and priority") {
  ViewsDesk d;
  const auto a = d.open("c-ann");
  const auto b = d.open("c-bob");
  const auto c = d.open("c-cat");
  d.run(a, dt::UpdateTicket{"high", "billing"}, Desk::as_staff("s-agent"));
  d.run(b, dt::UpdateTicket{std::nullopt, "billing"}, Desk::as_staff("s-agent"));
  d.run(c, dt::SetStatus{dom::Status::in_progress}, Desk::as_staff("s-agent"));
  auto queue = [&](proj::QueueQuery q) {
    auto page = d.views.staff_queue("acme", q);
    REQUIRE(page);
    V out;
    for (const auto& s : page->items) out.push_back(s.number);
    return out;
  };
  CHECK(queue({}) == V{c, b, a});
  CHECK(queue({{dom::Status::open}, {}, {}}) == V{b, a});
  CHECK(queue({{}, {"billing"}, {}}) == V{b, a});
  CHECK(queue({{dom::Status::open}, {"billing"}, {"high"}}) == V{a});
  CHECK(queue({{dom::Status::open, dom::Status::in_progress}, {}, {"normal"}}) == V{c, b});
  CHECK(queue({{}, {""}, {}}) == V{c});  // no team
  auto other = d.views.staff_queue("other", {});
  REQUIRE(other);
  CHECK(other->items.empty());  // nothing of acme's
  // Waiting on: a staff reply hands the ticket to the customer; a customer reply back to staff.
  d.run(a, dt::PostStaffMessage{"m-s", "answer", false, std::nullopt}, Desk::as_staff("s-agent"));
  CHECK(d.views.summary("acme", a).value()->waiting_on == dom::Realm::customer);
  d.run(a, dt::PostReply{"m-c", "thanks"}, Desk::as_customer("c-ann"));
  CHECK(d.views.summary("acme", a).value()->waiting_on == dom::Realm::staff);
}

TEST_CASE("bad list arguments are refused with the field named") {
  ViewsDesk d;
  proj::ListQuery q;
  q.limit = 0;
  auto r = d.views.customer_tickets("c-ann", "acme", q);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "invalid_request");
  CHECK(r.error().field == "limit");
  q.limit = 101;
  CHECK_FALSE(d.views.customer_tickets("c-ann", "acme", q));
  q.limit = 20;
  q.cursor = "not-a-cursor";
  r = d.views.customer_tickets("c-ann", "acme", q);
  REQUIRE_FALSE(r);
  CHECK(r.error().field == "cursor");
  auto n = d.views.notifications("c-ann", false, 20, "zz");
  REQUIRE_FALSE(n);
  CHECK(n.error().field == "cursor");
  CHECK(proj::parse_scope("mine") == proj::Scope::mine);
  CHECK_FALSE(proj::parse_scope("everything"));
}

TEST_CASE("pages walk a long list without repeats or gaps") {
  ViewsDesk d;
  V all;
  for (int i = 0; i < 57; ++i) {
    d.tick();
    all.insert(all.begin(), d.open("c-ann"));
  }
  for (std::size_t limit : {1u, 7u, 20u, 57u, 100u}) {
    V walked;
    proj::ListQuery q;
    q.limit = limit;
    for (int pages = 0;; ++pages) {
      REQUIRE(pages < 100);
      auto page = d.views.customer_tickets("c-ann", "acme", q);
      REQUIRE(page);
      CHECK(page->items.size() <= limit);
      for (const auto& s : page->items) walked.push_back(s.number);
      if (!page->next_cursor) break;
      q.cursor = *page->next_cursor;
    }
    CHECK(walked == all);
  }
}

TEST_CASE("a search that runs out of budget in one range still walks every match of the others") {
  auto settings = Desk::default_settings();
  settings.policies.organization_visibility = true;
  ViewsDesk d(settings);
  // Ann sees Bob's tickets through their organisation: more than a search page reads.
  dt::OpenTicket hay;
  hay.subject = "hay";
  hay.body = "nothing here";
  for (std::size_t i = 0; i <= proj::kSearchBudget; ++i) {
    hay.message_id = "hay-" + std::to_string(i);
    REQUIRE(d.portal->open_ticket("acme", hay, Desk::as_customer("c-bob")));
  }
  // Cat's tickets Ann joined: her own range, newer than every hay ticket.
  V needles;
  for (int i = 0; i < 3; ++i) {
    d.tick();
    const auto n = d.open("c-cat", "needle " + std::to_string(i));
    d.run(n, dt::CreateInvite{"inv-" + std::to_string(i), "h-" + std::to_string(i)},
          Desk::as_customer("c-cat"));
    d.run(n, dt::JoinByInvite{"h-" + std::to_string(i)}, Desk::as_customer("c-ann"));
    needles.insert(needles.begin(), n);
  }
  for (std::size_t limit : {1u, 2u, 100u}) {
    proj::ListQuery q;
    q.q = "needle";
    q.limit = limit;
    V found;
    for (int pages = 0; pages < 50; ++pages) {
      auto page = d.views.customer_tickets("c-ann", "acme", q);
      REQUIRE(page);
      for (const auto& s : page->items) found.push_back(s.number);
      if (!page->next_cursor) break;
      q.cursor = *page->next_cursor;
    }
    CHECK(found == needles);
  }
}

TEST_CASE("a customer who left the project hears nothing new from it") {
  ViewsDesk d;
  const auto n = d.open("c-ann");
  d.run(n, dt::CreateInvite{"i", "h"}, Desk::as_customer("c-ann"));
  d.run(n, dt::JoinByInvite{"h"}, Desk::as_customer("c-bob"));
  REQUIRE(d.portal->leave_project("c-bob", "acme", Desk::as_customer("c-bob")));
  d.run(n, dt::PostStaffMessage{"m-s", "account details", false, std::nullopt},
        Desk::as_staff("s-agent"));
  auto bobs = d.views.notifications("c-bob");
  REQUIRE(bobs);
  CHECK(bobs->items.empty());
  CHECK(bobs->unread == 0);
  CHECK(d.views.notifications("c-ann").value().unread == 1);
}
