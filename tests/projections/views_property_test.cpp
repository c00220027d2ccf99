// Random histories through the command handler: the live views always agree with the domain's own
// state (an oracle written from PRODUCT.md's visibility rules), and with a rebuild from the log.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "views_fixtures.hpp"

using namespace portico::test;
namespace proj = portico::projections;
namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
using V = std::vector<std::uint64_t>;

namespace {

const std::vector<std::string> kCustomers = {"c-ann", "c-bob", "c-cat", "c-dan"};
const std::map<std::string, std::string> kEmails = {{"c-ann", "ann@globex.test"},
                                                    {"c-bob", "bob@globex.test"},
                                                    {"c-cat", "cat@initech.test"},
                                                    {"c-dan", "dan@globex.test"}};

struct World {
  ViewsDesk d;
  std::mt19937 rng;
  std::uint64_t tickets = 0;
  int ids = 0;

  explicit World(unsigned seed) : rng(seed) {
    d.customer("c-dan", "dan@globex.test", "dan");
    configure(false, false);
  }
  // Customers choose priorities here (--customer-priority on), so the tickets vary in it.
  void configure(bool visibility, bool organizations) {
    auto settings = Desk::default_settings();
    settings.customer_priority = true;
    settings.policies.organization_visibility = visibility;
    if (organizations) settings.organizations = {{"Initech", {"initech.test", "globex.test"}}};
    (void)d.portal->configure_project("acme", settings, Desk::system());
  }

  template <class Sequence>  // a std::vector or a ticket's Thread
  const auto& pick(const Sequence& v) {
    return v[rng() % v.size()];
  }
  std::string id(const char* prefix) { return prefix + std::to_string(++ids); }
  bool chance(int percent) { return static_cast<int>(rng() % 100) < percent; }

  // One random action; refusals are part of the game (they must change nothing).
  void step() {
    d.now += static_cast<dom::TimeUs>(rng() % 3) * dom::kSecond;  // ties happen too
    const std::string who = pick(kCustomers);
    const auto as_who = Desk::as_customer(who);
    const auto staff = Desk::as_staff("s-agent");
    const int roll = static_cast<int>(rng() % 100);
    if (tickets == 0 || roll < 12) {
      dt::OpenTicket c;
      c.subject = "Subject " + std::to_string(rng() % 50);
      c.body = chance(30) ? "see @" + pick(kCustomers).substr(2) : "text";
      c.message_id = id("m-");
      c.priority = pick(std::vector<std::string>{"low", "normal", "high"});
      auto r = d.portal->open_ticket("acme", c, as_who);
      if (r) tickets = std::max(tickets, r->state->number);
      return;
    }
    const std::uint64_t n = 1 + rng() % tickets;
    auto run = [&](const dt::Command& c, const svc::CommandMeta& m) {
      (void)d.portal->execute("acme", n, c, m);
    };
    if (roll < 25) {
      run(dt::PostReply{id("m-"), chance(40) ? "hey @" + pick(kCustomers).substr(2) : "reply"},
          as_who);
    } else if (roll < 37) {
      std::optional<dom::Status> status;
      if (chance(50))
        status = pick(
            std::vector<dom::Status>(std::begin(dom::kAllStatuses), std::end(dom::kAllStatuses)));
      run(dt::PostStaffMessage{id("m-"), chance(20) ? "@" + pick(kCustomers).substr(2) : "staff",
                               chance(25), status},
          staff);
    } else if (roll < 45) {
      run(dt::SetStatus{pick(std::vector<dom::Status>(std::begin(dom::kAllStatuses),
                                                      std::end(dom::kAllStatuses)))},
          staff);
    } else if (roll < 52) {
      run(chance(70) ? dt::Command{dt::AddFavorite{}} : dt::Command{dt::RemoveFavorite{}}, as_who);
    } else if (roll < 58) {
      const std::string inv = "inv-" + std::to_string(n);
      run(dt::CreateInvite{inv, "hash-" + std::to_string(n)}, as_who);
      run(dt::JoinByInvite{"hash-" + std::to_string(n)}, Desk::as_customer(pick(kCustomers)));
    } else if (roll < 62) {
      run(dt::LeaveTicket{}, as_who);
    } else if (roll < 65) {
      run(dt::RemoveParticipant{pick(kCustomers)}, as_who);
    } else if (roll < 70) {
      run(dt::RequestClosure{}, as_who);
    } else if (roll < 73) {
      run(dt::CloseNow{}, as_who);
    } else if (roll < 76) {
      run(dt::AnswerSurvey{1 + static_cast<int>(rng() % 5), std::nullopt, std::nullopt}, as_who);
    } else if (roll < 79) {
      run(dt::UpdateTicket{pick(std::vector<std::string>{"low", "normal", "high"}),
                           pick(std::vector<std::string>{"", "billing", "tech"})},
          staff);
    } else if (roll < 82) {
      run(dt::ScheduleClosure{d.now + dom::kHour}, staff);
    } else if (roll < 84) {
      d.now += 3 * dom::kDay;  // timers come due
      run(dt::ApplyTimers{}, Desk::system());
    } else if (roll < 87) {
      (void)d.portal->leave_project(who, "acme", as_who);
    } else if (roll < 91) {
      (void)d.portal->join_project(who, "acme", as_who);
    } else if (roll < 93) {
      const bool visibility = chance(60);
      configure(visibility, chance(30));
    } else if (roll < 96) {
      auto bell = d.views.notifications(who, true, 5);
      if (bell && !bell->items.empty()) {
        (void)d.portal->read_notifications(who, dom::inbox::MarkRead{{bell->items.back().id}},
                                           as_who);
      }
    } else if (roll < 98) {
      auto newest = d.views.newest_notification(who);
      if (newest) {
        (void)d.portal->read_notifications(who, dom::inbox::MarkAllRead{*newest}, as_who);
      }
    } else {
      auto msgs = d.ticket(n).messages;
      if (!msgs.empty()) {
        run(dt::AddReaction{pick(msgs).id, pick(std::vector<std::string>{"👍", "🎉"})}, as_who);
      }
    }
  }

