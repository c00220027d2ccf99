// A property test of the ticket decider: random sequences of commands, valid and invalid, from
// everyone around a ticket (every Who) under random project policies. After every step the
// invariants below must hold. Deterministic: each sequence is seeded by its index.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ticket_fixtures.hpp"

using namespace portico::test;
using dom::kDay;
using dom::kHour;
using dom::kSecond;
using dom::Status;

namespace {

using Events = std::vector<dt::Event>;

constexpr int kSequences = 300;
constexpr int kSteps = 60;

class Rng {
 public:
  explicit Rng(unsigned seed) : gen_(seed) {}
  std::size_t below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(gen_);
  }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
  template <class T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  std::mt19937 gen_;
};

dom::Policies random_policies(Rng& rng) {
  dom::Policies p;
  p.customer_reply =
      rng.chance(50) ? dom::CustomerReplyPolicy::reopen : dom::CustomerReplyPolicy::keep_status;
  p.closed_tickets = rng.chance(50) ? dom::ClosedTicketsPolicy::reply_reopens
                                    : dom::ClosedTicketsPolicy::closed_is_final;
  p.pending_closure_timeout = rng.pick(std::vector<dom::TimeUs>{kHour, 48 * kHour, 3 * kDay});
  p.resolved_timeout = rng.pick(std::vector<dom::TimeUs>{0, kDay, 14 * kDay});
  p.survey_expiry = rng.pick(std::vector<dom::TimeUs>{kDay, 7 * kDay});
  p.organization_visibility = rng.chance(50);
  if (rng.chance(30)) p.survey_options = {"Solved", "Not solved"};
  return p;
}

// The customers @handles may name, as the handler would look them up.
std::vector<dt::MentionCandidate> candidates() {
  return {
      {"cre", "c-creator", true, "globex"},   {"pat", "c-participant", true, ""},
      {"rem", "c-removed", true, ""},         {"out", "c-outsider", true, "initech"},
      {"col", "c-colleague", true, "globex"}, {"gone", "c-gone", false, "globex"},
  };
}

