// The ticket rules of PRODUCT.md ("Tickets", surveys, favorites, participants and invite links,
// mentions, "Who may see what") that the status table does not cover, one TEST_CASE per rule,
// each written as given events → when a command → then events or an error, with a case where the
// rule allows and one where it refuses. The expectations come from PRODUCT.md and API.md, not from
// the decider.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ticket_fixtures.hpp"

using namespace portico::test;
using dom::kDay;
using dom::kHour;
using dom::Realm;
using dom::Status;

namespace {

using Events = std::vector<dt::Event>;
using Outcome = portico::Result<Events>;

// A ticket under test: the given events folded into a state. `when` decides a command and records
// its events when it is accepted; `would` decides without recording.
class Ticket {
 public:
  explicit Ticket(Events given = opened_ticket()) : state_(dt::fold(given)) {
    events_ = std::move(given);
  }
  Ticket& given(const Events& more) {
    events_.insert(events_.end(), more.begin(), more.end());
    state_ = dt::fold(more, std::move(state_));
    return *this;
  }
  Outcome when(const dt::Command& command, const dt::Context& ctx) {
    const dt::State before = state_;
    Outcome r = dt::decide(state_, command, ctx);
    if (r) {
      given(*r);
    } else {
      CHECK(state_ == before);  // a refusal changes nothing
    }
    return r;
  }
  Outcome would(const dt::Command& command, const dt::Context& ctx) const {
    return dt::decide(state_, command, ctx);
  }
  const dt::State& state() const { return state_; }
  const Events& events() const { return events_; }

 private:
  Events events_;
  dt::State state_;
};

// The events of an accepted command (the test stops when it was refused).
Events ok(const Outcome& r) {
  INFO("refused with " << error_of(r) << (r ? "" : ": " + r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

std::string field_of(const Outcome& r) { return r ? std::string("(accepted)") : r.error().field; }

template <class E>
std::size_t count(const Events& events) {
  return static_cast<std::size_t>(
      std::count_if(events.begin(), events.end(),
                    [](const dt::Event& e) { return std::holds_alternative<E>(e); }));
}

std::string repeat(const std::string& piece, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}

// The fixture's ticket with a live invite link inv-1 (token hash h-1) made by the creator.
Events with_invite() {
  Events events = opened_ticket();
  events.push_back(dt::InviteCreated{kT0 + 7, "inv-1", "h-1", "c-creator"});
  return events;
}

// A ticket that staff resolved at `at`, which offered its creator a survey.
Ticket resolved_at(dom::TimeUs at, const dom::Policies& policies = {}) {
  Ticket ticket;
  const Events e =
      ok(ticket.when(dt::SetStatus{Status::resolved}, context(Who::staff, policies, at)));
  REQUIRE(has<dt::SurveyOffered>(e));
  return ticket;
}

dt::AnswerSurvey answer(int rating, std::optional<std::string> option = std::nullopt,
                        std::optional<std::string> comment = std::nullopt) {
  return dt::AnswerSurvey{rating, std::move(option), std::move(comment), false, std::nullopt};
}
dt::AnswerSurvey answer_by_token(std::optional<std::string> survey_id, int rating = 4) {
  return dt::AnswerSurvey{rating, std::nullopt, std::nullopt, true, std::move(survey_id)};
}

// Every command a reader of the ticket may issue (joining and survey links aside, which stand in
// for reading).
std::vector<dt::Command> every_command() {
  return {
      dt::PostReply{"m-new", "Any news?"},
      dt::PostStaffMessage{"s-new", "Update", false, std::nullopt},
      dt::PostStaffMessage{"s-new", "Update", true, Status::in_progress},
      dt::EditMessage{"m-1", "Edited"},
      dt::EditMessage{"m-p", "Edited"},
      dt::DeleteMessage{"m-1"},
      dt::AddReaction{"s-1", "👍"},
      dt::RemoveReaction{"s-1", "👍"},
      dt::SetStatus{Status::resolved},
      dt::RequestClosure{},
      dt::ScheduleClosure{kT0 + 30 * kDay},
      dt::CancelScheduledClosure{},
      dt::CloseNow{},
      dt::ApplyTimers{},
      answer(5),
      dt::AddFavorite{},
      dt::RemoveFavorite{},
      dt::CreateInvite{"inv-new", "h-new"},
      dt::RevokeInvite{"inv-1"},
      dt::RemoveParticipant{"c-participant"},
      dt::LeaveTicket{},
      dt::UpdateTicket{"high", std::nullopt},
  };
}

// Each command of every_command() answers not_found, exactly as if the ticket did not exist.
void refused_as_unknown(const dt::State& state, const dt::Context& ctx) {
  CHECK_FALSE(dt::can_read(state, ctx));
  for (const dt::Command& command : every_command()) {
    INFO("command " << std::string(command_name(command)));
    CHECK(error_of(dt::decide(state, command, ctx)) == "not_found");
  }
}

dt::OpenTicket open_command(std::string subject, std::string body,
                            std::optional<std::string> priority = std::nullopt) {
  return dt::OpenTicket{7,
                        std::move(subject),
                        std::move(body),
                        "m-1",
                        std::move(priority),
                        std::nullopt,
                        std::nullopt,
                        {}};
}

}  // namespace

// ---- Satisfaction survey ----

TEST_CASE("the survey is offered to the creator when a resolution begins - and not before") {
  const dom::TimeUs now = kT0 + kHour;
  struct Way {
    const char* what;
    Who who;
    dt::Command command;
  };
  const Way ways[] = {
      {"staff resolve", Who::staff, dt::SetStatus{Status::resolved}},
      {"staff close", Who::staff, dt::SetStatus{Status::closed}},
      {"a staff reply that resolves", Who::staff,
       dt::PostStaffMessage{"s-2", "Fixed", false, Status::resolved}},
      {"a participant requests closure", Who::participant, dt::RequestClosure{}},
      {"staff schedule a closure", Who::staff, dt::ScheduleClosure{now + kDay}},
  };
  for (const Way& way : ways) {
    INFO("way: " << std::string(way.what));
    Ticket ticket;
    const Events e = ok(ticket.when(way.command, context(way.who, {}, now)));
    CHECK(count<dt::SurveyOffered>(e) == 1);
    const auto* offered = first<dt::SurveyOffered>(e);
    REQUIRE(offered != nullptr);
    CHECK(offered->customer == "c-creator");  // the creator's, whoever ended it
    CHECK(offered->expires_at == now + 7 * kDay);
    const dt::Survey* pending = dt::pending_survey(ticket.state(), now);
    REQUIRE(pending != nullptr);
    CHECK(pending->customer == "c-creator");
  }

  // Moving between the active statuses, or talking, offers nothing.
  for (Status active : {Status::in_progress, Status::awaiting_customer, Status::required_test,
                        Status::required_action}) {
    INFO("staff set " << active);
    Ticket ticket;
    CHECK_FALSE(has<dt::SurveyOffered>(
        ok(ticket.when(dt::SetStatus{active}, context(Who::staff, {}, now)))));
    CHECK(dt::pending_survey(ticket.state(), now) == nullptr);
  }
  Ticket ticket;
  CHECK_FALSE(has<dt::SurveyOffered>(
      ok(ticket.when(dt::PostReply{"m-2", "Any news?"}, context(Who::creator, {}, now)))));
  CHECK_FALSE(has<dt::SurveyOffered>(ok(ticket.when(
      dt::PostStaffMessage{"s-2", "On it", false, std::nullopt}, context(Who::staff, {}, now)))));
  CHECK(ticket.state().surveys.empty());
}

TEST_CASE("the survey is offered at most once per resolution") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket = resolved_at(t);
  // resolved → pending_closure → closure_scheduled → closed is all one resolution.
  CHECK_FALSE(has<dt::SurveyOffered>(
      ok(ticket.when(dt::RequestClosure{}, context(Who::creator, {}, ++t)))));
  CHECK_FALSE(has<dt::SurveyOffered>(
      ok(ticket.when(dt::ScheduleClosure{t + kDay}, context(Who::staff, {}, ++t)))));
  CHECK_FALSE(
      has<dt::SurveyOffered>(ok(ticket.when(dt::CloseNow{}, context(Who::participant, {}, ++t)))));
  CHECK(ticket.state().surveys.size() == 1);
  CHECK(count<dt::SurveyOffered>(ticket.events()) == 1);

  // Reopening ends the resolution; the next one offers a new survey.
  ok(ticket.when(dt::SetStatus{Status::open}, context(Who::staff, {}, ++t)));
  const Events again = ok(ticket.when(dt::SetStatus{Status::closed}, context(Who::staff, {}, ++t)));
  CHECK(count<dt::SurveyOffered>(again) == 1);
  CHECK(ticket.state().surveys.size() == 2);
}

TEST_CASE("a pending survey is withdrawn when the ticket is reopened before it is answered") {
  const dom::TimeUs t = kT0 + kHour;
  dom::Policies reopen;
  reopen.customer_reply = dom::CustomerReplyPolicy::reopen;
  dom::Policies reply_reopens;
  reply_reopens.closed_tickets = dom::ClosedTicketsPolicy::reply_reopens;
  struct Way {
    const char* what;
    dt::Command resolve;
    Who resolver;
    dt::Command reopen;
    Who who;
    dom::Policies policies;
  };
  const Way ways[] = {
      {"staff set open",
       dt::SetStatus{Status::resolved},
       Who::staff,
       dt::SetStatus{Status::open},
       Who::staff,
       {}},
      {"a staff reply that sets in_progress",
       dt::SetStatus{Status::resolved},
       Who::staff,
       dt::PostStaffMessage{"s-2", "Back on it", false, Status::in_progress},
       Who::staff,
       {}},
      {"a customer reply under customer_reply=reopen", dt::SetStatus{Status::resolved}, Who::staff,
       dt::PostReply{"m-2", "Still broken"}, Who::creator, reopen},
      {"a customer reply on closed under reply_reopens", dt::SetStatus{Status::closed}, Who::staff,
       dt::PostReply{"m-2", "Still broken"}, Who::participant, reply_reopens},
      {"cancelling a closure scheduled from in_progress",
       dt::ScheduleClosure{t + 3 * kDay},
       Who::staff,
       dt::CancelScheduledClosure{},
       Who::staff,
       {}},
  };
  for (const Way& way : ways) {
    INFO("way: " << std::string(way.what));
    Ticket ticket;
    ok(ticket.when(dt::SetStatus{Status::in_progress}, context(Who::staff, way.policies, t)));
    const Events resolved =
        ok(ticket.when(way.resolve, context(way.resolver, way.policies, t + 1)));
    const auto* offered = first<dt::SurveyOffered>(resolved);
    REQUIRE(offered != nullptr);
    const std::string id = offered->survey_id;

    const Events reopened = ok(ticket.when(way.reopen, context(way.who, way.policies, t + 2)));
    CHECK(dom::is_active(ticket.state().status));
    const auto* withdrawn = first<dt::SurveyWithdrawn>(reopened);
    REQUIRE(withdrawn != nullptr);
    CHECK(withdrawn->survey_id == id);
    CHECK(ticket.state().surveys.back().state == dt::SurveyState::withdrawn);
    CHECK(dt::pending_survey(ticket.state(), t + 3) == nullptr);
    CHECK(error_of(ticket.would(answer(5), context(Who::creator, way.policies, t + 3))) ==
          "no_survey_pending");
  }

  // An answered survey stays answered when the ticket is reopened.
  Ticket ticket = resolved_at(t);
  ok(ticket.when(answer(4), context(Who::creator, {}, t + 1)));
  const Events reopened =
      ok(ticket.when(dt::SetStatus{Status::open}, context(Who::staff, {}, t + 2)));
  CHECK_FALSE(has<dt::SurveyWithdrawn>(reopened));
  CHECK(ticket.state().surveys.back().state == dt::SurveyState::answered);

  // Moving between non-active statuses is no reopening: the survey stays pending.
  Ticket closing = resolved_at(t);
  const Events closed = ok(closing.when(dt::RequestClosure{}, context(Who::creator, {}, t + 1)));
  CHECK_FALSE(has<dt::SurveyWithdrawn>(closed));
  CHECK(dt::pending_survey(closing.state(), t + 2) != nullptr);
}

TEST_CASE("a closure request after an answered survey in the same resolution offers no survey") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket = resolved_at(t);
  ok(ticket.when(answer(5), context(Who::creator, {}, ++t)));
  const Events requested = ok(ticket.when(dt::RequestClosure{}, context(Who::creator, {}, ++t)));
  CHECK(ticket.state().status == Status::pending_closure);
  CHECK_FALSE(has<dt::SurveyOffered>(requested));
  CHECK(dt::pending_survey(ticket.state(), t) == nullptr);
  CHECK(error_of(ticket.would(answer(3), context(Who::creator, {}, ++t))) == "no_survey_pending");

  // After a reopening, the same request begins a new resolution and offers a new survey.
  Ticket reopened = resolved_at(t);
  ok(reopened.when(answer(5), context(Who::creator, {}, ++t)));
  ok(reopened.when(dt::SetStatus{Status::open}, context(Who::staff, {}, ++t)));
  const Events again = ok(reopened.when(dt::RequestClosure{}, context(Who::creator, {}, ++t)));
  CHECK(count<dt::SurveyOffered>(again) == 1);
  CHECK(dt::pending_survey(reopened.state(), t) != nullptr);
}

TEST_CASE("a survey expires after 7 days: later answers get no_survey_pending or survey_inactive") {
  const dom::TimeUs t = kT0 + kHour;
  Ticket ticket = resolved_at(t);
  const std::string id = ticket.state().surveys.back().id;
  const dom::TimeUs expiry = t + 7 * kDay;

  // Just before: both ways of answering work.
  ok(ticket.would(answer(4), context(Who::creator, {}, expiry - 1)));
  ok(ticket.would(answer_by_token(id), context(Who::system, {}, expiry - 1)));
  CHECK(dt::pending_survey(ticket.state(), expiry - 1) != nullptr);

  // From the seventh day on: refused, before and after the timers mark it expired.
  CHECK(dt::pending_survey(ticket.state(), expiry) == nullptr);
  CHECK(error_of(ticket.would(answer(4), context(Who::creator, {}, expiry))) ==
        "no_survey_pending");
  CHECK(error_of(ticket.would(answer_by_token(id), context(Who::system, {}, expiry))) ==
        "survey_inactive");
  ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, expiry + kHour)));
  CHECK(error_of(ticket.would(answer(4), context(Who::creator, {}, expiry + 2 * kHour))) ==
        "no_survey_pending");
  CHECK(error_of(ticket.would(answer_by_token(id), context(Who::system, {}, expiry + 2 * kHour))) ==
        "survey_inactive");
}

