// The staff routes (API.md "Staff"): the queue and the ticket with everything staff see. Staff of
// another project get 404 for everything of this one.
#include <boost/json/array.hpp>
#include <portico/errc.hpp>

#include "app_impl.hpp"
#include "render.hpp"

namespace portico::http {

using beast_http::verb;
namespace dt = dom::ticket;
namespace proj = projections;

void App::Impl::add_staff_routes() {
  // Signed in as staff of project {p}: 401 without a staff session, 404 for another project's,
  // 403 while the project requires two-factor sign-in the member has not turned on.
  struct Staff {
    Authed who;
    dom::project::State project;
  };
  auto staff = [this](auto handler) {
    return [this, handler](const Call& c) -> Response {
      auto who = authenticate(c, dom::Realm::staff);
      if (!who) return error_response(c.request, who.error());
      if (auto refused = limit_writes(c, *who)) return std::move(*refused);
      const std::string& slug = c.param("p");
      if (!dom::project::valid_slug(slug)) {
        return error_response(c.request, 404, errc::kNotFound, "no such project");
      }
      auto project = portal.project(slug);
      if (!project) return error_response(c.request, project.error());
      if (!project->exists || !dom::project::is_staff(*project, who->caller.id)) {
        return error_response(c.request, 404, errc::kNotFound, "no such project");
      }
      // The member's account is read only where the project's policy asks for two factors.
      if (dom::project::requires_staff_totp(*project)) {
        auto totp = accounts.totp_enabled(who->caller);
        if (!totp) return error_response(c.request, totp.error());
        if (auto allowed = dom::project::check_staff_totp(*project, *totp); !allowed) {
          return error_response(c.request, allowed.error());
        }
      }
      return handler(c, Staff{std::move(*who), std::move(*project)});
    };
  };
  // The ticket {n} of the staff member's project.
  auto ticket_of = [this](const Call& c) -> Result<std::shared_ptr<const dt::State>> {
    auto n = parse_number(c.param("n"));
    if (!n) return fail(errc::kNotFound, "no such ticket");
    auto t = portal.ticket(c.param("p"), *n);
    if (!t) return Unexpected(t.error());
    if (!(*t)->exists) return fail(errc::kNotFound, "no such ticket");
    return t;
  };
  auto ticket_answer = [this](const Call& c, const Staff& s, const dt::State& t) {
    const Viewer viewer{{dom::Realm::staff, s.who.caller.id}, dt::Role::none, portal.now()};
    auto book = names();
    return json_response(c.request, 200, ticket_json(t, s.project, viewer, book));
  };
  // Runs a command on ticket {n} and answers with the ticket.
  auto run = [=, this](const Call& c, const Staff& s, const dt::Command& command) {
    return run_ticket_command(*this, c, s.who, command,
                              [&](const auto& done) { return ticket_answer(c, s, *done.state); });
  };

  router.add(verb::get, "/api/v1/staff/projects/{p}/tickets",
             staff([this](const Call& c, const Staff&) {
               proj::QueueQuery q;
               auto statuses = statuses_of(c);
               if (!statuses) return error_response(c.request, statuses.error());
               q.statuses = std::move(*statuses);
               q.teams = list_of(c.query("team"));
               q.priorities = list_of(c.query("priority"));
               auto limit = limit_of(c);
               if (!limit) return error_response(c.request, limit.error());
               q.limit = *limit;
               q.cursor = c.query("cursor").value_or("");
               auto page = views.staff_queue(c.param("p"), q);
               if (!page) return error_response(c.request, page.error());
               return json_response(c.request, 200, page_json(*page, true));
             }));

  router.add(verb::get, "/api/v1/staff/projects/{p}/tickets/{n}",
             staff([=](const Call& c, const Staff& s) {
               auto t = ticket_of(c);
               if (!t) return error_response(c.request, t.error());
               return ticket_answer(c, s, **t);
             }));

  router.add(verb::post, "/api/v1/staff/projects/{p}/tickets/{n}/messages",
             staff([this](const Call& c, const Staff& s) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto text = string_field(*body, "body");
               auto internal = optional_bool(*body, "internal");
               auto status = optional_string(*body, "status");
               if (!text) return error_response(c.request, text.error());
               if (!internal) return error_response(c.request, internal.error());
               if (!status) return error_response(c.request, status.error());
               dt::PostStaffMessage post{{}, *text, internal->value_or(false), std::nullopt};
               if (*status) {
                 post.status = dom::parse_status(**status);
                 if (!post.status) {
                   return error_response(c.request, 400, errc::kInvalidRequest,
                                         "unknown status " + **status, "status");
                 }
               }
               return run_ticket_command(*this, c, s.who, post, [&](const auto& done) {
                 return message_answer(*this, c, s.who, done, done.created.message_id, 201);
               });
             }));