std::string random_body(Rng& rng) {
  static const std::vector<std::string> kBodies = {"Any news?",
                                                   "@pat @col @out @rem @gone @cre have a look",
                                                   "write to help@pat.io",
                                                   "Héllo 👋",
                                                   "",
                                                   "  \n ",
                                                   "\xc3",
                                                   "ok"};
  if (rng.chance(2)) return std::string(10'001, 'a');
  return rng.pick(kBodies);
}

std::vector<std::string> message_ids(const dt::State& s) {
  std::vector<std::string> ids = {"no-such-message"};
  for (const auto& m : s.messages) ids.push_back(m.id);
  return ids;
}

std::optional<Status> maybe_status(Rng& rng) {
  if (rng.chance(50)) return std::nullopt;
  return dom::kAllStatuses[rng.below(std::size(dom::kAllStatuses))];
}

dt::Command random_command(Rng& rng, const dt::State& s, int step, dom::TimeUs now) {
  const std::string fresh = "x-" + std::to_string(step);
  static const std::vector<std::string> kEmoji = {"👍", "❤️", "🎉", "", "a b"};
  // Before the ticket exists, mostly try to open it.
  const std::size_t kind = !s.exists && rng.chance(60) ? 0 : rng.below(22);
  switch (kind) {
    case 0: {
      static const std::vector<std::string> kSubjects = {
          "Server down", "  Padded  ", "", "   ", std::string(201, 's'), "Ünïcode"};
      static const std::vector<std::optional<std::string>> kPriorities = {
          std::nullopt, "normal", "low", "urgent", "critical"};
      return dt::OpenTicket{rng.chance(80) ? std::uint64_t{7} : std::uint64_t{0},
                            rng.pick(kSubjects),
                            random_body(rng),
                            fresh,
                            rng.pick(kPriorities),
                            std::nullopt,
                            std::nullopt,
                            {}};
    }
    case 1:
      return dt::PostReply{rng.chance(95) ? fresh : "", random_body(rng)};
    case 2:
      return dt::PostStaffMessage{rng.chance(95) ? fresh : "", random_body(rng), rng.chance(30),
                                  maybe_status(rng)};
    case 3:
      return dt::EditMessage{rng.pick(message_ids(s)), random_body(rng)};
    case 4:
      return dt::DeleteMessage{rng.pick(message_ids(s))};
    case 5:
      return dt::AddReaction{rng.pick(message_ids(s)), rng.pick(kEmoji)};
    case 6: {
      // Mostly a reaction someone gave, so that some removals find theirs.
      std::vector<std::pair<std::string, std::string>> given;
      for (const auto& m : s.messages) {
        for (const auto& [emoji, who] : m.reactions) given.emplace_back(m.id, emoji);
      }
      if (!given.empty() && rng.chance(70)) {
        const auto& [id, emoji] = rng.pick(given);
        return dt::RemoveReaction{id, emoji};
      }
      return dt::RemoveReaction{rng.pick(message_ids(s)), rng.pick(kEmoji)};
    }
    case 7:
      return dt::SetStatus{dom::kAllStatuses[rng.below(std::size(dom::kAllStatuses))]};
    case 8:
      return dt::RequestClosure{};
    case 9:
      return dt::ScheduleClosure{
          now + rng.pick(std::vector<dom::TimeUs>{-kHour, 0, kHour, kDay, 10 * kDay})};
    case 10:
      return dt::CancelScheduledClosure{};
    case 11:
      return dt::CloseNow{};
    case 12:
      return dt::ApplyTimers{};
    case 13: {
      static const std::vector<std::optional<std::string>> kOptions = {std::nullopt, std::nullopt,
                                                                       "Good", "Solved", "Superb"};
      static const std::vector<std::optional<std::string>> kComments = {std::nullopt, "Thanks", "",
                                                                        std::string(2001, 'c')};
      std::vector<std::optional<std::string>> surveys = {std::nullopt, "no-such-survey"};
      for (const auto& v : s.surveys) surveys.push_back(v.id);
      const int rating = static_cast<int>(rng.below(8)) - 1;  // -1..6
      const bool via_token = rng.chance(40);
      std::optional<std::string> survey;
      if (via_token) {
        survey = !s.surveys.empty() && rng.chance(60) ? s.surveys.back().id : rng.pick(surveys);
      }
      return dt::AnswerSurvey{rating, rng.pick(kOptions), rng.pick(kComments), via_token, survey};
    }
    case 14:
      return dt::AddFavorite{};
    case 15:
      return dt::RemoveFavorite{};
    case 16: {
      const std::string id = rng.chance(80) ? "inv-" + std::to_string(step) : "inv-1";
      return dt::CreateInvite{id, rng.chance(95) ? "h-" + id : ""};
    }
    case 17: {
      std::vector<std::string> ids = {"inv-none"};
      for (const auto& [id, invite] : s.invites) ids.push_back(id);
      return dt::RevokeInvite{rng.pick(ids)};
    }
    case 18: {
      std::vector<std::string> hashes = {"h-unknown", ""};
      for (const auto& [id, invite] : s.invites) hashes.push_back(invite.token_hash);
      return dt::JoinByInvite{rng.pick(hashes)};
    }
    case 19: {
      static const std::vector<std::string> kCustomers = {
          "c-participant", "c-removed", "c-outsider", "c-colleague", "c-creator", "c-nobody"};
      return dt::RemoveParticipant{rng.pick(kCustomers)};
    }
    case 20:
      return dt::LeaveTicket{};
    default: {
      static const std::vector<std::optional<std::string>> kPriorities = {
          std::nullopt, "low", "normal", "high", "bogus"};
      static const std::vector<std::optional<std::string>> kTeams = {std::nullopt, "", "billing",
                                                                     "tech"};
      return dt::UpdateTicket{rng.pick(kPriorities), rng.pick(kTeams)};
    }
  }
}

// Someone likely to be allowed to issue `command`, so that accepted paths are walked often.
Who fitting_actor(Rng& rng, const dt::Command& command) {
  static const std::vector<Who> kOnTicket = {Who::creator, Who::participant};
  static const std::vector<Who> kReaders = {Who::creator, Who::participant, Who::org_member,
                                            Who::staff};
  static const std::vector<Who> kAuthors = {Who::creator, Who::participant, Who::staff};
  static const std::vector<Who> kJoiners = {Who::outsider, Who::removed, Who::participant,
                                            Who::org_member};
  static const std::vector<Who> kStaff = {Who::staff};
  static const std::vector<Who> kCreator = {Who::creator};
  static const std::vector<Who> kSystem = {Who::system};
  const std::vector<Who>* fit = &kOnTicket;
  std::visit(
      [&](const auto& c) {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, dt::PostStaffMessage> || std::is_same_v<C, dt::SetStatus> ||
                      std::is_same_v<C, dt::ScheduleClosure> ||
                      std::is_same_v<C, dt::CancelScheduledClosure> ||
                      std::is_same_v<C, dt::UpdateTicket>) {
          fit = &kStaff;
        } else if constexpr (std::is_same_v<C, dt::ApplyTimers>) {
          fit = &kSystem;
        } else if constexpr (std::is_same_v<C, dt::AnswerSurvey> ||
                             std::is_same_v<C, dt::RevokeInvite> ||
                             std::is_same_v<C, dt::RemoveParticipant>) {
          fit = &kCreator;
        } else if constexpr (std::is_same_v<C, dt::EditMessage> ||
                             std::is_same_v<C, dt::DeleteMessage>) {
          fit = &kAuthors;
        } else if constexpr (std::is_same_v<C, dt::AddReaction> ||
                             std::is_same_v<C, dt::RemoveReaction> ||
                             std::is_same_v<C, dt::AddFavorite> ||
                             std::is_same_v<C, dt::RemoveFavorite>) {
          fit = &kReaders;
        } else if constexpr (std::is_same_v<C, dt::JoinByInvite>) {
          fit = &kJoiners;
        }
      },
      command);
  return rng.pick(*fit);
}

