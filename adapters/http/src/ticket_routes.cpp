// The customer's routes (API.md "Tickets (customer)", "Notifications"): thin — parse, call the
// command handler or a read model, map the answer. A ticket the caller may not read is 404.
#include <boost/json/array.hpp>
#include <charconv>
#include <portico/errc.hpp>
#include <portico/http/tokens.hpp>

#include "app_impl.hpp"
#include "render.hpp"

namespace portico::http {

using beast_http::verb;
namespace dt = dom::ticket;
namespace proj = projections;

namespace {

Response not_found(const Call& c, std::string_view what = "no such ticket") {
  return error_response(c.request, 404, errc::kNotFound, what);
}

}  // namespace

// A ticket as one caller may see it, with what rendering it needs.
struct Seen {
  std::shared_ptr<const dt::State> ticket;
  dom::project::State project;
  Viewer viewer;
};

// Ticket {n} of project {p} if `who` may read it; not_found otherwise (never forbidden).
static Result<Seen> readable(App::Impl& app, const Call& c, const Authed& who) {
  auto n = parse_number(c.param("n"));
  if (!n) return fail(errc::kNotFound, "no such ticket");
  const std::string& slug = c.param("p");
  auto project = app.portal.project(slug);
  if (!project) return Unexpected(project.error());
  if (!project->exists) return fail(errc::kNotFound, "no such ticket");
  const dom::Actor actor{who.caller.realm, who.caller.id};
  auto ticket = app.portal.ticket(slug, *n);
  if (!ticket) return Unexpected(ticket.error());
  if (!(*ticket)->exists) return fail(errc::kNotFound, "no such ticket");
  auto ctx = app.portal.reading_context(slug, **ticket, actor);
  if (!ctx) return Unexpected(ctx.error());
  if (!dt::can_read(**ticket, *ctx)) return fail(errc::kNotFound, "no such ticket");
  // The role before the pointer moves: a braced list is evaluated left to right.
  const dt::Role role = dt::role_of(**ticket, *ctx);
  return Seen{std::move(*ticket), std::move(*project), Viewer{actor, role, app.portal.now()}};
}

// The ticket after a command, as its caller sees it.
static Response ticket_answer(App::Impl& app, const Call& c, const Authed& who,
                              const service::TicketOutcome& done, unsigned status = 200) {
  auto project = app.portal.project(c.param("p"));
  if (!project) return error_response(c.request, project.error());
  const dom::Actor actor{who.caller.realm, who.caller.id};
  const Viewer viewer{actor, done.role, app.portal.now()};
  // A customer who just left or was removed can no longer read it: no body then.
  if (actor.realm == dom::Realm::customer && !done.can_read) return no_content(c.request);
  auto names = app.names();
  return json_response(c.request, status, ticket_json(*done.state, *project, viewer, names));
}

// The message `id` after a command, as its caller sees it.
Response message_answer(App::Impl& app, const Call& c, const Authed& who,
                        const service::TicketOutcome& done, const std::string& id,
                        unsigned status) {
  if (id.empty()) return error_response(c.request, 404, errc::kNotFound, "no such message");
  auto project = app.portal.project(c.param("p"));
  if (!project) return error_response(c.request, project.error());
  const dt::Message* m = done.state->messages.find(id);
  if (!m) return error_response(c.request, 404, errc::kNotFound, "no such message");
  auto names = app.names();
  return json_response(
      c.request, status,
      message_json(*m, *project, Viewer{{who.caller.realm, who.caller.id}, {}, app.portal.now()},
                   names));
}

void App::Impl::add_ticket_routes() {
  // Every customer route: signed in as a customer (401), CSRF for cookie writes (403).
  auto customer = [this](auto handler) {
    return [this, handler](const Call& c) -> Response {
      auto who = authenticate(c, dom::Realm::customer);
      if (!who) return error_response(c.request, who.error());
      if (auto refused = limit_writes(c, *who)) return std::move(*refused);
      return handler(c, *who);
    };
  };
  auto project_exists = [this](const Call& c) -> Result<dom::project::State> {
    const std::string& slug = c.param("p");
    if (!dom::project::valid_slug(slug)) return fail(errc::kNotFound, "no such project");
    auto p = portal.project(slug);
    if (!p) return Unexpected(p.error());
    if (!p->exists) return fail(errc::kNotFound, "no such project");
    return p;
  };

  router.add(verb::get, "/api/v1/projects/{p}/tickets",
             customer([=, this](const Call& c, const Authed& who) {
               auto p = project_exists(c);
               if (!p) return error_response(c.request, p.error());
               proj::ListQuery q;
               if (auto scope = c.query("scope"); scope && !scope->empty()) {
                 auto s = proj::parse_scope(*scope);
                 if (!s) {
                   return error_response(c.request, 400, errc::kInvalidRequest,
                                         "scope is mine, participating or organization", "scope");
                 }
                 q.scope = *s;
               }
               auto statuses = statuses_of(c);
               if (!statuses) return error_response(c.request, statuses.error());
               q.statuses = std::move(*statuses);
               q.q = c.query("q").value_or("");
               if (q.q.size() > 200) {
                 return error_response(c.request, 400, errc::kInvalidRequest,
                                       "a search is at most 200 characters", "q");
               }
               auto limit = limit_of(c);
               if (!limit) return error_response(c.request, limit.error());
               q.limit = *limit;
               q.cursor = c.query("cursor").value_or("");
               auto page = views.customer_tickets(who.caller.id, c.param("p"), q);
               if (!page) return error_response(c.request, page.error());
               return json_response(c.request, 200, page_json(*page, false));
             }));

  router.add(verb::get, "/api/v1/projects/{p}/tickets/overview",
             customer([=, this](const Call& c, const Authed& who) {
               auto p = project_exists(c);
               if (!p) return error_response(c.request, p.error());
               auto o = views.overview(who.caller.id, c.param("p"));
               if (!o) return error_response(c.request, o.error());
               boost::json::object by_status;
               for (dom::Status s : dom::kAllStatuses) {
                 auto it = o->by_status.find(s);
                 by_status[dom::to_string(s)] = it == o->by_status.end() ? 0 : it->second;
               }
               boost::json::array recent;
               for (const auto& s : o->recent) recent.push_back(summary_json(s, false));
               return json_response(c.request, 200,
                                    boost::json::object{{"active", o->active},
                                                        {"by_status", std::move(by_status)},
                                                        {"recent", std::move(recent)}});
             }));

  router.add(verb::post, "/api/v1/projects/{p}/tickets",
             customer([=, this](const Call& c, const Authed& who) {
               auto p = project_exists(c);
               if (!p) return error_response(c.request, p.error());
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto subject = string_field(*body, "subject");
               auto message = string_field(*body, "message");
               auto purchase = optional_string(*body, "purchase_id");
               auto template_name = optional_string(*body, "template");
               auto priority = optional_string(*body, "priority");
               if (!subject) return error_response(c.request, subject.error());
               if (!priority) return error_response(c.request, priority.error());
               if (!message) return error_response(c.request, message.error());
               if (!purchase) return error_response(c.request, purchase.error());
               if (!template_name) return error_response(c.request, template_name.error());
               dt::OpenTicket open;
               open.subject = std::move(*subject);
               open.body = std::move(*message);
               open.purchase_id = std::move(*purchase);
               open.template_name = std::move(*template_name);
               open.priority = std::move(*priority);
               if (const auto* f = body->if_contains("fields"); f && !f->is_null()) {
                 if (!f->is_object()) {
                   return error_response(c.request, 400, errc::kInvalidRequest,
                                         "fields must be an object", "fields");
                 }
                 open.fields = f->get_object();
               }
               auto done = portal.open_ticket(c.param("p"), std::move(open), meta(c, who));
               if (!done) return error_response(c.request, done.error());
               return ticket_answer(*this, c, who, *done, 201);
             }));

  router.add(verb::get, "/api/v1/projects/{p}/tickets/{n}",
             customer([this](const Call& c, const Authed& who) {
               auto seen = readable(*this, c, who);
               if (!seen) return error_response(c.request, seen.error());
               auto book = names();
               return json_response(c.request, 200,
                                    ticket_json(*seen->ticket, seen->project, seen->viewer, book));
             }));

  router.add(verb::post, "/api/v1/projects/{p}/tickets/{n}/messages",
             customer([this](const Call& c, const Authed& who) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto text = string_field(*body, "body");
               if (!text) return error_response(c.request, text.error());
               return run_ticket_command(
                   *this, c, who, dt::PostReply{{}, *text}, [&](const auto& done) {
                     return message_answer(*this, c, who, done, done.created.message_id, 201);
                   });
             }));

