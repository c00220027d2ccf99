// Tickets, messages and lists as API.md's JSON (private to adapters/http).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <optional>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/projections/views.hpp>
#include <string>

namespace portico::http {

namespace dom = portico::domain;

// Who looks: a customer sees no internal note and no edit history; staff see everything.
struct Viewer {
  dom::Actor actor;
  dom::ticket::Role role = dom::ticket::Role::none;  // a customer's relation to the ticket
  dom::TimeUs now = 0;
};

// Customers' display names for one answer, from wherever the caller keeps customers (the routes:
// the portal, App::Impl::names). Each id is looked up once however often the ticket names it, so
// one rendering shows one name per customer. Not thread-safe: one NameBook per answer.
class NameBook {
 public:
  // A customer's display name, or nullopt when there is no such customer (any more) or it cannot
  // be read.
  using Lookup = std::function<std::optional<std::string>(const std::string& customer_id)>;

  explicit NameBook(Lookup lookup) : lookup_(std::move(lookup)) {}

  // The display name of customer `id`: "Former customer" when the lookup has none.
  const std::string& customer(const std::string& id);

 private:
  Lookup lookup_;
  std::map<std::string, std::string> names_;  // by customer id
};

std::string time_json(dom::TimeUs t);
std::string_view role_name(dom::ticket::Role role);

boost::json::object summary_json(const projections::TicketSummary& s, bool staff);
boost::json::object page_json(const projections::Page<projections::TicketSummary>& page,
                              bool staff);
// The ticket as `viewer` may see it; names come from `names` (customers) and the project (staff).
boost::json::object ticket_json(const dom::ticket::State& t, const dom::project::State& project,
                                const Viewer& viewer, NameBook& names);
boost::json::object message_json(const dom::ticket::Message& m, const dom::project::State& project,
                                 const Viewer& viewer, NameBook& names);
// {items: [{id, created_by {id, display_name}, created_at}]}: the ticket's working invite links.
boost::json::object invites_json(const dom::ticket::State& t, NameBook& names);
boost::json::object customer_json(const dom::customer::State& c);

}  // namespace portico::http
