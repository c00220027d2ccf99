// The vocabulary shared by every aggregate: time, actors, statuses, project policies.
//
// core/domain is pure: no I/O, no clock, no random source. Time and fresh ids reach a decider in
// its Context; everything else comes from the events it folds.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/json/conversion.hpp>
#include <boost/json/system_error.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <portico/errc.hpp>
#include <portico/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::domain {

// Microseconds since the Unix epoch, UTC. Events carry the time of their decision in `at`.
using TimeUs = std::int64_t;
inline constexpr TimeUs kSecond = 1'000'000;
inline constexpr TimeUs kHour = 3600 * kSecond;
inline constexpr TimeUs kDay = 24 * kHour;

enum class Realm { customer, staff, system };
BOOST_DESCRIBE_ENUM(Realm, customer, staff, system)

struct Actor {
  Realm realm = Realm::system;
  std::string id;  // empty for the system

  friend bool operator==(const Actor&, const Actor&) = default;
};
BOOST_DESCRIBE_STRUCT(Actor, (), (realm, id))

inline Actor system_actor() { return {Realm::system, {}}; }

// The nine ticket statuses of PRODUCT.md.
enum class Status {
  open,
  in_progress,
  awaiting_customer,
  required_test,
  required_action,
  resolved,
  pending_closure,
  closure_scheduled,
  closed
};
BOOST_DESCRIBE_ENUM(Status, open, in_progress, awaiting_customer, required_test, required_action,
                    resolved, pending_closure, closure_scheduled, closed)

inline constexpr Status kAllStatuses[] = {Status::open,
                                          Status::in_progress,
                                          Status::awaiting_customer,
                                          Status::required_test,
                                          Status::required_action,
                                          Status::resolved,
                                          Status::pending_closure,
                                          Status::closure_scheduled,
                                          Status::closed};

// The five active statuses; leaving them begins a resolution, returning ends it ("reopened").
constexpr bool is_active(Status s) noexcept {
  return s == Status::open || s == Status::in_progress || s == Status::awaiting_customer ||
         s == Status::required_test || s == Status::required_action;
}

std::string_view to_string(Status s) noexcept;
std::optional<Status> parse_status(std::string_view text) noexcept;
std::string_view to_string(Realm r) noexcept;

// What a customer reply does to the status (seed 000 vs seed 001).
enum class CustomerReplyPolicy { keep_status, reopen };
BOOST_DESCRIBE_ENUM(CustomerReplyPolicy, keep_status, reopen)
// What a customer reply on a closed ticket does; this alone decides it.
enum class ClosedTicketsPolicy { closed_is_final, reply_reopens };
BOOST_DESCRIBE_ENUM(ClosedTicketsPolicy, closed_is_final, reply_reopens)

// The per-project settings the ticket rules read.
struct Policies {
  CustomerReplyPolicy customer_reply = CustomerReplyPolicy::keep_status;
  ClosedTicketsPolicy closed_tickets = ClosedTicketsPolicy::closed_is_final;
  TimeUs pending_closure_timeout = 48 * kHour;  // 0: never closed automatically
  TimeUs resolved_timeout = 14 * kDay;  // 0: resolved tickets are never closed automatically
  TimeUs survey_expiry = 7 * kDay;
  bool surveys = true;  // false: no satisfaction survey is offered
  std::vector<std::string> survey_options = {"Excellent", "Good", "Fair", "Poor"};
  bool organization_visibility = false;
  std::size_t max_subject = 200;
  std::size_t max_message = 10'000;

  friend bool operator==(const Policies&, const Policies&) = default;
};
BOOST_DESCRIBE_STRUCT(Policies, (),
                      (customer_reply, closed_tickets, pending_closure_timeout, resolved_timeout,
                       survey_expiry, surveys, survey_options, organization_visibility, max_subject,
                       max_message))
// Settings are read leniently: a member that an older payload lacks takes its default (adding a
// setting is not a change of shape); an unknown member is still refused.
boost::json::result<Policies> tag_invoke(boost::json::try_value_to_tag<Policies>,
                                         const boost::json::value& value);

// Domain errors carry the codes of portico::errc (portico/errc.hpp): `errc::kNotFound` here is
// portico::errc::kNotFound, the one definition.

// Length in characters (Unicode code points) of UTF-8 text; nullopt when it is not valid UTF-8.
std::optional<std::size_t> utf8_length(std::string_view text) noexcept;
// Text with leading and trailing white space removed.
std::string_view trim(std::string_view text) noexcept;

// A duration as operators write it: "45s", "30m", "48h", "14d", or "0" (never, or none).
std::optional<TimeUs> parse_duration(std::string_view text) noexcept;
// The shortest such spelling of `d` ("48h", "90s", "0"); whole seconds.
std::string format_duration(TimeUs d);

}  // namespace portico::domain
