// Tickets, messages and lists as API.md's JSON (private to adapters/http).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/portal.hpp>

namespace portico::http {

namespace dom = portico::domain;

// Who looks: a customer sees no internal note and no edit history; staff see everything.
struct Viewer {
  dom::Actor actor;
  dom::ticket::Role role = dom::ticket::Role::none;  // a customer's relation to the ticket
  dom::TimeUs now = 0;
};

std::string time_json(dom::TimeUs t);
std::string_view role_name(dom::ticket::Role role);

boost::json::object summary_json(const projections::TicketSummary& s, bool staff);
boost::json::object page_json(const projections::Page<projections::TicketSummary>& page,
                              bool staff);
// The ticket as `viewer` may see it; names come from the portal (customers) and the project
// (staff).
boost::json::object ticket_json(const dom::ticket::State& t, const dom::project::State& project,
                                const Viewer& viewer, service::Portal& portal);
boost::json::object message_json(const dom::ticket::Message& m, const dom::project::State& project,
                                 const Viewer& viewer, service::Portal& portal);
// {items: [{id, created_by {id, display_name}, created_at}]}: the ticket's working invite links.
boost::json::object invites_json(const dom::ticket::State& t, service::Portal& portal);
boost::json::object customer_json(const dom::customer::State& c);

}  // namespace portico::http