  // ---- The oracle: the domain's states, and PRODUCT.md's "Who may see what" ----

  std::vector<dt::State> states() const {
    std::vector<dt::State> out;
    for (std::uint64_t n = 1; n <= tickets; ++n) {
      auto t = d.portal->ticket("acme", n);
      REQUIRE(t);
      if ((*t)->exists) out.push_back(**t);
    }
    return out;
  }

  dt::Role expected_role(const dt::State& t, const std::string& who) const {
    auto c = d.portal->customer(who);
    REQUIRE(c);
    if (!dom::customer::is_member(*c, "acme")) return dt::Role::none;
    if (t.creator == who) return dt::Role::creator;
    if (t.participants.contains(who)) return dt::Role::participant;
    auto p = d.portal->project("acme");
    REQUIRE(p);
    if (p->settings.policies.organization_visibility) {
      const auto mine = dom::project::organization_of(*p, kEmails.at(who));
      const auto theirs = dom::project::organization_of(*p, kEmails.at(t.creator));
      if (!mine.empty() && mine == theirs) return dt::Role::organization;
    }
    return dt::Role::none;
  }

  static bool newer(const dt::State& a, const dt::State& b) {
    return a.updated_at != b.updated_at ? a.updated_at > b.updated_at : a.number > b.number;
  }
  // Customers' lists go by the activity they can see (no internal notes, no staff edits).
  static bool newer_for_customers(const dt::State& a, const dt::State& b) {
    return a.public_updated_at != b.public_updated_at ? a.public_updated_at > b.public_updated_at
                                                      : a.number > b.number;
  }

  template <class Fetch>
  static V walk(Fetch&& fetch, std::size_t limit) {
    V out;
    std::string cursor;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = fetch(limit, cursor);
      REQUIRE_MESSAGE(page, (page ? "" : page.error().message));
      for (const auto& s : page->items) out.push_back(s.number);
      if (!page->next_cursor) return out;
      cursor = *page->next_cursor;
    }
    FAIL("a walk did not end");
    return out;
  }