  // A staff member's own messages: edit and delete them; react to any message they can see
  // (PRODUCT.md: "its author" edits and deletes), as the customer routes do.
  auto quietly = [this](const Call& c, const Staff& s, const dt::Command& command) {
    return run_ticket_command(*this, c, s.who, command,
                              [&](const auto&) { return no_content(c.request); });
  };
  router.add(verb::patch, "/api/v1/staff/projects/{p}/tickets/{n}/messages/{id}",
             staff([this](const Call& c, const Staff& s) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto text = string_field(*body, "body");
               if (!text) return error_response(c.request, text.error());
               return run_ticket_command(
                   *this, c, s.who, dt::EditMessage{c.param("id"), *text}, [&](const auto& done) {
                     return message_answer(*this, c, s.who, done, c.param("id"), 200);
                   });
             }));
  router.add(verb::delete_, "/api/v1/staff/projects/{p}/tickets/{n}/messages/{id}",
             staff([=](const Call& c, const Staff& s) {
               return quietly(c, s, dt::DeleteMessage{c.param("id")});
             }));
  router.add(verb::put, "/api/v1/staff/projects/{p}/tickets/{n}/messages/{id}/reactions/{emoji}",
             staff([=](const Call& c, const Staff& s) {
               return quietly(c, s, dt::AddReaction{c.param("id"), c.param("emoji")});
             }));
  router.add(verb::delete_,
             "/api/v1/staff/projects/{p}/tickets/{n}/messages/{id}/reactions/{emoji}",
             staff([=](const Call& c, const Staff& s) {
               return quietly(c, s, dt::RemoveReaction{c.param("id"), c.param("emoji")});
             }));

  router.add(verb::post, "/api/v1/staff/projects/{p}/tickets/{n}/status",
             staff([=](const Call& c, const Staff& s) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto text = string_field(*body, "status");
               if (!text) return error_response(c.request, text.error());
               auto status = dom::parse_status(*text);
               if (!status) {
                 return error_response(c.request, 400, errc::kInvalidRequest,
                                       "unknown status " + *text, "status");
               }
               return run(c, s, dt::SetStatus{*status});
             }));

  router.add(verb::post, "/api/v1/staff/projects/{p}/tickets/{n}/scheduled-closure",
             staff([=](const Call& c, const Staff& s) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto at = string_field(*body, "at");
               if (!at) return error_response(c.request, at.error());
               auto when = parse_time(*at);
               if (!when) {
                 return error_response(c.request, 400, errc::kInvalidRequest,
                                       "at is an RFC 3339 time (2026-12-24T18:00:00Z)", "at");
               }
               return run(c, s, dt::ScheduleClosure{*when});
             }));
  router.add(verb::delete_, "/api/v1/staff/projects/{p}/tickets/{n}/scheduled-closure",
             staff([=](const Call& c, const Staff& s) {
               return run(c, s, dt::CancelScheduledClosure{});
             }));

  router.add(verb::patch, "/api/v1/staff/projects/{p}/tickets/{n}",
             staff([=](const Call& c, const Staff& s) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto priority = optional_string(*body, "priority");
               auto team = optional_string(*body, "team");
               if (!priority) return error_response(c.request, priority.error());
               if (!team) return error_response(c.request, team.error());
               if (!*priority && !*team) {
                 return error_response(c.request, 400, errc::kInvalidRequest,
                                       "send priority, team or both", "body");
               }
               return run(c, s, dt::UpdateTicket{*priority, *team});
             }));
}

}  // namespace portico::http