TEST_CASE("the system's timers mark an unanswered survey expired after 7 days") {
  const dom::TimeUs t = kT0 + kHour;
  Ticket ticket = resolved_at(t);  // resolved_timeout (14 days) is later than the survey's expiry
  const std::string id = ticket.state().surveys.back().id;

  CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, t + 7 * kDay - 1))).empty());
  CHECK(ticket.state().surveys.back().state == dt::SurveyState::pending);

  const Events expired = ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, t + 7 * kDay)));
  REQUIRE(expired.size() == 1);
  const auto* e = first<dt::SurveyExpired>(expired);
  REQUIRE(e != nullptr);
  CHECK(e->survey_id == id);
  CHECK(ticket.state().surveys.back().state == dt::SurveyState::expired);
  CHECK(ticket.state().status == Status::resolved);
  // Once marked, it is not marked again.
  CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, t + 8 * kDay))).empty());

  // An answered survey never expires.
  Ticket answered = resolved_at(t);
  ok(answered.when(answer(5), context(Who::creator, {}, t + 1)));
  CHECK_FALSE(has<dt::SurveyExpired>(
      ok(answered.when(dt::ApplyTimers{}, context(Who::system, {}, t + 7 * kDay)))));
  CHECK(answered.state().surveys.back().state == dt::SurveyState::answered);
}

TEST_CASE(
    "a survey answer has a rating of 1 to 5 - an option of the project's and a short comment") {
  const dom::TimeUs t = kT0 + kHour;
  const Ticket ticket = resolved_at(t);
  const dt::Context creator = context(Who::creator, {}, t + kHour);

  for (int rating : {1, 3, 5}) {
    INFO("rating " << rating);
    ok(ticket.would(answer(rating), creator));
  }
  for (int rating : {-1, 0, 6, 10}) {
    INFO("rating " << rating);
    const Outcome r = ticket.would(answer(rating), creator);
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "rating");
  }

  // Options: the project's list (default Excellent/Good/Fair/Poor).
  for (const char* option : {"Excellent", "Good", "Fair", "Poor"})
    ok(ticket.would(answer(4, option), creator));
  const Outcome unknown = ticket.would(answer(4, "Superb"), creator);
  CHECK(error_of(unknown) == "invalid_request");
  CHECK(field_of(unknown) == "option");
  dom::Policies custom;
  custom.survey_options = {"Solved", "Not solved"};
  ok(ticket.would(answer(4, "Not solved"), context(Who::creator, custom, t + kHour)));
  CHECK(error_of(ticket.would(answer(4, "Good"), context(Who::creator, custom, t + kHour))) ==
        "invalid_request");

  // Comment: at most 2000 characters (not bytes).
  ok(ticket.would(answer(4, std::nullopt, repeat("ü", 2000)), creator));
  const Outcome long_comment = ticket.would(answer(4, std::nullopt, repeat("a", 2001)), creator);
  CHECK(error_of(long_comment) == "invalid_request");
  CHECK(field_of(long_comment) == "comment");

  // The answer is recorded as given.
  Ticket answered = ticket;
  ok(answered.when(answer(2, "Fair", "Slow but fine"), creator));
  const dt::Survey& s = answered.state().surveys.back();
  CHECK(s.state == dt::SurveyState::answered);
  CHECK(s.rating == 2);
  CHECK(s.option == std::optional<std::string>("Fair"));
  CHECK(s.comment == std::optional<std::string>("Slow but fine"));
  CHECK(error_of(answered.would(answer(5), creator)) == "no_survey_pending");
}

TEST_CASE("only the ticket's creator answers its survey (not_creator)") {
  const dom::TimeUs t = kT0 + kHour;
  const Ticket ticket = resolved_at(t);
  ok(ticket.would(answer(5), context(Who::creator, {}, t + 1)));
  for (Who who : {Who::participant, Who::org_member, Who::staff}) {
    INFO("who: " << std::string(name(who)));
    CHECK(error_of(ticket.would(answer(5), context(who, {}, t + 1))) == "not_creator");
  }
  for (Who who : {Who::outsider, Who::removed, Who::non_member, Who::other_staff}) {
    INFO("who: " << std::string(name(who)));
    CHECK(error_of(ticket.would(answer(5), context(who, {}, t + 1))) == "not_found");
  }
}

TEST_CASE("a survey link answers without signing in - once - and only the pending survey") {
  const dom::TimeUs t = kT0 + kHour;
  Ticket ticket = resolved_at(t);
  const std::string id = ticket.state().surveys.back().id;
  const dt::Context anyone = context(Who::system, {}, t + 1);

  CHECK(error_of(ticket.would(answer_by_token("no-such-survey"), anyone)) == "not_found");
  CHECK(error_of(ticket.would(answer_by_token(std::nullopt), anyone)) == "not_found");
  CHECK(error_of(ticket.would(answer_by_token(id, 9), anyone)) == "invalid_request");

  const Events answered = ok(ticket.when(answer_by_token(id, 3), anyone));
  const auto* a = first<dt::SurveyAnswered>(answered);
  REQUIRE(a != nullptr);
  CHECK(a->survey_id == id);
  CHECK(a->rating == 3);
  CHECK(error_of(ticket.would(answer_by_token(id), context(Who::system, {}, t + 2))) ==
        "survey_inactive");

  // A withdrawn survey's link is inactive too.
  Ticket withdrawn = resolved_at(t);
  const std::string old = withdrawn.state().surveys.back().id;
  ok(withdrawn.when(dt::SetStatus{Status::open}, context(Who::staff, {}, t + 1)));
  CHECK(error_of(withdrawn.would(answer_by_token(old), context(Who::system, {}, t + 2))) ==
        "survey_inactive");
}

// ---- Favorites ----

TEST_CASE("a resolved or closed ticket cannot be marked as a favorite (ticket_not_active)") {
  for (Status s : dom::kAllStatuses) {
    INFO("status " << s);
    Ticket ticket;
    ticket.given(into(s));
    const Outcome r = ticket.would(dt::AddFavorite{}, context(Who::creator));
    if (s == Status::resolved || s == Status::closed) {
      CHECK(error_of(r) == "ticket_not_active");
    } else {
      CHECK(has<dt::FavoriteAdded>(ok(r)));
    }
  }
}