  router.add(verb::patch, "/api/v1/projects/{p}/tickets/{n}/messages/{id}",
             customer([this](const Call& c, const Authed& who) {
               auto body = parse_body(c.request);
               if (!body) return error_response(c.request, body.error());
               auto text = string_field(*body, "body");
               if (!text) return error_response(c.request, text.error());
               return run_ticket_command(
                   *this, c, who, dt::EditMessage{c.param("id"), *text}, [&](const auto& done) {
                     return message_answer(*this, c, who, done, c.param("id"), 200);
                   });
             }));

  auto no_body = [this](const dt::Command& command) {
    return [this, command](const Call& c, const Authed& who) {
      return run_ticket_command(*this, c, who, command,
                                [&](const auto&) { return no_content(c.request); });
    };
  };
  router.add(verb::delete_, "/api/v1/projects/{p}/tickets/{n}/messages/{id}",
             customer([this](const Call& c, const Authed& who) {
               return run_ticket_command(*this, c, who, dt::DeleteMessage{c.param("id")},
                                         [&](const auto&) { return no_content(c.request); });
             }));
  router.add(verb::put, "/api/v1/projects/{p}/tickets/{n}/messages/{id}/reactions/{emoji}",
             customer([this](const Call& c, const Authed& who) {
               return run_ticket_command(*this, c, who,
                                         dt::AddReaction{c.param("id"), c.param("emoji")},
                                         [&](const auto&) { return no_content(c.request); });
             }));
  router.add(verb::delete_, "/api/v1/projects/{p}/tickets/{n}/messages/{id}/reactions/{emoji}",
             customer([this](const Call& c, const Authed& who) {
               return run_ticket_command(*this, c, who,
                                         dt::RemoveReaction{c.param("id"), c.param("emoji")},
                                         [&](const auto&) { return no_content(c.request); });
             }));
  router.add(verb::put, "/api/v1/projects/{p}/tickets/{n}/favorite",
             customer(no_body(dt::AddFavorite{})));
  router.add(verb::delete_, "/api/v1/projects/{p}/tickets/{n}/favorite",
             customer(no_body(dt::RemoveFavorite{})));