  void check_against_domain() {
    auto all = states();
    std::sort(all.begin(), all.end(), newer_for_customers);
    const std::size_t limit = 1 + rng() % 6;
    for (const std::string& who : kCustomers) {
      V expected, favorites;
      std::map<dom::Status, std::uint64_t> by_status;
      std::vector<std::pair<dom::TimeUs, std::uint64_t>> favs;
      for (const auto& t : all) {
        const dt::Role role = expected_role(t, who);
        if (role == dt::Role::none) continue;
        expected.push_back(t.number);
        ++by_status[t.status];
      }
      const V live = walk(
          [&](std::size_t l, const std::string& c) {
            proj::ListQuery q;
            q.limit = l;
            q.cursor = c;
            return d.views.customer_tickets(who, "acme", q);
          },
          limit);
      CHECK_MESSAGE(live == expected, "customer " << who);
      // Roles and favorite marks of the first page.
      auto page = d.views.customer_tickets(who, "acme", {});
      REQUIRE(page);
      for (const auto& s : page->items) {
        const auto& t = *std::find_if(all.begin(), all.end(),
                                      [&](const dt::State& x) { return x.number == s.number; });
        CHECK(s.role == expected_role(t, who));
        CHECK(s.favorite == t.favorites.contains(who));
        CHECK(s.status == t.status);
        CHECK(s.updated_at == t.public_updated_at);
        CHECK(std::set<std::string>(s.participants.begin(), s.participants.end()) ==
              t.participants);
      }
      // The overview counts what the list shows.
      auto o = d.views.overview(who, "acme");
      REQUIRE(o);
      for (dom::Status s : dom::kAllStatuses) {
        CHECK_MESSAGE(o->by_status[s] == by_status[s], who << " " << dom::to_string(s));
      }
      // Favorites: marked, readable, never resolved or closed.
      const V favs_live = walk(
          [&](std::size_t l, const std::string& c) { return d.views.favorites(who, "acme", l, c); },
          limit);
      std::set<std::uint64_t> expected_favs;
      for (const auto& t : all) {
        if (t.favorites.contains(who) && expected_role(t, who) != dt::Role::none) {
          expected_favs.insert(t.number);
          CHECK(t.status != dom::Status::resolved);
          CHECK(t.status != dom::Status::closed);
        }
      }
      CHECK(std::set<std::uint64_t>(favs_live.begin(), favs_live.end()) == expected_favs);
      CHECK(favs_live.size() == expected_favs.size());
      // The bell's unread count is the number of unread items.
      auto bell = d.views.notifications(who, true, 100);
      REQUIRE(bell);
      if (!bell->next_cursor) CHECK(bell->items.size() == bell->unread);
    }
    // The staff queue holds every ticket, and each status filter its share, by every activity.
    std::sort(all.begin(), all.end(), newer);
    V every;
    for (const auto& t : all) every.push_back(t.number);
    const V queue = walk(
        [&](std::size_t l, const std::string& c) {
          proj::QueueQuery q;
          q.limit = l;
          q.cursor = c;
          return d.views.staff_queue("acme", q);
        },
        limit);
    CHECK(queue == every);
    const dom::Status s = dom::kAllStatuses[rng() % std::size(dom::kAllStatuses)];
    V with_status;
    for (const auto& t : all) {
      if (t.status == s) with_status.push_back(t.number);
    }
    proj::QueueQuery q;
    q.statuses = {s};
    auto filtered = d.views.staff_queue("acme", q);
    REQUIRE(filtered);
    V got;
    for (const auto& x : filtered->items) got.push_back(x.number);
    with_status.resize(std::min<std::size_t>(with_status.size(), 20));
    CHECK(got == with_status);
    // Random combinations of the three filters, walked to the end: status and team come from
    // the indexes, priority is checked on the candidates (pages may come back short).
    for (int round = 0; round < 4; ++round) {
      proj::QueueQuery f;
      for (dom::Status st : dom::kAllStatuses) {
        if (chance(25)) f.statuses.push_back(st);
      }
      for (const char* team : {"", "billing", "tech"}) {
        if (chance(35)) f.teams.emplace_back(team);
      }
      for (const char* p : {"low", "normal", "high"}) {
        if (chance(35)) f.priorities.emplace_back(p);
      }
      auto in = [](const auto& values, const auto& v) {
        return values.empty() || std::find(values.begin(), values.end(), v) != values.end();
      };
      V want;
      for (const auto& t : all) {
        if (in(f.statuses, t.status) && in(f.teams, t.team) && in(f.priorities, t.priority)) {
          want.push_back(t.number);
        }
      }
      CAPTURE(f.statuses.size());
      CAPTURE(f.teams.size());
      CAPTURE(f.priorities.size());
      CHECK(walk(
                [&](std::size_t l, const std::string& c) {
                  proj::QueueQuery page = f;
                  page.limit = l;
                  page.cursor = c;
                  return d.views.staff_queue("acme", page);
                },
                limit) == want);
    }
  }
};

}  // namespace