TEST_CASE("favorites are removed automatically when the ticket becomes resolved or closed") {
  Events given = opened_ticket();
  for (const char* who : {"c-creator", "c-participant", "c-colleague"}) {
    given.push_back(dt::FavoriteAdded{kT0 + 8, who});
  }
  const dom::TimeUs t = kT0 + kHour;
  struct Way {
    const char* what;
    dt::Command command;
    Who who;
    Status before;
    const char* reason;
  };
  const Way ways[] = {
      {"staff resolve", dt::SetStatus{Status::resolved}, Who::staff, Status::open, "resolved"},
      {"staff close", dt::SetStatus{Status::closed}, Who::staff, Status::in_progress, "closed"},
      {"a staff reply that resolves", dt::PostStaffMessage{"s-2", "Done", false, Status::resolved},
       Who::staff, Status::open, "resolved"},
      {"a customer closes a pending closure", dt::CloseNow{}, Who::participant,
       Status::pending_closure, "closed"},
      {"the timers close a pending closure", dt::ApplyTimers{}, Who::system,
       Status::pending_closure, "closed"},
      {"the timers carry out a scheduled closure", dt::ApplyTimers{}, Who::system,
       Status::closure_scheduled, "closed"},
  };
  for (const Way& way : ways) {
    INFO("way: " << std::string(way.what));
    Ticket ticket(given);
    ticket.given(into(way.before));
    REQUIRE(ticket.state().favorites.size() == 3);  // kept on pending or scheduled closure
    const Events e = ok(ticket.when(way.command, context(way.who, {}, t + 10 * kDay)));
    CHECK(count<dt::FavoriteRemoved>(e) == 3);
    for (const dt::Event& event : e) {
      if (const auto* removed = std::get_if<dt::FavoriteRemoved>(&event)) {
        CHECK(removed->reason == way.reason);
      }
    }
    CHECK(ticket.state().favorites.empty());
  }

  // Other moves keep them.
  for (const dt::Command& command : {dt::Command{dt::SetStatus{Status::in_progress}},
                                     dt::Command{dt::ScheduleClosure{t + kDay}}}) {
    Ticket ticket(given);
    CHECK_FALSE(has<dt::FavoriteRemoved>(ok(ticket.when(command, context(Who::staff, {}, t)))));
    CHECK(ticket.state().favorites.size() == 3);
  }
  Ticket ticket(given);
  CHECK_FALSE(has<dt::FavoriteRemoved>(
      ok(ticket.when(dt::RequestClosure{}, context(Who::creator, {}, t)))));
  CHECK(ticket.state().favorites.size() == 3);
}

TEST_CASE("adding and removing a favorite is idempotent") {
  const dom::TimeUs t = kT0 + kHour;
  Ticket ticket;
  const Events added = ok(ticket.when(dt::AddFavorite{}, context(Who::participant, {}, t)));
  CHECK(count<dt::FavoriteAdded>(added) == 1);
  CHECK(ticket.state().favorites.contains("c-participant"));
  CHECK(ok(ticket.when(dt::AddFavorite{}, context(Who::participant, {}, t + 1))).empty());

  const Events removed =
      ok(ticket.when(dt::RemoveFavorite{}, context(Who::participant, {}, t + 2)));
  CHECK(count<dt::FavoriteRemoved>(removed) == 1);
  CHECK(ok(ticket.when(dt::RemoveFavorite{}, context(Who::participant, {}, t + 3))).empty());
  CHECK(ok(ticket.when(dt::RemoveFavorite{}, context(Who::creator, {}, t + 4))).empty());
  CHECK(ticket.state().favorites.empty());

  // Favorites are customers'.
  CHECK(error_of(ticket.would(dt::AddFavorite{}, context(Who::staff, {}, t + 5))) != "ok");
}

// ---- Messages ----

TEST_CASE("only a message's author edits or deletes it (not_author)") {
  const Ticket ticket;
  const dt::Context creator = context(Who::creator);
  const dt::Context participant = context(Who::participant);
  const dt::Context staff = context(Who::staff);
  dt::Context other_agent = context(Who::staff);
  other_agent.actor.id = "s-other";

  CHECK(has<dt::MessageEdited>(ok(ticket.would(dt::EditMessage{"m-1", "Mine"}, creator))));
  CHECK(has<dt::MessageEdited>(ok(ticket.would(dt::EditMessage{"m-p", "Mine"}, participant))));
  CHECK(has<dt::MessageEdited>(ok(ticket.would(dt::EditMessage{"s-1", "Mine"}, staff))));
  CHECK(has<dt::MessageDeleted>(ok(ticket.would(dt::DeleteMessage{"m-p"}, participant))));
  CHECK(has<dt::MessageDeleted>(ok(ticket.would(dt::DeleteMessage{"s-1"}, staff))));

  CHECK(error_of(ticket.would(dt::EditMessage{"m-p", "Not mine"}, creator)) == "not_author");
  CHECK(error_of(ticket.would(dt::EditMessage{"m-1", "Not mine"}, participant)) == "not_author");
  CHECK(error_of(ticket.would(dt::EditMessage{"m-1", "Not mine"}, staff)) == "not_author");
  CHECK(error_of(ticket.would(dt::EditMessage{"s-1", "Not mine"}, other_agent)) == "not_author");
  CHECK(error_of(ticket.would(dt::DeleteMessage{"s-1"}, participant)) == "not_author");
  CHECK(error_of(ticket.would(dt::DeleteMessage{"m-1"}, context(Who::org_member))) == "not_author");
  CHECK(error_of(ticket.would(dt::DeleteMessage{"m-1"}, other_agent)) == "not_author");
}

TEST_CASE("messages cannot be edited or deleted on a closed ticket (ticket_closed)") {
  for (Status s : dom::kAllStatuses) {
    INFO("status " << s);
    Ticket ticket;
    ticket.given(into(s));
    for (const auto& [who, id] :
         {std::pair{Who::creator, "m-1"}, std::pair{Who::participant, "m-p"},
          std::pair{Who::staff, "s-1"}}) {
      INFO("who: " << std::string(name(who)));
      const Outcome edit = ticket.would(dt::EditMessage{id, "Changed"}, context(who));
      const Outcome del = ticket.would(dt::DeleteMessage{id}, context(who));
      if (s == Status::closed) {
        CHECK(error_of(edit) == "ticket_closed");
        CHECK(error_of(del) == "ticket_closed");
      } else {
        CHECK(has<dt::MessageEdited>(ok(edit)));
        CHECK(has<dt::MessageDeleted>(ok(del)));
      }
    }
  }
}

TEST_CASE("an edited or deleted message keeps its earlier text in the history") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket;
  auto m1 = [&]() -> const dt::Message& {
    const auto& ms = ticket.state().messages;
    const auto it =
        std::find_if(ms.begin(), ms.end(), [](const dt::Message& m) { return m.id == "m-1"; });
    REQUIRE(it != ms.end());
    return *it;
  };
  ok(ticket.when(dt::EditMessage{"m-1", "It will not start since 10:00"},
                 context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::EditMessage{"m-1", "It starts now"}, context(Who::creator, {}, ++t)));
  CHECK(m1().body == "It starts now");
  CHECK(m1().edited_at == std::optional<dom::TimeUs>(t));
  CHECK(m1().history ==
        std::vector<std::string>{"It will not start", "It will not start since 10:00"});

  // The same text again is no edit.
  CHECK(ok(ticket.when(dt::EditMessage{"m-1", "It starts now"}, context(Who::creator, {}, ++t)))
            .empty());
  CHECK(m1().history.size() == 2);

  ok(ticket.when(dt::DeleteMessage{"m-1"}, context(Who::creator, {}, ++t)));
  CHECK(m1().deleted);
  CHECK(m1().body.empty());
  CHECK(m1().history == std::vector<std::string>{"It will not start",
                                                 "It will not start since 10:00", "It starts now"});
  // A deleted message is gone for editing and reacting.
  CHECK(error_of(ticket.would(dt::EditMessage{"m-1", "Back"}, context(Who::creator, {}, ++t))) ==
        "not_found");
  CHECK(error_of(ticket.would(dt::AddReaction{"m-1", "👍"}, context(Who::staff, {}, t))) ==
        "not_found");
}

TEST_CASE("customers cannot see - edit - delete or react to internal notes (not_found)") {
  const Ticket ticket;
  for (Who who : {Who::creator, Who::participant, Who::org_member}) {
    INFO("who: " << std::string(name(who)));
    const dt::Context ctx = context(who);
    CHECK(error_of(ticket.would(dt::AddReaction{"n-1", "👍"}, ctx)) == "not_found");
    CHECK(error_of(ticket.would(dt::RemoveReaction{"n-1", "👍"}, ctx)) == "not_found");
    CHECK(error_of(ticket.would(dt::EditMessage{"n-1", "Hidden?"}, ctx)) == "not_found");
    CHECK(error_of(ticket.would(dt::DeleteMessage{"n-1"}, ctx)) == "not_found");
    // The public staff reply next to it is visible to them.
    CHECK(has<dt::ReactionAdded>(ok(ticket.would(dt::AddReaction{"s-1", "👍"}, ctx))));
  }
  // Staff see the note: they react to it, and its author edits it.
  CHECK(has<dt::ReactionAdded>(ok(ticket.would(dt::AddReaction{"n-1", "👀"}, context(Who::staff)))));
  CHECK(has<dt::MessageEdited>(
      ok(ticket.would(dt::EditMessage{"n-1", "Definitely the database"}, context(Who::staff)))));
}

TEST_CASE("reactions toggle per person per emoji and are idempotent") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket;
  auto reactions = [&]() {
    const auto& ms = ticket.state().messages;
    return std::find_if(ms.begin(), ms.end(), [](const dt::Message& m) { return m.id == "s-1"; })
        ->reactions;
  };
  using Keys = std::set<std::string>;

  CHECK(count<dt::ReactionAdded>(
            ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::creator, {}, ++t)))) == 1);
  CHECK(ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::creator, {}, ++t))).empty());
  CHECK(count<dt::ReactionAdded>(
            ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::participant, {}, ++t)))) == 1);
  CHECK(count<dt::ReactionAdded>(ok(
            ticket.when(dt::AddReaction{"s-1", "❤️"}, context(Who::creator, {}, ++t)))) == 1);
  CHECK(count<dt::ReactionAdded>(
            ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::staff, {}, ++t)))) == 1);
  CHECK(reactions()["👍"] == Keys{"customer:c-creator", "customer:c-participant", "staff:s-agent"});
  CHECK(reactions()["❤️"] == Keys{"customer:c-creator"});

  CHECK(count<dt::ReactionRemoved>(
            ok(ticket.when(dt::RemoveReaction{"s-1", "👍"}, context(Who::creator, {}, ++t)))) == 1);
  CHECK(ok(ticket.when(dt::RemoveReaction{"s-1", "👍"}, context(Who::creator, {}, ++t))).empty());
  CHECK(ok(ticket.when(dt::RemoveReaction{"s-1", "🎉"}, context(Who::creator, {}, ++t))).empty());
  CHECK(reactions()["👍"] == Keys{"customer:c-participant", "staff:s-agent"});
  CHECK(reactions()["❤️"] == Keys{"customer:c-creator"});  // the other emoji is untouched

  // Toggling back on works.
  CHECK(count<dt::ReactionAdded>(
            ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::creator, {}, ++t)))) == 1);
  CHECK(reactions()["👍"].size() == 3);
  CHECK(error_of(ticket.would(dt::AddReaction{"s-1", ""}, context(Who::creator, {}, ++t))) ==
        "invalid_request");
}