const std::set<std::string>& api_codes() {
  static const std::set<std::string> kCodes = {
      "invalid_request",   "forbidden",          "not_author",
      "not_creator",       "not_found",          "ticket_closed",
      "ticket_not_active", "invalid_transition", "creator_cannot_leave",
      "no_survey_pending", "conflict",           "invite_inactive",
      "survey_inactive"};
  return kCodes;
}

// A member customer with no organisation: what a departed participant reads as.
dt::Context plain_customer(const std::string& id, const dom::Policies& p, dom::TimeUs now) {
  dt::Context ctx = context(Who::outsider, p, now);
  ctx.policies = p;
  ctx.actor.id = id;
  ctx.organization = "";
  return ctx;
}

// The invariants, with how many steps broke each and the first such step.
class Findings {
 public:
  void check(bool holds, const char* invariant, const std::string& where) {
    auto& [count, example] = broken_[invariant];
    if (!holds && count++ == 0) example = where;
  }
  void report() const {
    for (const auto& [invariant, found] : broken_) {
      const auto& [count, example] = found;
      INFO("invariant: " << invariant);
      INFO("first broken at " << example);
      CHECK_MESSAGE(count == 0, count << " step(s) broke it");
    }
  }

 private:
  std::map<std::string, std::pair<int, std::string>> broken_;
};

}  // namespace