  router.add(verb::get, "/api/v1/projects/{p}/favorites",
             customer([=, this](const Call& c, const Authed& who) {
               auto p = project_exists(c);
               if (!p) return error_response(c.request, p.error());
               auto limit = limit_of(c);
               if (!limit) return error_response(c.request, limit.error());
               auto page = views.favorites(who.caller.id, c.param("p"), *limit,
                                           c.query("cursor").value_or(""));
               if (!page) return error_response(c.request, page.error());
               return json_response(c.request, 200, page_json(*page, false));
             }));

  auto ticket_after = [this](const dt::Command& command) {
    return [this, command](const Call& c, const Authed& who) {
      return run_ticket_command(*this, c, who, command, [&](const auto& done) {
        return ticket_answer(*this, c, who, done);
      });
    };
  };
  router.add(verb::post, "/api/v1/projects/{p}/tickets/{n}/closure-request",
             customer(ticket_after(dt::RequestClosure{})));
  router.add(verb::post, "/api/v1/projects/{p}/tickets/{n}/close",
             customer(ticket_after(dt::CloseNow{})));

  // The survey's answer, from the portal or from an e-mailed link.
  auto survey_answer = [](const Call& c) -> Result<dt::AnswerSurvey> {
    auto body = parse_body(c.request);
    if (!body) return Unexpected(body.error());
    auto rating = optional_int(*body, "rating");
    auto option = optional_string(*body, "option");
    auto comment = optional_string(*body, "comment");
    if (!rating) return Unexpected(rating.error());
    if (!option) return Unexpected(option.error());
    if (!comment) return Unexpected(comment.error());
    if (!*rating || **rating < 1 || **rating > 5) {
      return fail(errc::kInvalidRequest, "rating is a whole number from 1 to 5", "rating");
    }
    dt::AnswerSurvey a;
    a.rating = static_cast<int>(**rating);
    a.option = std::move(*option);
    a.comment = std::move(*comment);
    return a;
  };
  auto survey_json = [](const dt::AnswerSurvey& a) {
    return boost::json::object{
        {"rating", a.rating},
        {"option", a.option ? boost::json::value(*a.option) : boost::json::value(nullptr)},
        {"comment", a.comment ? boost::json::value(*a.comment) : boost::json::value(nullptr)}};
  };
  router.add(verb::post, "/api/v1/projects/{p}/tickets/{n}/survey",
             customer([=, this](const Call& c, const Authed& who) {
               auto answer = survey_answer(c);
               if (!answer) return error_response(c.request, answer.error());
               return run_ticket_command(*this, c, who, *answer, [&](const auto&) {
                 return json_response(c.request, 201, survey_json(*answer));
               });
             }));

