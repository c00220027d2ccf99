// Given-when-then helpers for the ticket decider.
#pragma once

#include <doctest/doctest.h>

#include <ostream>
#include <portico/domain/ticket.hpp>
#include <string>
#include <vector>

namespace portico::domain {
inline std::ostream& operator<<(std::ostream& os, Status s) { return os << to_string(s); }
}  // namespace portico::domain

namespace portico::domain::ticket {
inline std::ostream& operator<<(std::ostream& os, const Event& e) { return os << type_name(e); }
}  // namespace portico::domain::ticket

namespace portico::test {

namespace dt = portico::domain::ticket;
namespace dom = portico::domain;

inline constexpr dom::TimeUs kT0 = 1'795'000'000'000'000;  // 2026-11-18

// The people around a ticket.
enum class Who {
  creator,
  participant,
  org_member,   // same organisation, organisation visibility on
  outsider,     // a member customer with no relation to the ticket
  removed,      // a participant who was removed
  non_member,   // the creator, after leaving the project
  staff,        // staff of the ticket's project
  other_staff,  // staff of another project
  system,
};
inline const char* name(Who w) {
  constexpr const char* kNames[] = {"creator",  "participant", "org_member",
                                    "outsider", "removed",     "non_member",
                                    "staff",    "other_staff", "system"};
  return kNames[static_cast<int>(w)];
}
inline constexpr Who kEveryone[] = {Who::creator,  Who::participant, Who::org_member,
                                    Who::outsider, Who::removed,     Who::non_member,
                                    Who::staff,    Who::other_staff, Who::system};

inline dt::Context context(Who who, dom::Policies policies = {}, dom::TimeUs now = kT0 + 1000) {
  dt::Context ctx;
  ctx.now = now;
  ctx.command_id = "cmd-" + std::to_string(now);
  ctx.project = "acme";
  ctx.policies = std::move(policies);
  ctx.is_member = true;
  ctx.organization = "";
  switch (who) {
    case Who::creator:
      ctx.actor = {dom::Realm::customer, "c-creator"};
      ctx.organization = "globex";
      break;
    case Who::participant:
      ctx.actor = {dom::Realm::customer, "c-participant"};
      break;
    case Who::org_member:
      ctx.actor = {dom::Realm::customer, "c-colleague"};
      ctx.organization = "globex";
      ctx.policies.organization_visibility = true;
      break;
    case Who::outsider:
      ctx.actor = {dom::Realm::customer, "c-outsider"};
      ctx.organization = "initech";
      break;
    case Who::removed:
      ctx.actor = {dom::Realm::customer, "c-removed"};
      break;
    case Who::non_member:
      ctx.actor = {dom::Realm::customer, "c-creator"};
      ctx.is_member = false;
      break;
    case Who::staff:
      ctx.actor = {dom::Realm::staff, "s-agent"};
      ctx.is_member = false;
      ctx.is_project_staff = true;
      break;
    case Who::other_staff:
      ctx.actor = {dom::Realm::staff, "s-elsewhere"};
      ctx.is_member = false;
      ctx.is_project_staff = false;
      break;
    case Who::system:
      ctx.actor = dom::system_actor();
      ctx.is_member = false;
      break;
  }
  return ctx;
}

// A ticket #7 of "acme", opened by c-creator (organisation globex), with a participant who wrote
// message m-p, a staff reply s-1, an internal note n-1, and a participant who was removed.
inline std::vector<dt::Event> opened_ticket() {
  const dom::Actor staff{dom::Realm::staff, "s-agent"};
  return {
      dt::TicketOpened{kT0,
                       "acme",
                       7,
                       "c-creator",
                       "globex",
                       "Server down",
                       "m-1",
                       "It will not start",
                       "normal",
                       "",
                       std::nullopt,
                       std::nullopt,
                       {},
                       {}},
      dt::ParticipantJoined{kT0 + 1, "c-participant", "inv-1"},
      dt::ParticipantJoined{kT0 + 2, "c-removed", "inv-1"},
      dt::ParticipantRemoved{kT0 + 3, "c-removed", "c-creator"},
      dt::MessagePosted{
          kT0 + 4, "m-p", {dom::Realm::customer, "c-participant"}, "Same here", false, {}},
      dt::MessagePosted{kT0 + 5, "s-1", staff, "Looking into it", false, {}},
      dt::MessagePosted{kT0 + 6, "n-1", staff, "Probably the database", true, {}},
  };
}

// The events that move an opened ticket into `status` (a scheduled closure restores `open`).
inline std::vector<dt::Event> into(dom::Status status) {
  const dom::Actor staff{dom::Realm::staff, "s-agent"};
  const dom::TimeUs at = kT0 + 10;
  switch (status) {
    case dom::Status::open:
      return {};
    case dom::Status::pending_closure:
      return {dt::ClosureRequested{at, dom::Status::open, "c-creator"}};
    case dom::Status::closure_scheduled:
      return {dt::ClosureScheduled{at, kT0 + 5 * dom::kDay, dom::Status::open, staff}};
    case dom::Status::closed:
      return {dt::TicketClosed{at, dom::Status::open, staff, "staff"}};
    default:
      return {dt::StatusChanged{at, dom::Status::open, status, staff}};
  }
}

inline dt::State ticket_in(dom::Status status) {
  auto events = opened_ticket();
  for (auto& e : into(status)) events.push_back(std::move(e));
  return dt::fold(events);
}

inline std::string error_of(const Result<std::vector<dt::Event>>& r) {
  return r ? std::string("ok") : r.error().code;
}

// Command names, for failure messages.
inline constexpr const char* kCommandNames[] = {"OpenTicket",
                                                "PostReply",
                                                "PostStaffMessage",
                                                "EditMessage",
                                                "DeleteMessage",
                                                "AddReaction",
                                                "RemoveReaction",
                                                "SetStatus",
                                                "RequestClosure",
                                                "ScheduleClosure",
                                                "CancelScheduledClosure",
                                                "CloseNow",
                                                "ApplyTimers",
                                                "AnswerSurvey",
                                                "AddFavorite",
                                                "RemoveFavorite",
                                                "CreateInvite",
                                                "RevokeInvite",
                                                "JoinByInvite",
                                                "RemoveParticipant",
                                                "LeaveTicket",
                                                "UpdateTicket"};
static_assert(std::size(kCommandNames) == std::variant_size_v<dt::Command>);
inline const char* command_name(const dt::Command& c) { return kCommandNames[c.index()]; }

template <class E>
inline bool has(const std::vector<dt::Event>& events) {
  for (const auto& e : events) {
    if (std::holds_alternative<E>(e)) return true;
  }
  return false;
}

template <class E>
inline const E* first(const std::vector<dt::Event>& events) {
  for (const auto& e : events) {
    if (const E* p = std::get_if<E>(&e)) return p;
  }
  return nullptr;
}

}  // namespace portico::test
