// Every cell of PRODUCT.md's status table: status × action × who, under each combination of the
// two project policies. The oracle below is written from the table, not from the decider.
#include <doctest/doctest.h>

#include <functional>

#include "ticket_fixtures.hpp"

using namespace portico::test;
using dom::Status;

namespace {

struct Expect {
  std::string code;  // "ok" or an API.md error code
  Status status;     // the status afterwards (unchanged on error)
};

bool reads(Who w) {
  return w == Who::creator || w == Who::participant || w == Who::org_member || w == Who::staff ||
         w == Who::system;
}
bool is_customer(Who w) { return w != Who::staff && w != Who::other_staff && w != Who::system; }
bool on_ticket(Who w) { return w == Who::creator || w == Who::participant; }

// Who may not see the ticket gets not_found; readers without the right role get `refusal`.
std::optional<Expect> access(Who w, Status s, bool allowed, const char* refusal = "forbidden") {
  if (!reads(w)) return Expect{"not_found", s};
  if (!allowed) return Expect{refusal, s};
  return std::nullopt;
}

struct Policy {
  dom::CustomerReplyPolicy reply;
  dom::ClosedTicketsPolicy closed;
};
constexpr Policy kPolicies[] = {
    {dom::CustomerReplyPolicy::keep_status, dom::ClosedTicketsPolicy::closed_is_final},
    {dom::CustomerReplyPolicy::keep_status, dom::ClosedTicketsPolicy::reply_reopens},
    {dom::CustomerReplyPolicy::reopen, dom::ClosedTicketsPolicy::closed_is_final},
    {dom::CustomerReplyPolicy::reopen, dom::ClosedTicketsPolicy::reply_reopens},
};

using Oracle = std::function<Expect(Status, Who, const dom::Policies&)>;

// Runs `command` for every policy × status × who and compares with the oracle.
void table(const char* action, const dt::Command& command, const Oracle& oracle,
           dom::TimeUs now = kT0 + 1000) {
  for (const Policy& policy : kPolicies) {
    for (Status status : dom::kAllStatuses) {
      for (Who who : kEveryone) {
        dom::Policies p;
        p.customer_reply = policy.reply;
        p.closed_tickets = policy.closed;
        const dt::State before = ticket_in(status);
        const dt::Context ctx = context(who, p, now);
        const Expect want = oracle(status, who, ctx.policies);
        const auto got = decide(before, command, ctx);
        const dt::State after = got ? dt::fold(*got, before) : before;
        INFO(action << " on " << status << " by " << name(who) << " (customer_reply "
                    << (policy.reply == dom::CustomerReplyPolicy::reopen ? "reopen" : "keep_status")
                    << ", closed_tickets "
                    << (policy.closed == dom::ClosedTicketsPolicy::reply_reopens
                            ? "reply_reopens"
                            : "closed_is_final")
                    << ")");
        CHECK(error_of(got) == want.code);
        CHECK(after.status == want.status);
        if (!got) CHECK(after == before);
      }
    }
  }
}

}  // namespace

TEST_CASE("status table: a customer reply") {
  table("reply", dt::PostReply{"m-new", "Any news?"}, [](Status s, Who w, const dom::Policies& p) {
    if (auto refused = access(w, s, on_ticket(w))) return *refused;
    if (s == Status::closed) {
      if (p.closed_tickets == dom::ClosedTicketsPolicy::closed_is_final) {
        return Expect{"ticket_closed", s};
      }
      return Expect{"ok", Status::open};
    }
    const bool reopens = p.customer_reply == dom::CustomerReplyPolicy::reopen &&
                         (s == Status::awaiting_customer || s == Status::resolved ||
                          s == Status::pending_closure || s == Status::closure_scheduled);
    return Expect{"ok", reopens ? Status::open : s};
  });
}

TEST_CASE("status table: editing one's own message") {
  // Each author edits a message of their own; others' messages are the next test's.
  for (Who author : {Who::creator, Who::participant, Who::staff}) {
    const std::string id = author == Who::creator       ? "m-1"
                           : author == Who::participant ? "m-p"
                                                        : "s-1";
    table("edit own message", dt::EditMessage{id, "Edited text"},
          [author](Status s, Who w, const dom::Policies&) {
            if (!reads(w)) return Expect{"not_found", s};
            if (w != author) return Expect{"not_author", s};
            if (s == Status::closed) return Expect{"ticket_closed", s};
            return Expect{"ok", s};
          });
  }
}

TEST_CASE("status table: deleting one's own message") {
  for (Who author : {Who::creator, Who::participant, Who::staff}) {
    const std::string id = author == Who::creator       ? "m-1"
                           : author == Who::participant ? "m-p"
                                                        : "s-1";
    table("delete own message", dt::DeleteMessage{id},
          [author](Status s, Who w, const dom::Policies&) {
            if (!reads(w)) return Expect{"not_found", s};
            if (w != author) return Expect{"not_author", s};
            if (s == Status::closed) return Expect{"ticket_closed", s};
            return Expect{"ok", s};
          });
  }
}