TEST_CASE("reacted tells one person's reaction with one emoji apart from everyone else's") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket;
  ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::staff, {}, ++t)));
  const dt::Message* m = ticket.state().messages.find("s-1");
  REQUIRE(m != nullptr);
  CHECK(dt::reacted(*m, {Realm::customer, "c-creator"}, "👍"));
  CHECK_FALSE(dt::reacted(*m, {Realm::customer, "c-creator"}, "❤️"));
  CHECK_FALSE(dt::reacted(*m, {Realm::customer, "c-participant"}, "👍"));
  CHECK(dt::reacted(*m, {Realm::staff, "s-agent"}, "👍"));
  // The realm is part of who reacted: a customer whose id is a staff member's is someone else.
  CHECK_FALSE(dt::reacted(*m, {Realm::customer, "s-agent"}, "👍"));

  ok(ticket.when(dt::RemoveReaction{"s-1", "👍"}, context(Who::creator, {}, ++t)));
  m = ticket.state().messages.find("s-1");
  REQUIRE(m != nullptr);
  CHECK_FALSE(dt::reacted(*m, {Realm::customer, "c-creator"}, "👍"));
  CHECK(dt::reacted(*m, {Realm::staff, "s-agent"}, "👍"));
}

// ---- Staff replies ----

TEST_CASE("a staff reply with a status applies the status rules in the same action") {
  const dom::TimeUs t = kT0 + kHour;
  {
    Ticket ticket;
    const Events e =
        ok(ticket.when(dt::PostStaffMessage{"s-2", "Fixed in 1.2", false, Status::resolved},
                       context(Who::staff, {}, t)));
    CHECK(has<dt::MessagePosted>(e));
    const auto* changed = first<dt::StatusChanged>(e);
    REQUIRE(changed != nullptr);
    CHECK(changed->from == Status::open);
    CHECK(changed->to == Status::resolved);
    CHECK(has<dt::SurveyOffered>(e));
    CHECK(ticket.state().status == Status::resolved);
  }
  {  // Closing through a reply closes with the staff reason.
    Ticket ticket;
    const Events e = ok(ticket.when(dt::PostStaffMessage{"s-2", "Closing", true, Status::closed},
                                    context(Who::staff, {}, t)));
    REQUIRE(first<dt::TicketClosed>(e) != nullptr);
    CHECK(ticket.state().status == Status::closed);
  }
  // The statuses the status route refuses are refused here too, and the message is not posted.
  for (Status refused : {Status::pending_closure, Status::closure_scheduled}) {
    INFO("status " << refused);
    Ticket ticket;
    CHECK(error_of(ticket.when(dt::PostStaffMessage{"s-2", "Hm", false, refused},
                               context(Who::staff, {}, t))) == "invalid_transition");
    CHECK(ticket.state().messages.size() == Ticket().state().messages.size());  // none posted
  }
  {  // On a scheduled closure it cancels the closure, like any staff status change.
    Ticket ticket;
    ticket.given(into(Status::closure_scheduled));
    ok(ticket.when(dt::PostStaffMessage{"s-2", "Wait", false, Status::in_progress},
                   context(Who::staff, {}, t)));
    CHECK(ticket.state().status == Status::in_progress);
    CHECK_FALSE(ticket.state().closure.has_value());
  }
  {  // Without a status, or with the current one, only the message.
    Ticket ticket;
    const Events same =
        ok(ticket.when(dt::PostStaffMessage{"s-2", "Still open", false, Status::open},
                       context(Who::staff, {}, t)));
    CHECK(same.size() == 1);
    CHECK(has<dt::MessagePosted>(same));
    CHECK(ticket.state().status == Status::open);
  }
}

// ---- Invite links and participants ----

TEST_CASE("the creator or a participant creates an invite link") {
  const Ticket ticket(with_invite());
  for (Who who : {Who::creator, Who::participant}) {
    INFO("who: " << std::string(name(who)));
    const Events e = ok(ticket.would(dt::CreateInvite{"inv-2", "h-2"}, context(who)));
    const auto* created = first<dt::InviteCreated>(e);
    REQUIRE(created != nullptr);
    CHECK(created->token_hash == "h-2");
    CHECK(created->by == context(who).actor.id);
  }
  CHECK(error_of(ticket.would(dt::CreateInvite{"inv-2", "h-2"}, context(Who::org_member))) ==
        "forbidden");
  CHECK(error_of(ticket.would(dt::CreateInvite{"inv-2", "h-2"}, context(Who::staff))) ==
        "forbidden");
  CHECK(error_of(ticket.would(dt::CreateInvite{"inv-2", "h-2"}, context(Who::outsider))) ==
        "not_found");
  CHECK(error_of(ticket.would(dt::CreateInvite{"inv-2", "h-2"}, context(Who::removed))) ==
        "not_found");
}

TEST_CASE("only the creator revokes an invite link (not_creator)") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  ok(ticket.when(dt::CreateInvite{"inv-p", "h-p"}, context(Who::participant, {}, ++t)));

  // Not even the participant's own link.
  CHECK(error_of(ticket.would(dt::RevokeInvite{"inv-p"}, context(Who::participant, {}, ++t))) ==
        "not_creator");
  CHECK(error_of(ticket.would(dt::RevokeInvite{"inv-1"}, context(Who::participant, {}, t))) ==
        "not_creator");
  CHECK(error_of(ticket.would(dt::RevokeInvite{"inv-1"}, context(Who::org_member, {}, t))) ==
        "not_creator");

  const Events revoked = ok(ticket.when(dt::RevokeInvite{"inv-p"}, context(Who::creator, {}, ++t)));
  CHECK(has<dt::InviteRevoked>(revoked));
  CHECK(ticket.state().invites.at("inv-p").revoked);
  CHECK(ok(ticket.when(dt::RevokeInvite{"inv-p"}, context(Who::creator, {}, ++t))).empty());
  CHECK(error_of(ticket.would(dt::RevokeInvite{"inv-nope"}, context(Who::creator, {}, ++t))) ==
        "not_found");
}

TEST_CASE("joining through an invite link adds a participant") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  CHECK_FALSE(dt::can_read(ticket.state(), context(Who::outsider)));
  const Events joined = ok(ticket.when(dt::JoinByInvite{"h-1"}, context(Who::outsider, {}, ++t)));
  const auto* j = first<dt::ParticipantJoined>(joined);
  REQUIRE(j != nullptr);
  CHECK(j->customer == "c-outsider");
  CHECK(j->invite_id == "inv-1");
  CHECK(ticket.state().participants.contains("c-outsider"));
  CHECK(dt::role_of(ticket.state(), context(Who::outsider)) == dt::Role::participant);
  ok(ticket.would(dt::PostReply{"m-o", "Me too"}, context(Who::outsider, {}, ++t)));

  // Joining again, or as the creator, changes nothing.
  CHECK(ok(ticket.when(dt::JoinByInvite{"h-1"}, context(Who::outsider, {}, ++t))).empty());
  CHECK(ok(ticket.when(dt::JoinByInvite{"h-1"}, context(Who::creator, {}, ++t))).empty());

  // Unknown tokens do not exist.
  CHECK(error_of(ticket.would(dt::JoinByInvite{"h-unknown"}, context(Who::outsider, {}, ++t))) ==
        "not_found");
  CHECK(error_of(ticket.would(dt::JoinByInvite{""}, context(Who::outsider, {}, t))) == "not_found");
  // Joining takes a customer: staff and the system cannot become participants.
  for (Who who : {Who::staff, Who::system}) {
    INFO("who: " << std::string(name(who)));
    const Outcome r = ticket.would(dt::JoinByInvite{"h-1"}, context(who, {}, t));
    CHECK_FALSE(r.has_value());
  }
}

TEST_CASE("a revoked invite link is inactive (invite_inactive)") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  ok(ticket.when(dt::CreateInvite{"inv-2", "h-2"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::RevokeInvite{"inv-1"}, context(Who::creator, {}, ++t)));
  CHECK(error_of(ticket.when(dt::JoinByInvite{"h-1"}, context(Who::outsider, {}, ++t))) ==
        "invite_inactive");
  CHECK_FALSE(ticket.state().participants.contains("c-outsider"));
  // The other link still works.
  CHECK(has<dt::ParticipantJoined>(
      ok(ticket.when(dt::JoinByInvite{"h-2"}, context(Who::outsider, {}, ++t)))));
}

TEST_CASE("an invite link stops working for good once the ticket is resolved or closed") {
  dom::TimeUs t = kT0 + kHour;
  dom::Policies reply_reopens;
  reply_reopens.closed_tickets = dom::ClosedTicketsPolicy::reply_reopens;
  {
    Ticket ticket(with_invite());
    ok(ticket.when(dt::SetStatus{Status::resolved}, context(Who::staff, {}, ++t)));
    CHECK(error_of(ticket.would(dt::JoinByInvite{"h-1"}, context(Who::outsider, {}, ++t))) ==
          "invite_inactive");
    ok(ticket.when(dt::SetStatus{Status::open}, context(Who::staff, {}, ++t)));
    CHECK(error_of(ticket.would(dt::JoinByInvite{"h-1"}, context(Who::outsider, {}, ++t))) ==
          "invite_inactive");
    // A link made after the reopening works.
    ok(ticket.when(dt::CreateInvite{"inv-2", "h-2"}, context(Who::creator, {}, ++t)));
    CHECK(has<dt::ParticipantJoined>(
        ok(ticket.would(dt::JoinByInvite{"h-2"}, context(Who::outsider, {}, ++t)))));
  }
  {
    Ticket ticket(with_invite());
    // A closure request is not a resolution yet: the link still works.
    ok(ticket.when(dt::RequestClosure{}, context(Who::creator, reply_reopens, ++t)));
    CHECK(has<dt::ParticipantJoined>(
        ok(ticket.would(dt::JoinByInvite{"h-1"}, context(Who::outsider, reply_reopens, ++t)))));
    ok(ticket.when(dt::CloseNow{}, context(Who::creator, reply_reopens, ++t)));
    CHECK(error_of(ticket.would(dt::JoinByInvite{"h-1"},
                                context(Who::outsider, reply_reopens, ++t))) == "invite_inactive");
    ok(ticket.when(dt::PostReply{"m-2", "Reopen please"},
                   context(Who::creator, reply_reopens, ++t)));
    REQUIRE(ticket.state().status == Status::open);
    CHECK(error_of(ticket.would(dt::JoinByInvite{"h-1"},
                                context(Who::outsider, reply_reopens, ++t))) == "invite_inactive");
  }
}