TEST_CASE("property: random commands from everyone keep every ticket invariant") {
  Findings findings;
  std::map<std::string, int> accepted;  // command name -> accepted with events
  const auto everyone = std::vector<Who>(std::begin(kEveryone), std::end(kEveryone));

  for (int seq = 0; seq < kSequences; ++seq) {
    Rng rng(static_cast<unsigned>(seq) * 7919u + 1u);
    const dom::Policies policies = random_policies(rng);

    // Most sequences start from the fixture's ticket (with a live invite link) in a random
    // status; some from nothing, so that opening is exercised too.
    Events history;
    if (!rng.chance(10)) {
      history = opened_ticket();
      history.push_back(dt::InviteCreated{kT0 + 7, "inv-1", "h-1", "c-creator"});
      for (auto& e : into(dom::kAllStatuses[rng.below(std::size(dom::kAllStatuses))])) {
        history.push_back(std::move(e));
      }
    }
    dt::State state = dt::fold(history);
    std::set<std::string> departed;  // removed or left, and not back since
    dom::TimeUs now = kT0 + kHour;

    for (int step = 0; step < kSteps; ++step) {
      now +=
          rng.pick(std::vector<dom::TimeUs>{kSecond, 10 * 60 * kSecond, 6 * kHour, kDay, 3 * kDay});
      const dt::Command command = random_command(rng, state, step, now);
      // Half the time anyone at all, half the time someone the command suits.
      const Who who = rng.chance(50) ? rng.pick(everyone) : fitting_actor(rng, command);
      dt::Context ctx = context(who, policies, now);
      ctx.policies = policies;       // the project's, for everyone (org_member's default aside)
      ctx.customer_priority = true;  // a project that lets customers choose one
      ctx.mention_candidates = candidates();

      std::ostringstream where;
      where << "sequence " << seq << " step " << step << ": " << command_name(command) << " by "
            << name(who) << " on " << dom::to_string(state.status);
      const std::string at = where.str();

      const dt::State before = state;
      const auto result = dt::decide(state, command, ctx);
      findings.check(state == before, "decide leaves the state it reads untouched", at);
      if (!result) {
        const auto& error = result.error();
        findings.check(api_codes().contains(error.code), "a refusal carries an API.md error code",
                       at + " → " + error.code);
        // An error changes nothing: no events are recorded and the state stays as it was.
        findings.check(state == before, "an error changes nothing", at);
        continue;
      }
      const Events& events = *result;
      if (!events.empty()) ++accepted[command_name(command)];

      for (const dt::Event& e : events) {
        // Every decided event's payload reads back as the same event. Read with the event's own
        // type name, this cannot notice a wrong name: event_schema_test.cpp pins the names.
        const auto payload = dt::to_payload(e);
        const auto back = dt::from_payload(dt::type_name(e), payload);
        const bool round_trips =
            back.has_value() && back->index() == e.index() && dt::to_payload(*back) == payload;
        findings.check(round_trips, "every event's payload reads back through from_payload",
                       at + " → " + std::string(dt::type_name(e)));

        // Mentions name only customers who can read the ticket, and never in internal notes.
        if (const auto* posted = std::get_if<dt::MessagePosted>(&e)) {
          findings.check(!posted->internal || posted->mentions.empty(),
                         "an internal note mentions nobody", at);
          for (const std::string& mentioned : posted->mentions) {
            bool reads = false;
            for (const auto& c : ctx.mention_candidates) {
              if (c.customer != mentioned) continue;
              dt::Context theirs = plain_customer(c.customer, policies, now);
              theirs.is_member = c.is_member;
              theirs.organization = c.organization;
              reads = dt::can_read(before, theirs);
            }
            findings.check(reads, "a mention names someone who can read the ticket",
                           at + " → @" + mentioned);
          }
        }
        if (const auto* removed = std::get_if<dt::ParticipantRemoved>(&e)) {
          departed.insert(removed->customer);
        } else if (const auto* left = std::get_if<dt::ParticipantLeft>(&e)) {
          departed.insert(left->customer);
        } else if (const auto* joined = std::get_if<dt::ParticipantJoined>(&e)) {
          departed.erase(joined->customer);
        }
      }
      state = dt::fold(events, std::move(state));
      history.insert(history.end(), events.begin(), events.end());

      // Favorites never hold a resolved or closed ticket.
      if (state.status == Status::resolved || state.status == Status::closed) {
        findings.check(state.favorites.empty(), "no favorites while resolved or closed", at);
      }
      // The creator is always a participant.
      if (state.exists) {
        findings.check(state.participants.contains(state.creator),
                       "the creator is always in participants", at);
      }
      // A removed or departed participant cannot read the ticket.
      for (const std::string& customer : departed) {
        const dt::Context theirs = plain_customer(customer, policies, now + 1);
        findings.check(
            !state.participants.contains(customer) && !dt::can_read(state, theirs) &&
                error_of(dt::decide(state, dt::PostReply{"probe", "hi"}, theirs)) == "not_found",
            "a removed or departed participant cannot read", at + " → " + customer);
      }
      // Folding everything from scratch gives the live state.
      findings.check(dt::fold(history) == state, "folding all events from scratch = live state",
                     at);
      // next_timer is the time the timers act: nothing just before it, something at it; nothing
      // ever when there is none.
      const auto next = dt::next_timer(state, policies);
      const dt::Context system = [&] {
        dt::Context c = context(Who::system, policies, now);
        c.policies = policies;
        return c;
      }();
      auto timers_at = [&](dom::TimeUs t) {
        dt::Context c = system;
        c.now = t;
        return dt::decide(state, dt::ApplyTimers{}, c);
      };
      if (state.exists) {
        if (next) {
          const auto at_deadline = timers_at(std::max(*next, now));
          findings.check(at_deadline.has_value() && !at_deadline->empty(),
                         "the timers act at next_timer", at);
          if (*next - 1 >= now) {
            const auto just_before = timers_at(*next - 1);
            findings.check(just_before.has_value() && just_before->empty(),
                           "the timers do nothing before next_timer", at);
          }
        } else {
          const auto much_later = timers_at(now + 1000 * kDay);
          findings.check(much_later.has_value() && much_later->empty(),
                         "the timers do nothing when next_timer reports nothing", at);
        }
      }
    }
  }
  findings.report();

  // The generator reaches every command's accepted path, or the test proves little.
  for (const char* kind : kCommandNames) {
    INFO("command " << std::string(kind));
    CHECK(accepted[kind] > 0);
  }
}