TEST_CASE("status table: reacting to a message") {
  table("react", dt::AddReaction{"s-1", "👍"}, [](Status s, Who w, const dom::Policies&) {
    if (!reads(w)) return Expect{"not_found", s};
    if (s == Status::closed) return Expect{"ticket_closed", s};
    return Expect{"ok", s};
  });
}

TEST_CASE("status table: a staff reply and an internal note - on every status") {
  for (bool internal : {false, true}) {
    table(internal ? "internal note" : "staff reply",
          dt::PostStaffMessage{"s-new", "We are on it", internal, std::nullopt},
          [](Status s, Who w, const dom::Policies&) {
            if (auto refused = access(w, s, w == Who::staff)) return *refused;
            return Expect{"ok", s};
          });
  }
}

TEST_CASE("status table: staff set every status - from every status") {
  for (Status target : dom::kAllStatuses) {
    INFO("target " << target);
    auto oracle = [target](Status s, Who w, const dom::Policies&) {
      if (auto refused = access(w, s, w == Who::staff)) return *refused;
      if (target == Status::pending_closure || target == Status::closure_scheduled) {
        return Expect{"invalid_transition", s};
      }
      return Expect{"ok", target};
    };
    table("set status", dt::SetStatus{target}, oracle);
    table("staff reply with status", dt::PostStaffMessage{"s-new", "Status update", false, target},
          oracle);
  }
}

TEST_CASE("status table: requesting closure") {
  table("request closure", dt::RequestClosure{}, [](Status s, Who w, const dom::Policies&) {
    if (auto refused = access(w, s, on_ticket(w))) return *refused;
    if (s == Status::pending_closure || s == Status::closure_scheduled || s == Status::closed) {
      return Expect{"invalid_transition", s};
    }
    return Expect{"ok", Status::pending_closure};
  });
}

TEST_CASE("status table: scheduling a closure") {
  table("schedule closure", dt::ScheduleClosure{kT0 + 3 * dom::kDay},
        [](Status s, Who w, const dom::Policies&) {
          if (auto refused = access(w, s, w == Who::staff)) return *refused;
          if (s == Status::closure_scheduled || s == Status::closed) {
            return Expect{"invalid_transition", s};
          }
          return Expect{"ok", Status::closure_scheduled};
        });
}

TEST_CASE("status table: cancelling a scheduled closure restores the previous status") {
  table("cancel scheduled closure", dt::CancelScheduledClosure{},
        [](Status s, Who w, const dom::Policies&) {
          if (auto refused = access(w, s, w == Who::staff)) return *refused;
          if (s != Status::closure_scheduled) return Expect{"invalid_transition", s};
          return Expect{"ok", Status::open};  // the fixture scheduled it from open
        });
}

TEST_CASE("status table: closing now") {
  table("close now", dt::CloseNow{}, [](Status s, Who w, const dom::Policies&) {
    if (auto refused = access(w, s, on_ticket(w))) return *refused;
    if (s != Status::resolved && s != Status::pending_closure && s != Status::closure_scheduled) {
      return Expect{"invalid_transition", s};
    }
    return Expect{"ok", Status::closed};
  });
}

TEST_CASE("status table: the system's timers once every deadline has passed") {
  // Fifteen days on: past the pending-closure (48 h) and resolved (14 d) timeouts and the
  // scheduled time (5 d).
  table(
      "apply timers", dt::ApplyTimers{},
      [](Status s, Who w, const dom::Policies&) {
        if (w != Who::system) {
          if (!reads(w)) return Expect{"not_found", s};
          return Expect{"forbidden", s};
        }
        if (s == Status::pending_closure || s == Status::resolved ||
            s == Status::closure_scheduled) {
          return Expect{"ok", Status::closed};
        }
        return Expect{"ok", s};
      },
      kT0 + 15 * dom::kDay);
}

TEST_CASE("status table: favorites") {
  table("favorite", dt::AddFavorite{}, [](Status s, Who w, const dom::Policies&) {
    if (auto refused = access(w, s, is_customer(w))) return *refused;
    if (s == Status::resolved || s == Status::closed) return Expect{"ticket_not_active", s};
    return Expect{"ok", s};
  });
}

TEST_CASE("status table: invite links") {
  table("create invite", dt::CreateInvite{"inv-new", "hash-new"},
        [](Status s, Who w, const dom::Policies&) {
          if (auto refused = access(w, s, on_ticket(w))) return *refused;
          if (s == Status::resolved || s == Status::closed) return Expect{"ticket_not_active", s};
          return Expect{"ok", s};
        });
}
