// GCC 12 at -O1 (the sanitizer build) reports a false "may be used uninitialized" inside
// Boost.JSON's result<NotificationsRead> move (the vector<uint64_t> member); the optimised build
// and the sanitizers themselves find nothing.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <portico/domain/inbox.hpp>

#include "payload.hpp"

namespace portico::domain::inbox {

namespace {
using Codec = detail::EventCodec<Event>;
}

std::string_view type_name(const Event& event) noexcept { return Codec::type_name(event); }
std::uint32_t schema_version(const Event& event) noexcept { return Codec::schema_version(event); }
bool is_event_type(std::string_view type) noexcept { return Codec::is_event_type(type); }
boost::json::object to_payload(const Event& event) { return detail::to_payload(event); }
Result<Event> from_payload(std::string_view type, boost::json::object payload) {
  return Codec::from_payload(type, std::move(payload));
}

Result<std::vector<Event>> decide(const Command& command, const Context& ctx) {
  if (ctx.actor.realm != Realm::customer || ctx.actor.id != ctx.customer || ctx.customer.empty()) {
    return fail(errc::kNotFound, "no such notification");
  }
  std::vector<Event> out;
  Result<void> done =
      std::visit(detail::Overloaded{
                     [&](const MarkRead& c) -> Result<void> {
                       if (c.ids.empty() || c.ids.size() > kMaxIdsPerRead ||
                           std::find(c.ids.begin(), c.ids.end(), 0u) != c.ids.end()) {
                         return fail(errc::kInvalidRequest, "1 to 100 notification ids", "ids");
                       }
                       out.push_back(NotificationsRead{ctx.now, c.ids});
                       return {};
                     },
                     [&](const MarkAllRead& c) -> Result<void> {
                       if (c.up_to != 0) out.push_back(AllNotificationsRead{ctx.now, c.up_to});
                       return {};  // nothing to read: nothing changes
                     },
                 },
                 command);
  if (!done) return Unexpected(std::move(done).error());
  return out;
}

std::string stream_id(std::string_view customer_id) { return "inbox:" + std::string(customer_id); }

}  // namespace portico::domain::inbox