TEST_CASE("only the creator removes participants (not_creator)") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  ok(ticket.when(dt::JoinByInvite{"h-1"}, context(Who::outsider, {}, ++t)));

  for (Who who : {Who::participant, Who::org_member, Who::staff}) {
    INFO("who: " << std::string(name(who)));
    CHECK(error_of(ticket.would(dt::RemoveParticipant{"c-outsider"}, context(who, {}, ++t))) ==
          "not_creator");
  }
  const Events removed =
      ok(ticket.when(dt::RemoveParticipant{"c-outsider"}, context(Who::creator, {}, ++t)));
  const auto* r = first<dt::ParticipantRemoved>(removed);
  REQUIRE(r != nullptr);
  CHECK(r->customer == "c-outsider");
  CHECK(r->by == "c-creator");
  CHECK_FALSE(ticket.state().participants.contains("c-outsider"));
  CHECK(ticket.state().participants.contains("c-participant"));
}

TEST_CASE("the creator can neither leave nor be removed (creator_cannot_leave)") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket;
  CHECK(error_of(ticket.when(dt::LeaveTicket{}, context(Who::creator, {}, ++t))) ==
        "creator_cannot_leave");
  CHECK(error_of(ticket.when(dt::RemoveParticipant{"c-creator"}, context(Who::creator, {}, ++t))) ==
        "creator_cannot_leave");
  CHECK(ticket.state().participants.contains("c-creator"));

  // A participant leaves.
  const Events left = ok(ticket.when(dt::LeaveTicket{}, context(Who::participant, {}, ++t)));
  const auto* l = first<dt::ParticipantLeft>(left);
  REQUIRE(l != nullptr);
  CHECK(l->customer == "c-participant");
  CHECK_FALSE(ticket.state().participants.contains("c-participant"));
}

TEST_CASE("a removed or departed participant can no longer read the ticket (not_found)") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  ok(ticket.when(dt::AddFavorite{}, context(Who::participant, {}, ++t)));
  // Before leaving, the participant reads and replies.
  CHECK(dt::can_read(ticket.state(), context(Who::participant)));
  ok(ticket.would(dt::PostReply{"m-x", "Hello"}, context(Who::participant, {}, ++t)));

  // Removed by the creator (the fixture's c-removed).
  refused_as_unknown(ticket.state(), context(Who::removed, {}, ++t));
  CHECK(error_of(ticket.would(dt::JoinByInvite{"h-unknown"}, context(Who::removed, {}, t))) ==
        "not_found");

  // Left of their own accord: their favorite goes with them.
  const Events left = ok(ticket.when(dt::LeaveTicket{}, context(Who::participant, {}, ++t)));
  CHECK(has<dt::FavoriteRemoved>(left));
  CHECK_FALSE(ticket.state().favorites.contains("c-participant"));
  refused_as_unknown(ticket.state(), context(Who::participant, {}, ++t));
}

TEST_CASE("someone who left or was removed rejoins through a still-active link") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  ok(ticket.when(dt::CreateInvite{"inv-2", "h-2"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::RevokeInvite{"inv-2"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::LeaveTicket{}, context(Who::participant, {}, ++t)));

  // Through a revoked link: no.
  CHECK(error_of(ticket.would(dt::JoinByInvite{"h-2"}, context(Who::removed, {}, ++t))) ==
        "invite_inactive");
  CHECK(error_of(ticket.would(dt::JoinByInvite{"h-2"}, context(Who::participant, {}, t))) ==
        "invite_inactive");

  // Through the active one: yes, and they read again.
  for (Who who : {Who::removed, Who::participant}) {
    INFO("who: " << std::string(name(who)));
    CHECK(has<dt::ParticipantJoined>(
        ok(ticket.when(dt::JoinByInvite{"h-1"}, context(who, {}, ++t)))));
    CHECK(dt::can_read(ticket.state(), context(who, {}, t)));
    ok(ticket.would(dt::PostReply{"m-back", "I am back"}, context(who, {}, ++t)));
  }
}

// ---- Who may see what ----

TEST_CASE(
    "a customer who leaves the project no longer sees the ticket - and sees it on rejoining") {
  const Ticket ticket;
  // The creator, after leaving the project.
  refused_as_unknown(ticket.state(), context(Who::non_member));
  // A participant, after leaving the project.
  dt::Context participant = context(Who::participant);
  participant.is_member = false;
  refused_as_unknown(ticket.state(), participant);

  // Signed in again: members again, their tickets visible again.
  CHECK(dt::can_read(ticket.state(), context(Who::creator)));
  CHECK(dt::role_of(ticket.state(), context(Who::creator)) == dt::Role::creator);
  ok(ticket.would(dt::PostReply{"m-2", "Back"}, context(Who::creator)));
  participant.is_member = true;
  CHECK(dt::role_of(ticket.state(), participant) == dt::Role::participant);
  ok(ticket.would(dt::PostReply{"m-2", "Back"}, participant));
}

TEST_CASE(
    "an organisation member reads a ticket only with organisation visibility and the same "
    "organisation") {
  const Ticket ticket;
  const dt::Context colleague = context(Who::org_member);  // globex, visibility on
  CHECK(dt::can_read(ticket.state(), colleague));
  CHECK(dt::role_of(ticket.state(), colleague) == dt::Role::organization);
  ok(ticket.would(dt::AddReaction{"s-1", "👍"}, colleague));
  ok(ticket.would(dt::AddFavorite{}, colleague));

  dt::Context hidden = colleague;
  hidden.policies.organization_visibility = false;
  refused_as_unknown(ticket.state(), hidden);

  dt::Context other_org = colleague;
  other_org.organization = "initech";
  refused_as_unknown(ticket.state(), other_org);

  dt::Context former = colleague;  // left the project
  former.is_member = false;
  refused_as_unknown(ticket.state(), former);

  // No organisation on either side is no shared organisation.
  Events events = opened_ticket();
  std::get<dt::TicketOpened>(events.front()).organization = "";
  const Ticket unorganised(events);
  dt::Context nobody = colleague;
  nobody.organization = "";
  refused_as_unknown(unorganised.state(), nobody);
}

TEST_CASE("staff of another project get not_found for everything of this one") {
  const Ticket ticket;
  refused_as_unknown(ticket.state(), context(Who::other_staff));
  dt::Context wrong_project = context(Who::staff);
  wrong_project.project = "other";
  refused_as_unknown(ticket.state(), wrong_project);

  const dt::Context staff = context(Who::staff);
  CHECK(dt::can_read(ticket.state(), staff));
  ok(ticket.would(dt::SetStatus{Status::in_progress}, staff));
  ok(ticket.would(dt::PostStaffMessage{"s-2", "Hi", false, std::nullopt}, staff));
  ok(ticket.would(dt::UpdateTicket{"high", std::nullopt}, staff));
}

// ---- Mentions ----

namespace {
std::vector<dt::MentionCandidate> candidates() {
  return {
      {"pat", "c-participant", true, ""},      // a participant
      {"rem", "c-removed", true, ""},          // removed from the ticket
      {"out", "c-outsider", true, "initech"},  // unrelated
      {"col", "c-colleague", true, "globex"},  // the creator's organisation
      {"cre", "c-creator", false, "globex"},   // the creator, who left the project
  };
}
std::vector<std::string> mentions_of(const Events& events) {
  if (const auto* m = first<dt::MessagePosted>(events)) return m->mentions;
  if (const auto* o = first<dt::TicketOpened>(events)) return o->mentions;
  return {};
}
}  // namespace

TEST_CASE("an @mention names only candidates who can read the ticket") {
  const Ticket ticket;
  const std::string body = "@pat @rem @out @col @cre @nobody please check";
  dt::Context staff = context(Who::staff);
  staff.mention_candidates = candidates();
  CHECK(mentions_of(ok(ticket.would(dt::PostStaffMessage{"s-2", body, false, std::nullopt},
                                    staff))) == std::vector<std::string>{"c-participant"});

  // With organisation visibility the colleague reads it too.
  staff.policies.organization_visibility = true;
  CHECK(mentions_of(
            ok(ticket.would(dt::PostStaffMessage{"s-2", body, false, std::nullopt}, staff))) ==
        std::vector<std::string>{"c-participant", "c-colleague"});

  // A candidate not named in the text is not mentioned; the member creator is.
  dt::Context creator_is_member = context(Who::staff);
  creator_is_member.mention_candidates = {{"cre", "c-creator", true, "globex"},
                                          {"pat", "c-participant", true, ""}};
  CHECK(mentions_of(
            ok(ticket.would(dt::PostStaffMessage{"s-2", "@cre see above", false, std::nullopt},
                            creator_is_member))) == std::vector<std::string>{"c-creator"});

  // The same rule for a customer's reply.
  dt::Context creator = context(Who::creator);
  creator.mention_candidates = candidates();
  CHECK(mentions_of(ok(ticket.would(dt::PostReply{"m-2", body}, creator))) ==
        std::vector<std::string>{"c-participant"});
}

TEST_CASE("an internal note mentions nobody") {
  const Ticket ticket;
  dt::Context staff = context(Who::staff);
  staff.mention_candidates = candidates();
  CHECK(mentions_of(
            ok(ticket.would(dt::PostStaffMessage{"n-2", "@pat knows", true, std::nullopt}, staff)))
            .empty());
  CHECK(mentions_of(ok(ticket.would(dt::PostStaffMessage{"s-2", "@pat knows", false, std::nullopt},
                                    staff))) == std::vector<std::string>{"c-participant"});
}

TEST_CASE("an e-mail address is not a mention") {
  CHECK(dt::extract_mentions("write to support@pat.io or bob@example.com").empty());
  CHECK(dt::extract_mentions("ask @pat.") == std::vector<std::string>{"pat"});
  CHECK(dt::extract_mentions("(@pat) and @pat again") == std::vector<std::string>{"pat"});

  const Ticket ticket;
  dt::Context staff = context(Who::staff);
  staff.mention_candidates = {{"example.com", "c-participant", true, ""}};
  CHECK(mentions_of(
            ok(ticket.would(
                dt::PostStaffMessage{"s-2", "mail bob@example.com", false, std::nullopt}, staff)))
            .empty());
  CHECK(mentions_of(ok(ticket.would(
            dt::PostStaffMessage{"s-2", "cc @example.com", false, std::nullopt}, staff))) ==
        std::vector<std::string>{"c-participant"});
}

// ---- Opening a ticket ----

TEST_CASE("only member customers open tickets") {
  const dt::State nothing;
  const Events opened =
      ok(dt::decide(nothing, open_command("Login fails", "Since today"), context(Who::creator)));
  const auto* o = first<dt::TicketOpened>(opened);
  REQUIRE(o != nullptr);
  CHECK(o->creator == "c-creator");
  CHECK(o->project == "acme");
  CHECK(o->number == 7);
  const dt::State state = dt::fold(opened);
  CHECK(state.status == Status::open);
  CHECK(state.participants == std::set<std::string>{"c-creator"});

  for (Who who : {Who::non_member, Who::staff, Who::other_staff, Who::system}) {
    INFO("who: " << std::string(name(who)));
    CHECK(error_of(dt::decide(nothing, open_command("Login fails", "Since today"), context(who))) ==
          "forbidden");
  }
}

TEST_CASE("a ticket's subject is 1 to 200 characters after trimming") {
  const dt::State nothing;
  const dt::Context creator = context(Who::creator);
  auto subject_of = [&](const std::string& subject) {
    const Events e = ok(dt::decide(nothing, open_command(subject, "Body"), creator));
    return first<dt::TicketOpened>(e)->subject;
  };
  CHECK(subject_of("  Login fails \t") == "Login fails");
  CHECK(subject_of("x") == "x");
  CHECK(subject_of(repeat("é", 200)) == repeat("é", 200));  // 400 bytes, 200 characters
  CHECK(subject_of(repeat("😀", 200)) == repeat("😀", 200));  // 800 bytes
  // 200 characters once trimmed: the white space around them does not count.
  const Outcome padded =
      dt::decide(nothing, open_command("   " + repeat("a", 200) + "   ", "Body"), creator);
  CHECK(error_of(padded) == "ok");
  if (padded) CHECK(first<dt::TicketOpened>(*padded)->subject == repeat("a", 200));

  for (const std::string& bad : {std::string(), std::string("   "), std::string(" \t\n "),
                                 repeat("a", 201), repeat("é", 201), std::string("\xff\xfe")}) {
    INFO("subject of " << bad.size() << " bytes");
    const Outcome r = dt::decide(nothing, open_command(bad, "Body"), creator);
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "subject");
  }
}