TEST_CASE("for random histories the views agree with the domain and with a rebuild") {
  for (unsigned seed = 1; seed <= 16; ++seed) {
    CAPTURE(seed);
    World w(seed);
    for (int i = 0; i < 240; ++i) {
      w.step();
      if (i % 60 == 59) w.check_against_domain();
    }
    CHECK(w.tickets >= 10);
    // Byte for byte: the live tables equal a rebuild from the log alone.
    auto check = w.d.log->check_projections();
    REQUIRE(check);
    REQUIRE(check->size() == 1);
    CHECK_MESSAGE(check->front().differences == 0,
                  (check->front().examples.empty() ? "" : check->front().examples.front()));
    CHECK(check->front().position == w.d.log->head().value());
    // And a rebuild swapped in answers the same.
    const auto before = w.d.views.customer_tickets("c-ann", "acme", {}).value().items;
    REQUIRE(w.d.log->rebuild_projections());
    CHECK(w.d.views.customer_tickets("c-ann", "acme", {}).value().items == before);
    w.check_against_domain();
  }
}

TEST_CASE("walking pages while tickets are created yields each earlier ticket once and in order") {
  ViewsDesk d;
  d.real_time = true;
  for (int i = 0; i < 150; ++i) (void)d.open("c-ann");
  // What the views promise: newest activity first, then the newest ticket first (the system
  // clock, not the ticket number, decides the order of the earlier tickets).
  std::vector<dt::State> states;
  for (std::uint64_t n = 1; n <= 150; ++n) states.push_back(d.ticket(n));
  std::sort(states.begin(), states.end(), [](const dt::State& a, const dt::State& b) {
    return a.updated_at != b.updated_at ? a.updated_at > b.updated_at : a.number > b.number;
  });
  V existing;
  for (const auto& t : states) existing.push_back(t.number);
  std::atomic<int> created{0};  // -1: an open failed
  // Stopped and joined on every way out, a failed REQUIRE included.
  std::jthread creator([&](std::stop_token stop) {
    dt::OpenTicket c;
    c.subject = "new";
    c.body = "while walking";
    while (!stop.stop_requested()) {
      c.message_id = "new-" + std::to_string(created.load());
      const bool opened = d.portal->open_ticket("acme", c, Desk::as_customer("c-ann")).has_value();
      if (opened) {
        ++created;
      } else {
        created = -1;
      }
      created.notify_all();
      if (!opened) return;
    }
  });
  // Waits until the creator has opened a ticket since it had opened `seen`: the walk never
  // outruns the creator (a walk takes a few milliseconds, an open about one, and under load the
  // creator may not even start before a walk is over).
  auto creation_after = [&](int seen) {
    for (int now = created.load(); now == seen; now = created.load()) created.wait(now);
    REQUIRE_MESSAGE(created.load() > 0, "an open failed while walking");
    return created.load();
  };
  int seen = creation_after(0);
  for (int round = 0; round < 5; ++round) {
    V walked;
    proj::ListQuery q;
    q.limit = 7;
    for (int pages = 0; pages < 10'000; ++pages) {
      auto page = d.views.customer_tickets("c-ann", "acme", q);
      REQUIRE(page);
      for (const auto& s : page->items) walked.push_back(s.number);
      if (!page->next_cursor) break;
      q.cursor = *page->next_cursor;
      seen = creation_after(seen);  // a new ticket between every two pages
    }
    const std::set<std::uint64_t> old(existing.begin(), existing.end());
    V seen_old;
    for (auto n : walked) {
      if (old.contains(n)) seen_old.push_back(n);
    }
    CHECK(seen_old == existing);
    CHECK(walked.size() > existing.size());  // and the tickets opened before this walk
    CHECK(std::set<std::uint64_t>(walked.begin(), walked.end()).size() == walked.size());
  }
  creator.request_stop();
  creator.join();
  CHECK(created > 0);
}