  router.add(
      verb::post, "/api/v1/projects/{p}/tickets/{n}/invites",
      customer([this](const Call& c, const Authed& who) {
        const service::CommandMeta m = meta(c, who);
        // With an Idempotency-Key the link is derived from it: a retry (even after a
        // restart, which the log's command ids survive) hands out the same link.
        const std::string token =
            m.command_id.empty() ? new_token() : service::derived_token(secret, m.command_id);
        auto n = parse_number(c.param("n"));
        if (!n) return not_found(c);
        // The link's id derives from the command id (the same for a retry).
        auto done = portal.execute(c.param("p"), *n, dt::CreateInvite{{}, token_hash(token)}, m);
        if (!done) return error_response(c.request, done.error());
        const std::string& id = done->created.invite_id;
        std::string base = base_url();
        while (!base.empty() && base.back() == '/') base.pop_back();
        return json_response(
            c.request, 201,
            boost::json::object{{"id", id}, {"token", token}, {"url", base + "/invite/" + token}});
      }));
  // The links that still work, for the creator, who may revoke them (the token is never stored,
  // so only its id, who made it and when).
  router.add(verb::get, "/api/v1/projects/{p}/tickets/{n}/invites",
             customer([this](const Call& c, const Authed& who) {
               auto seen = readable(*this, c, who);
               if (!seen) return error_response(c.request, seen.error());
               if (seen->viewer.role != dt::Role::creator) {
                 return error_response(c.request, 403, errc::kNotCreator,
                                       "only the creator sees a ticket's invite links");
               }
               auto book = names();
               return json_response(c.request, 200, invites_json(*seen->ticket, book));
             }));
  router.add(verb::delete_, "/api/v1/projects/{p}/tickets/{n}/invites/{id}",
             customer([this](const Call& c, const Authed& who) {
               return run_ticket_command(*this, c, who, dt::RevokeInvite{c.param("id")},
                                         [&](const auto&) { return no_content(c.request); });
             }));
  router.add(verb::delete_, "/api/v1/projects/{p}/tickets/{n}/participants/{customer_id}",
             customer([this](const Call& c, const Authed& who) {
               return run_ticket_command(*this, c, who,
                                         dt::RemoveParticipant{c.param("customer_id")},
                                         [&](const auto&) { return no_content(c.request); });
             }));
  router.add(verb::post, "/api/v1/projects/{p}/tickets/{n}/leave",
             customer(no_body(dt::LeaveTicket{})));

  router.add(verb::post, "/api/v1/invites/{token}/join",
             customer([this](const Call& c, const Authed& who) {
               const std::string& token = c.param("token");
               if (token.size() > 256) return not_found(c, "no such invite");
               auto ref = views.invite(token_hash(token));
               if (!ref) return error_response(c.request, ref.error());
               if (!*ref) return not_found(c, "no such invite");
               auto done = portal.execute((*ref)->project, (*ref)->number,
                                          dt::JoinByInvite{token_hash(token)}, meta(c, who));
               if (!done) return error_response(c.request, done.error());
               auto project = portal.project((*ref)->project);
               if (!project) return error_response(c.request, project.error());
               return json_response(
                   c.request, 200,
                   boost::json::object{
                       {"project", {{"slug", project->slug}, {"name", project->settings.name}}},
                       {"ticket", {{"number", (*ref)->number}}}});
             }));

  router.add(verb::get, "/api/v1/projects/{p}/purchases",
             customer([=](const Call& c, const Authed&) {
               auto p = project_exists(c);
               if (!p) return error_response(c.request, p.error());
               // No store is connected (Tebex comes with a later issue): nothing was bought.
               return json_response(
                   c.request, 200,
                   boost::json::object{{"items", boost::json::array()}, {"next_cursor", nullptr}});
             }));

  router.add(verb::delete_, "/api/v1/projects/{p}/membership",
             customer([=, this](const Call& c, const Authed& who) {
               auto p = project_exists(c);
               if (!p) return error_response(c.request, p.error());
               auto left = portal.leave_project(who.caller.id, c.param("p"), meta(c, who));
               if (!left) return error_response(c.request, left.error());
               return no_content(c.request);
             }));