TEST_CASE("a ticket's message is 1 to 10000 characters") {
  const dt::State nothing;
  const dt::Context creator = context(Who::creator);
  ok(dt::decide(nothing, open_command("Subject", "x"), creator));
  ok(dt::decide(nothing, open_command("Subject", repeat("€", 10'000)), creator));  // 30000 bytes
  for (const std::string& bad : {std::string(), std::string("  \n  "), repeat("a", 10'001),
                                 repeat("€", 10'001), std::string("ok \xc3")}) {
    INFO("message of " << bad.size() << " bytes");
    const Outcome r = dt::decide(nothing, open_command("Subject", bad), creator);
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "message");
  }
}

TEST_CASE("a ticket's priority is low - normal - high or urgent") {
  const dt::State nothing;
  dt::Context creator = context(Who::creator);
  // Without the project's leave, a customer names no priority: the ticket is normal.
  CHECK(
      first<dt::TicketOpened>(ok(dt::decide(nothing, open_command("S", "B"), creator)))->priority ==
      "normal");
  for (const char* priority : {"low", "normal", "urgent"}) {
    INFO("priority '" << std::string(priority) << "' without --customer-priority");
    const Outcome r = dt::decide(nothing, open_command("S", "B", priority), creator);
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "priority");
  }
  creator.customer_priority = true;
  for (const char* priority : {"low", "normal", "high", "urgent"}) {
    INFO("priority '" << std::string(priority) << "'");
    const Events e = ok(dt::decide(nothing, open_command("S", "B", priority), creator));
    CHECK(first<dt::TicketOpened>(e)->priority == priority);
  }
  for (const char* priority : {"", "critical", "URGENT", "normal "}) {
    INFO("priority '" << std::string(priority) << "'");
    const Outcome r = dt::decide(nothing, open_command("S", "B", priority), creator);
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "priority");
  }
  // Staff changing it later are held to the same list.
  const Ticket ticket;
  ok(ticket.would(dt::UpdateTicket{"urgent", std::nullopt}, context(Who::staff)));
  CHECK(error_of(ticket.would(dt::UpdateTicket{"critical", std::nullopt}, context(Who::staff))) ==
        "invalid_request");  // Teams are text without control characters (they are keys of the
                             // staff queue).
  ok(ticket.would(dt::UpdateTicket{std::nullopt, "Billing – EU"}, context(Who::staff)));
  for (std::string bad :
       {std::string("billing\0x", 9), std::string("a\nb"), std::string(101, 't')}) {
    const Outcome r = ticket.would(dt::UpdateTicket{std::nullopt, bad}, context(Who::staff));
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "team");
  }
}

// ---- Scheduled closure ----

TEST_CASE("a closure is scheduled only for a time in the future (invalid_request on 'at')") {
  const dom::TimeUs now = kT0 + kHour;
  const Ticket ticket;
  const dt::Context staff = context(Who::staff, {}, now);
  for (dom::TimeUs at : {now - kDay, now - 1, now}) {
    const Outcome r = ticket.would(dt::ScheduleClosure{at}, staff);
    CHECK(error_of(r) == "invalid_request");
    CHECK(field_of(r) == "at");
  }
  const Events e = ok(ticket.would(dt::ScheduleClosure{now + 1}, staff));
  const auto* scheduled = first<dt::ClosureScheduled>(e);
  REQUIRE(scheduled != nullptr);
  CHECK(scheduled->closes_at == now + 1);
  CHECK(scheduled->previous == Status::open);
}

TEST_CASE("scheduling a closure posts a system message that customers see") {
  const dom::TimeUs now = kT0 + kHour;
  Ticket ticket;
  const Events e =
      ok(ticket.when(dt::ScheduleClosure{now + 2 * kDay}, context(Who::staff, {}, now)));
  const auto* notice = first<dt::MessagePosted>(e);
  REQUIRE(notice != nullptr);
  CHECK(notice->author.realm == Realm::system);
  CHECK_FALSE(notice->internal);
  CHECK_FALSE(notice->body.empty());
  CHECK(ticket.state().status == Status::closure_scheduled);
  REQUIRE(ticket.state().closure.has_value());
  CHECK(ticket.state().closure->closes_at == std::optional<dom::TimeUs>(now + 2 * kDay));
  // A customer sees it: they can react to it (unlike an internal note).
  ok(ticket.would(dt::AddReaction{notice->message_id, "👍"}, context(Who::creator, {}, now + 1)));
  CHECK(error_of(ticket.would(dt::AddReaction{"n-1", "👍"}, context(Who::creator, {}, now + 1))) ==
        "not_found");

  // A refused schedule posts nothing; customers cannot schedule.
  Ticket refused;
  CHECK(error_of(refused.when(dt::ScheduleClosure{now + kDay}, context(Who::creator, {}, now))) ==
        "forbidden");
  CHECK(refused.state().messages.size() == ticket.state().messages.size() - 1);
}

TEST_CASE("any staff status change cancels a scheduled closure") {
  const dom::TimeUs now = kT0 + kHour;
  const dom::TimeUs at = now + 2 * kDay;
  Ticket scheduled;
  ok(scheduled.when(dt::SetStatus{Status::in_progress}, context(Who::staff, {}, now)));
  ok(scheduled.when(dt::ScheduleClosure{at}, context(Who::staff, {}, now + 1)));
  REQUIRE(dt::next_timer(scheduled.state(), {}) == std::optional<dom::TimeUs>(at));

  const dt::Command changes[] = {
      dt::SetStatus{Status::open},
      dt::SetStatus{Status::in_progress},
      dt::SetStatus{Status::awaiting_customer},
      dt::SetStatus{Status::resolved},
      dt::PostStaffMessage{"s-2", "Not yet", false, Status::required_action},
      dt::PostStaffMessage{"n-2", "Keep it", true, Status::in_progress},
  };
  for (const dt::Command& change : changes) {
    INFO("change #" << (&change - changes));
    Ticket ticket = scheduled;
    ok(ticket.when(change, context(Who::staff, {}, now + kDay)));
    CHECK(ticket.state().status != Status::closure_scheduled);
    CHECK_FALSE(ticket.state().closure.has_value());
    // At the old time nothing closes it.
    CHECK_FALSE(
        has<dt::TicketClosed>(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, at)))));
    CHECK(ticket.state().status != Status::closed);
  }

  // A reply without a status leaves it scheduled, and at its time the system closes it.
  Ticket ticket = scheduled;
  ok(ticket.when(dt::PostStaffMessage{"s-2", "FYI", false, std::nullopt},
                 context(Who::staff, {}, now + kDay)));
  CHECK(ticket.state().status == Status::closure_scheduled);
  CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, at - 1))).empty());
  const Events closed = ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, at)));
  const auto* c = first<dt::TicketClosed>(closed);
  REQUIRE(c != nullptr);
  CHECK(c->reason == "scheduled");
  CHECK(ticket.state().status == Status::closed);
}

TEST_CASE("cancelling a scheduled closure restores the previous status") {
  const dom::TimeUs now = kT0 + kHour;
  for (Status previous :
       {Status::in_progress, Status::awaiting_customer, Status::required_test, Status::resolved}) {
    INFO("scheduled from " << previous);
    Ticket ticket;
    ok(ticket.when(dt::SetStatus{previous}, context(Who::staff, {}, now)));
    ok(ticket.when(dt::ScheduleClosure{now + 2 * kDay}, context(Who::staff, {}, now + 1)));
    CHECK(error_of(ticket.would(dt::CancelScheduledClosure{},
                                context(Who::creator, {}, now + 2))) == "forbidden");
    const Events e =
        ok(ticket.when(dt::CancelScheduledClosure{}, context(Who::staff, {}, now + 2)));
    const auto* cancelled = first<dt::ClosureCancelled>(e);
    REQUIRE(cancelled != nullptr);
    CHECK(cancelled->restored == previous);
    CHECK(ticket.state().status == previous);
    CHECK_FALSE(ticket.state().closure.has_value());
    CHECK_FALSE(has<dt::TicketClosed>(
        ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, now + 2 * kDay)))));
  }
  // Nothing scheduled, nothing to cancel.
  const Ticket ticket;
  CHECK(error_of(ticket.would(dt::CancelScheduledClosure{}, context(Who::staff))) ==
        "invalid_transition");
}

