// The inbox aggregate: what a customer has read of their notifications (the bell).
//
// Notifications themselves are derived from ticket events by a projection
// (portico/projections/views.hpp) and named by the log position of the event that raised them;
// only reading them is an action, recorded here so that "read" survives a rebuild. One stream per
// customer ("inbox:{customer}"), apart from the customer's own so that reads do not grow it.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <portico/domain/common.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::domain::inbox {

// ---- Events ----

struct NotificationsRead {
  static constexpr std::string_view kType = "NotificationsRead";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::vector<std::uint64_t> ids;
};
// Every notification up to `up_to` (the newest the customer had seen), not those that came later.
struct AllNotificationsRead {
  static constexpr std::string_view kType = "AllNotificationsRead";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::uint64_t up_to = 0;
};
BOOST_DESCRIBE_STRUCT(NotificationsRead, (), (at, ids))
BOOST_DESCRIBE_STRUCT(AllNotificationsRead, (), (at, up_to))

using Event = std::variant<NotificationsRead, AllNotificationsRead>;
// The event's kType and kVersion, as for tickets (ticket.hpp).
std::string_view type_name(const Event& event) noexcept;
std::uint32_t schema_version(const Event& event) noexcept;
// Whether `type` names an event of this aggregate (a newer program may store others).
bool is_event_type(std::string_view type) noexcept;
boost::json::object to_payload(const Event& event);
Result<Event> from_payload(std::string_view type, boost::json::object payload);

// ---- Commands ----

inline constexpr std::size_t kMaxIdsPerRead = 100;

struct MarkRead {
  std::vector<std::uint64_t> ids;
};
struct MarkAllRead {
  std::uint64_t up_to = 0;
};
using Command = std::variant<MarkRead, MarkAllRead>;

struct Context {
  Actor actor;
  TimeUs now = 0;
  std::string customer;  // whose inbox
};

// Only the customer reads their own notifications. Whether the ids exist is the projection's
// business (an unknown or already-read id changes nothing there).
Result<std::vector<Event>> decide(const Command& command, const Context& ctx);

std::string stream_id(std::string_view customer_id);

}  // namespace portico::domain::inbox