  // ---- Surveys from e-mailed links (no sign-in: the signed token stands in for it) ----
  struct SurveyAt {
    service::SurveyRef ref;
    std::shared_ptr<const dt::State> ticket;
    dom::project::State project;
    const dt::Survey* survey = nullptr;
  };
  auto survey_at = [this](const Call& c) -> Result<SurveyAt> {
    auto ref = service::parse_survey_token(secret, c.param("token"));
    if (!ref) return fail(errc::kNotFound, "no such survey");
    auto ticket = portal.ticket(ref->project, ref->number);
    if (!ticket) return Unexpected(ticket.error());
    auto project = portal.project(ref->project);
    if (!project) return Unexpected(project.error());
    SurveyAt at{*ref, std::move(*ticket), std::move(*project), nullptr};
    for (const auto& s : at.ticket->surveys) {
      if (s.id == ref->survey_id) at.survey = &s;
    }
    if (at.survey == nullptr) return fail(errc::kNotFound, "no such survey");
    if (dt::pending_survey(*at.ticket, portal.now()) != at.survey) {
      return fail(errc::kSurveyInactive,
                  "this survey was already answered, withdrawn or has expired");
    }
    return at;
  };
  router.add(verb::get, "/api/v1/surveys/{token}", [=](const Call& c) {
    auto at = survey_at(c);
    if (!at) return error_response(c.request, at.error());
    boost::json::array choices;
    for (const auto& o : at->project.settings.policies.survey_options) choices.emplace_back(o);
    return json_response(
        c.request, 200,
        boost::json::object{
            {"project", {{"slug", at->project.slug}, {"name", at->project.settings.name}}},
            {"ticket", {{"subject", at->ticket->subject}}},
            {"options", std::move(choices)}});
  });
  router.add(verb::post, "/api/v1/surveys/{token}", [=, this](const Call& c) {
    auto at = survey_at(c);
    if (!at) return error_response(c.request, at.error());
    auto answer = survey_answer(c);
    if (!answer) return error_response(c.request, answer.error());
    answer->via_token = true;
    answer->survey_id = at->ref.survey_id;
    service::CommandMeta m;
    m.actor = {dom::Realm::customer, at->survey->customer};
    if (auto key = c.request["Idempotency-Key"]; !key.empty()) {
      m.command_id = "survey:" + at->ref.survey_id + ":" + std::string(key);
    }
    m.correlation_id = log::new_uuid_v7();
    auto done = portal.execute(at->ref.project, at->ref.number, *answer, m);
    if (!done) return error_response(c.request, done.error());
    return json_response(c.request, 201, survey_json(*answer));
  });

  // ---- The bell, across projects ----
  router.add(verb::get, "/api/v1/notifications", customer([this](const Call& c, const Authed& who) {
               auto limit = limit_of(c);
               if (!limit) return error_response(c.request, limit.error());
               const auto unread = c.query("unread").value_or("");
               if (!unread.empty() && unread != "0" && unread != "1" && unread != "true" &&
                   unread != "false") {
                 return error_response(c.request, 400, errc::kInvalidRequest, "unread is 1 or 0",
                                       "unread");
               }
               auto page = views.notifications(who.caller.id, unread == "1" || unread == "true",
                                               *limit, c.query("cursor").value_or(""));
               if (!page) return error_response(c.request, page.error());
               boost::json::array items;
               for (const auto& n : page->items) {
                 items.push_back({{"id", std::to_string(n.id)},
                                  {"kind", proj::to_string(n.kind)},
                                  {"project", n.project},
                                  {"ticket", n.ticket},
                                  {"subject", n.subject},
                                  {"preview", n.preview},
                                  {"created_at", time_json(n.created_at)},
                                  {"read", n.read}});
               }
               return json_response(
                   c.request, 200,
                   boost::json::object{
                       {"items", std::move(items)},
                       {"unread", page->unread},
                       {"next_cursor", page->next_cursor ? boost::json::value(*page->next_cursor)
                                                         : boost::json::value(nullptr)}});
             }));
  router.add(verb::post, "/api/v1/notifications/read-all",
             customer([this](const Call& c, const Authed& who) {
               auto newest = views.newest_notification(who.caller.id);
               if (!newest) return error_response(c.request, newest.error());
               if (*newest == 0) return no_content(c.request);
               auto done = portal.read_notifications(
                   who.caller.id, dom::inbox::MarkAllRead{*newest}, meta(c, who));
               if (!done) return error_response(c.request, done.error());
               return no_content(c.request);
             }));
  router.add(verb::post, "/api/v1/notifications/{id}/read",
             customer([this](const Call& c, const Authed& who) {
               auto id = parse_number(c.param("id"));
               if (!id) return not_found(c, "no such notification");
               auto found = views.notification(who.caller.id, *id);
               if (!found) return error_response(c.request, found.error());
               if (!*found) return not_found(c, "no such notification");
               auto done = portal.read_notifications(who.caller.id, dom::inbox::MarkRead{{*id}},
                                                     meta(c, who));
               if (!done) return error_response(c.request, done.error());
               return no_content(c.request);
             }));
}

}  // namespace portico::http