// ---- Auto-close ----

TEST_CASE("a pending closure is closed automatically after the project's timeout") {
  const dom::TimeUs now = kT0 + kHour;
  dom::Policies two_hours;
  two_hours.pending_closure_timeout = 2 * kHour;
  for (const auto& [policies, timeout] :
       {std::pair{dom::Policies{}, 48 * kHour}, std::pair{two_hours, 2 * kHour}}) {
    INFO("timeout " << timeout / kHour << " h");
    Ticket ticket;
    ok(ticket.when(dt::RequestClosure{}, context(Who::participant, policies, now)));
    CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, policies, now + timeout - 1)))
              .empty());
    CHECK(ticket.state().status == Status::pending_closure);
    const Events e =
        ok(ticket.when(dt::ApplyTimers{}, context(Who::system, policies, now + timeout)));
    const auto* closed = first<dt::TicketClosed>(e);
    REQUIRE(closed != nullptr);
    CHECK(closed->from == Status::pending_closure);
    CHECK(closed->reason == "pending_closure_timeout");
    CHECK(closed->by == dom::system_actor());
    CHECK(ticket.state().status == Status::closed);
  }
}

TEST_CASE("a resolved ticket is closed automatically after its timeout - and never when it is 0") {
  const dom::TimeUs now = kT0 + kHour;
  dom::Policies one_day;
  one_day.resolved_timeout = kDay;
  for (const auto& [policies, timeout] :
       {std::pair{dom::Policies{}, 14 * kDay}, std::pair{one_day, kDay}}) {
    INFO("timeout " << timeout / kDay << " d");
    Ticket ticket = resolved_at(now, policies);
    ok(ticket.when(answer(5), context(Who::creator, policies, now + 1)));  // no survey to expire
    CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, policies, now + timeout - 1)))
              .empty());
    const Events e =
        ok(ticket.when(dt::ApplyTimers{}, context(Who::system, policies, now + timeout)));
    const auto* closed = first<dt::TicketClosed>(e);
    REQUIRE(closed != nullptr);
    CHECK(closed->from == Status::resolved);
    CHECK(closed->reason == "resolved_timeout");
    CHECK(ticket.state().status == Status::closed);
  }

  dom::Policies never;
  never.resolved_timeout = 0;
  Ticket ticket = resolved_at(now, never);
  for (dom::TimeUs later : {now + 14 * kDay, now + 400 * kDay}) {
    CHECK_FALSE(has<dt::TicketClosed>(
        ok(ticket.when(dt::ApplyTimers{}, context(Who::system, never, later)))));
  }
  CHECK(ticket.state().status == Status::resolved);
}

TEST_CASE("a pending_closure_timeout of 0 never closes a pending closure") {
  const dom::TimeUs now = kT0 + kHour;
  dom::Policies never;
  never.pending_closure_timeout = 0;
  Ticket ticket;
  ok(ticket.when(dt::RequestClosure{}, context(Who::participant, never, now)));
  CHECK(dt::next_timer(ticket.state(), never) == now + 7 * kDay);  // only the survey's expiry
  for (dom::TimeUs later : {now + 48 * kHour, now + 400 * kDay}) {
    CHECK_FALSE(has<dt::TicketClosed>(
        ok(ticket.when(dt::ApplyTimers{}, context(Who::system, never, later)))));
  }
  CHECK(ticket.state().status == Status::pending_closure);
}

TEST_CASE("a project with surveys off offers none whichever way a resolution begins") {
  const dom::TimeUs now = kT0 + kHour;
  dom::Policies off;
  off.surveys = false;
  for (const dt::Command& c :
       {dt::Command{dt::SetStatus{Status::resolved}}, dt::Command{dt::SetStatus{Status::closed}},
        dt::Command{dt::ScheduleClosure{now + kDay}}}) {
    Ticket ticket;
    CHECK_FALSE(has<dt::SurveyOffered>(ok(ticket.when(c, context(Who::staff, off, now)))));
    CHECK(dt::pending_survey(ticket.state(), now) == nullptr);
  }
  Ticket ticket;
  CHECK_FALSE(has<dt::SurveyOffered>(
      ok(ticket.when(dt::RequestClosure{}, context(Who::creator, off, now)))));
  CHECK(ticket.state().surveys.empty());
}

TEST_CASE("the timers close a ticket once - however often they are issued") {
  const dom::TimeUs now = kT0 + kHour;
  Ticket ticket;
  ok(ticket.when(dt::RequestClosure{}, context(Who::creator, {}, now)));
  const dom::TimeUs due = now + 48 * kHour;
  CHECK(count<dt::TicketClosed>(
            ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, due)))) == 1);
  CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, due))).empty());
  CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, {}, due + kHour))).empty());
  CHECK(count<dt::TicketClosed>(ticket.events()) == 1);
}

// ---- Retries and timers ----

TEST_CASE("a command that changes nothing returns no events") {
  dom::TimeUs t = kT0 + kHour;
  Ticket ticket(with_invite());
  ok(ticket.when(dt::AddFavorite{}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::AddReaction{"s-1", "👍"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::CreateInvite{"inv-2", "h-2"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::RevokeInvite{"inv-2"}, context(Who::creator, {}, ++t)));
  ok(ticket.when(dt::DeleteMessage{"m-p"}, context(Who::participant, {}, ++t)));

  struct Retry {
    const char* what;
    dt::Command command;
    Who who;
  };
  const Retry retries[] = {
      {"set the current status", dt::SetStatus{Status::open}, Who::staff},
      {"favorite again", dt::AddFavorite{}, Who::creator},
      {"unmark a ticket that is no favorite", dt::RemoveFavorite{}, Who::participant},
      {"react again", dt::AddReaction{"s-1", "👍"}, Who::creator},
      {"remove a reaction never given", dt::RemoveReaction{"s-1", "👍"}, Who::participant},
      {"edit to the same text", dt::EditMessage{"m-1", "It will not start"}, Who::creator},
      {"delete again", dt::DeleteMessage{"m-p"}, Who::participant},
      {"revoke again", dt::RevokeInvite{"inv-2"}, Who::creator},
      {"join as a participant", dt::JoinByInvite{"h-1"}, Who::participant},
      {"set the same priority", dt::UpdateTicket{"normal", std::nullopt}, Who::staff},
      {"timers with nothing due", dt::ApplyTimers{}, Who::system},
  };
  for (const Retry& retry : retries) {
    INFO("retry: " << std::string(retry.what));
    CHECK(ok(ticket.would(retry.command, context(retry.who, {}, ++t))).empty());
  }
  // Their counterparts that do change something record it.
  const Retry changes[] = {
      {"set another status", dt::SetStatus{Status::in_progress}, Who::staff},
      {"favorite", dt::AddFavorite{}, Who::participant},
      {"unmark a favorite", dt::RemoveFavorite{}, Who::creator},
      {"react with another emoji", dt::AddReaction{"s-1", "🎉"}, Who::creator},
      {"remove a reaction", dt::RemoveReaction{"s-1", "👍"}, Who::creator},
      {"edit", dt::EditMessage{"m-1", "It will not start at all"}, Who::creator},
      {"delete", dt::DeleteMessage{"m-1"}, Who::creator},
      {"revoke", dt::RevokeInvite{"inv-1"}, Who::creator},
      {"join as someone new", dt::JoinByInvite{"h-1"}, Who::outsider},
      {"set another priority", dt::UpdateTicket{"high", std::nullopt}, Who::staff},
  };
  for (const Retry& change : changes) {
    INFO("change: " << std::string(change.what));
    CHECK_FALSE(ok(ticket.would(change.command, context(change.who, {}, ++t))).empty());
  }
}

TEST_CASE("next_timer reports the earliest deadline") {
  const dom::TimeUs now = kT0 + kHour;
  const dom::Policies defaults;
  {  // Active, no survey: nothing to wait for.
    const Ticket ticket;
    CHECK_FALSE(dt::next_timer(ticket.state(), defaults).has_value());
  }
  {  // Pending closure: 48 h comes before the survey's 7 days.
    Ticket ticket;
    ok(ticket.when(dt::RequestClosure{}, context(Who::creator, defaults, now)));
    CHECK(dt::next_timer(ticket.state(), defaults) == std::optional<dom::TimeUs>(now + 48 * kHour));
  }
  {  // Resolved: the survey's 7 days, then, once answered, the 14-day auto-close; 0 = never.
    Ticket ticket = resolved_at(now);
    CHECK(dt::next_timer(ticket.state(), defaults) == std::optional<dom::TimeUs>(now + 7 * kDay));
    ok(ticket.when(answer(5), context(Who::creator, defaults, now + 1)));
    CHECK(dt::next_timer(ticket.state(), defaults) == std::optional<dom::TimeUs>(now + 14 * kDay));
    dom::Policies never;
    never.resolved_timeout = 0;
    CHECK_FALSE(dt::next_timer(ticket.state(), never).has_value());
  }
  {  // Scheduled closure: its time or the survey's expiry, whichever is first.
    for (dom::TimeUs in : {3 * kDay, 10 * kDay}) {
      Ticket ticket;
      ok(ticket.when(dt::ScheduleClosure{now + in}, context(Who::staff, defaults, now)));
      CHECK(dt::next_timer(ticket.state(), defaults) ==
            std::optional<dom::TimeUs>(now + std::min(in, 7 * kDay)));
    }
  }
  {  // The deadline it reports is the one the timers act on: nothing before, something at it.
    Ticket ticket = resolved_at(now);
    for (int round = 0; round < 3; ++round) {
      const auto next = dt::next_timer(ticket.state(), defaults);
      if (!next) break;
      CHECK(ok(ticket.when(dt::ApplyTimers{}, context(Who::system, defaults, *next - 1))).empty());
      CHECK_FALSE(
          ok(ticket.when(dt::ApplyTimers{}, context(Who::system, defaults, *next))).empty());
    }
    CHECK(ticket.state().status == Status::closed);
    CHECK_FALSE(dt::next_timer(ticket.state(), defaults).has_value());
  }
}

TEST_CASE("reopening is recorded as TicketReopened - other moves as StatusChanged") {
  dom::Policies reopen;
  reopen.customer_reply = dom::CustomerReplyPolicy::reopen;
  auto by_reply = dt::decide(ticket_in(dom::Status::resolved), dt::PostReply{"m-x", "Not fixed"},
                             context(Who::creator, reopen));
  REQUIRE(by_reply);
  const auto* reopened = first<dt::TicketReopened>(*by_reply);
  REQUIRE(reopened);
  CHECK(reopened->from == dom::Status::resolved);
  CHECK(reopened->to == dom::Status::open);
  CHECK_FALSE(has<dt::StatusChanged>(*by_reply));

  auto by_staff = dt::decide(ticket_in(dom::Status::closed),
                             dt::SetStatus{dom::Status::in_progress}, context(Who::staff));
  REQUIRE(by_staff);
  CHECK(has<dt::TicketReopened>(*by_staff));

  auto plain = dt::decide(ticket_in(dom::Status::open), dt::SetStatus{dom::Status::in_progress},
                          context(Who::staff));
  REQUIRE(plain);
  CHECK(has<dt::StatusChanged>(*plain));
  CHECK_FALSE(has<dt::TicketReopened>(*plain));
}

TEST_CASE("replies - staff messages and edits are 1 to 10000 characters - not blank") {
  const dt::State t = ticket_in(Status::open);
  const std::string longest(10'000, 'x'), too_long(10'001, 'x');
  const std::string long_utf8 = [] {
    std::string s;
    for (int i = 0; i < 10'000; ++i) s += "\xc3\xa9";  // 10,000 characters, 20,000 bytes
    return s;
  }();
  for (const std::string& body : {std::string(""), std::string("  \n\t "), too_long}) {
    CAPTURE(body.size());
    auto reply = dt::decide(t, dt::PostReply{"m-x", body}, context(Who::creator));
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code == "invalid_request");
    CHECK(reply.error().field == "body");
    auto staff =
        dt::decide(t, dt::PostStaffMessage{"s-x", body, false, std::nullopt}, context(Who::staff));
    REQUIRE_FALSE(staff);
    CHECK(staff.error().field == "body");
    auto edit = dt::decide(t, dt::EditMessage{"m-1", body}, context(Who::creator));
    REQUIRE_FALSE(edit);
    CHECK(edit.error().field == "body");
  }
  CHECK(dt::decide(t, dt::PostReply{"m-x", longest}, context(Who::creator)));
  CHECK(dt::decide(t, dt::PostReply{"m-x", long_utf8}, context(Who::creator)));
  CHECK(
      dt::decide(t, dt::PostStaffMessage{"s-x", longest, true, std::nullopt}, context(Who::staff)));
  CHECK(dt::decide(t, dt::EditMessage{"m-1", longest}, context(Who::creator)));
  CHECK(
      dt::decide(t, dt::PostReply{"m-x", "bad \xff utf-8"}, context(Who::creator)).error().field ==
      "body");
}

TEST_CASE("removing a reaction on a closed ticket is refused like adding one") {
  auto events = opened_ticket();
  events.push_back(dt::ReactionAdded{kT0 + 8, "s-1", "+1", {Realm::customer, "c-creator"}});
  for (auto& e : into(Status::closed)) events.push_back(e);
  auto r = dt::decide(dt::fold(events), dt::RemoveReaction{"s-1", "+1"}, context(Who::creator));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "ticket_closed");
  events.pop_back();  // not closed: the reaction goes
  auto ok = dt::decide(dt::fold(events), dt::RemoveReaction{"s-1", "+1"}, context(Who::creator));
  REQUIRE(ok);
  CHECK(has<dt::ReactionRemoved>(*ok));
}

TEST_CASE("an organisation member who is not a participant cannot leave the ticket") {
  auto r = dt::decide(ticket_in(Status::open), dt::LeaveTicket{}, context(Who::org_member));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "forbidden");
}