TEST_CASE("per-project ticket numbers: stream_id is unique per (project - number)") {
  const std::vector<std::string> projects = {"acme", "acme2", "acme-2", "a", "a1", "globex", "x-1"};
  std::map<std::string, std::pair<std::string, std::uint64_t>> seen;
  for (const std::string& project : projects) {
    for (std::uint64_t n = 1; n <= 300; ++n) {
      const std::string id = dt::stream_id(project, n);
      const auto [it, fresh] = seen.emplace(id, std::pair{project, n});
      INFO(project << " #" << n << " → " << id);
      CHECK_MESSAGE(fresh, "same stream as " << it->second.first << " #" << it->second.second);
      CHECK(dt::stream_id(project, n) == id);  // the same ticket, the same stream
    }
  }
  CHECK(seen.size() == projects.size() * 300);
  // Numbers that read alike across projects stay apart ("acme" #12 vs "acme1" #2).
  CHECK(dt::stream_id("acme", 12) != dt::stream_id("acme1", 2));
  CHECK(dt::stream_id("acme", 7) != dt::stream_id("globex", 7));
  CHECK(dt::stream_id("acme", 7) != dt::stream_id("acme", 8));

  // An opened ticket records its project and number, which name its stream.
  const auto opened = dt::decide(
      dt::State{},
      dt::OpenTicket{12, "Subject", "Body", "m-1", std::nullopt, std::nullopt, std::nullopt, {}},
      context(Who::creator));
  REQUIRE(opened.has_value());
  const dt::State state = dt::fold(*opened);
  CHECK(state.project == "acme");
  CHECK(state.number == 12);
  CHECK(dt::stream_id(state.project, state.number) == dt::stream_id("acme", 12));
}

TEST_CASE("parse_stream_id reads back exactly the streams that stream_id makes") {
  const std::vector<std::string> projects = {"acme", "acme2", "acme-2", "a1", "globex", "x-1"};
  const std::vector<std::uint64_t> numbers = {1, 2, 9, 10, 12, 300, 18'446'744'073'709'551'615u};
  for (const std::string& project : projects) {
    for (std::uint64_t n : numbers) {
      const std::string id = dt::stream_id(project, n);
      INFO(id);
      CHECK(id.starts_with(dt::kStreamPrefix));
      CHECK(dt::parse_stream_id(id) == dt::TicketRef{project, n});
    }
  }
  CHECK(dt::kStreamPrefix == "ticket:");
  CHECK(dt::parse_stream_id("ticket:acme:12") == dt::TicketRef{"acme", 12});

  // Spellings stream_id never makes, each once accepted by one of the hand-written parsers.
  const std::vector<std::string> others = {
      "ticket:acme:12abc",                 // strtoull read 12
      "ticket:acme:0",                     // from_chars read 0
      "ticket:acme:18446744073709551616",  // 2^64: one past the largest number
      "ticket:acme:99999999999999999999",
      "ticket:acme:007",
      "ticket:acme:+12",
      "ticket:acme:-1",
      "ticket:acme: 12",
      "ticket:acme:12 ",
      "ticket:acme:1e3",
      "ticket:acme:0x1f",
      "ticket:acme:",
      "ticket:acme",
      "ticket:acme:1:2",
      "ticket:ac:me:12",
      "ticket::12",
      "ticket:a:12",  // slugs have 2 to 40 characters
      "ticket:Acme:12",
      "ticket:-acme:12",
      "ticket:ac me:12",
      "tickets:acme:12",
      "Ticket:acme:12",
      "project:acme",
      "acme:12",
      "",
  };
  for (const std::string& stream : others) {
    INFO(stream);
    CHECK_FALSE(dt::parse_stream_id(stream).has_value());
  }
}