TEST_CASE("a participant removed by the creator loses their favorite") {
  auto events = opened_ticket();
  events.push_back(dt::FavoriteAdded{kT0 + 8, "c-participant"});
  auto r =
      dt::decide(dt::fold(events), dt::RemoveParticipant{"c-participant"}, context(Who::creator));
  REQUIRE(r);
  const auto* removed = first<dt::FavoriteRemoved>(*r);
  REQUIRE(removed);
  CHECK(removed->customer == "c-participant");
  CHECK(removed->reason == "lost_access");
  CHECK(dt::fold(*r, dt::fold(events)).favorites.empty());
}

TEST_CASE("a reopening after the survey's week marks it expired - not withdrawn") {
  auto events = opened_ticket();
  for (auto& e : into(Status::resolved)) events.push_back(e);
  events.push_back(dt::SurveyOffered{kT0 + 10, "sv-1", "c-creator", kT0 + 10 + 7 * kDay});
  const dt::State t = dt::fold(events);
  auto late = dt::decide(t, dt::SetStatus{Status::open}, context(Who::staff, {}, kT0 + 8 * kDay));
  REQUIRE(late);
  CHECK(has<dt::SurveyExpired>(*late));
  CHECK_FALSE(has<dt::SurveyWithdrawn>(*late));
  auto early = dt::decide(t, dt::SetStatus{Status::open}, context(Who::staff, {}, kT0 + kDay));
  REQUIRE(early);
  CHECK(has<dt::SurveyWithdrawn>(*early));
}

TEST_CASE("mentions ignore case - handles are lower-case") {
  CHECK(dt::extract_mentions("Hi @Cat and @BOB.") == std::vector<std::string>{"cat", "bob"});
}

TEST_CASE("a message names at most twenty handles and only ones that could be handles") {
  std::string body;
  for (int i = 0; i < 30; ++i) body += "@user" + std::to_string(i) + " @user0 ";
  const auto handles = dt::extract_mentions(body);
  REQUIRE(handles.size() == dt::kMaxMentions);
  CHECK(handles.front() == "user0");
  CHECK(handles.back() == "user19");
  // One letter, or longer than 32: nobody's handle, so nothing to look up.
  CHECK(dt::extract_mentions("@a @" + std::string(33, 'b')).empty());
}

TEST_CASE("organisation visibility follows the creator's current organisation") {
  // Opened before the project knew the creator's organisation: nothing recorded at opening.
  auto events = opened_ticket();
  std::get<dt::TicketOpened>(events[0]).organization = "";
  const dt::State t = dt::fold(events);
  dt::Context colleague = context(Who::org_member);
  CHECK(dt::decide(t, dt::AddFavorite{}, colleague).error().code == "not_found");
  colleague.ticket_organization = "globex";  // the handler's lookup under today's settings
  CHECK(dt::decide(t, dt::AddFavorite{}, colleague));
  colleague.ticket_organization = "renamed";  // or the organisation was renamed
  CHECK(dt::decide(t, dt::AddFavorite{}, colleague).error().code == "not_found");
}

TEST_CASE("internal notes and staff edits are activity staff see and customers do not") {
  const dom::Actor staff{Realm::staff, "s-agent"};
  dt::State t = dt::fold(opened_ticket());
  CHECK(t.updated_at == kT0 + 6);         // the internal note n-1
  CHECK(t.public_updated_at == kT0 + 5);  // the staff reply before it
  t = dt::fold(
      {dt::MessageEdited{kT0 + 20, "n-1", "Surely the database"},
       dt::TicketUpdated{kT0 + 21, "high", "billing", staff}, dt::MessageDeleted{kT0 + 22, "n-1"}},
      std::move(t));
  CHECK(t.updated_at == kT0 + 22);
  CHECK(t.public_updated_at == kT0 + 5);
  t = dt::fold({dt::MessageEdited{kT0 + 30, "m-p", "Same here, still"}}, std::move(t));
  CHECK(t.public_updated_at == kT0 + 30);
}

TEST_CASE("removing a participant revokes the invite links they made and only those") {
  auto events = opened_ticket();
  events.push_back(dt::InviteCreated{kT0 + 8, "inv-p", "h-p", "c-participant"});
  events.push_back(dt::InviteCreated{kT0 + 9, "inv-c", "h-c", "c-creator"});
  const dt::State before = dt::fold(events);
  REQUIRE(dt::active_invites(before).size() == 2);
  auto r = dt::decide(before, dt::RemoveParticipant{"c-participant"}, context(Who::creator));
  REQUIRE(r);
  const auto* revoked = first<dt::InviteRevoked>(*r);
  REQUIRE(revoked);
  CHECK(revoked->invite_id == "inv-p");
  CHECK(revoked->by == "c-creator");
  const dt::State after = dt::fold(*r, before);
  REQUIRE(dt::active_invites(after).size() == 1);
  CHECK(dt::active_invites(after).front()->id == "inv-c");
  dt::Context back = context(Who::participant);
  CHECK(error_of(dt::decide(after, dt::JoinByInvite{"h-p"}, back)) == "invite_inactive");
  CHECK(static_cast<bool>(dt::decide(after, dt::JoinByInvite{"h-c"}, back)));
}

// ---- Ids of what a command creates ----

TEST_CASE("a message or invite link a command does not name takes the id derived for it") {
  Ticket ticket;
  dt::Context ctx = context(Who::creator);
  ctx.new_id = "derived-1";
  const Events posted = ok(ticket.when(dt::PostReply{{}, "Hello"}, ctx));
  CHECK(dt::created_by(posted).message_id == "derived-1");
  CHECK(ticket.state().messages.find("derived-1"));

  dt::Context staff = context(Who::staff);
  staff.new_id = "derived-2";
  const Events note = ok(ticket.when(dt::PostStaffMessage{{}, "Note", true, std::nullopt}, staff));
  CHECK(dt::created_by(note).message_id == "derived-2");

  dt::Context invite = context(Who::creator);
  invite.new_id = "inv-derived";
  const Events made = ok(ticket.when(dt::CreateInvite{{}, "hash"}, invite));
  CHECK(dt::created_by(made).invite_id == "inv-derived");
  CHECK(dt::created_by(made).message_id.empty());

  // A command that names its id keeps it.
  const Events named = ok(ticket.when(dt::PostReply{"m-named", "Again"}, ctx));
  CHECK(dt::created_by(named).message_id == "m-named");
}

TEST_CASE("a message id already in the thread is refused with conflict") {
  Ticket ticket;
  dt::Context ctx = context(Who::creator);
  ctx.new_id = "m-x";
  ok(ticket.when(dt::PostReply{{}, "First"}, ctx));
  CHECK(error_of(ticket.when(dt::PostReply{{}, "Second"}, ctx)) == "conflict");
  CHECK(error_of(ticket.when(dt::PostStaffMessage{"m-x", "Third", false, std::nullopt},
                             context(Who::staff))) == "conflict");
  // Without a derived id and without a named one there is no message.
  dt::Context bare = context(Who::creator);
  CHECK(error_of(ticket.when(dt::PostReply{{}, "Fourth"}, bare)) == "invalid_request");
}
