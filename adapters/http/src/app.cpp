#include <fmt/format.h>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <boost/beast/core/string.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value_from.hpp>
#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <portico/domain/templates.hpp>
#include <portico/errc.hpp>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <portico/http/tokens.hpp>
#include <portico/utf8.hpp>

#include "app_impl.hpp"
#include "render.hpp"
#include "working_hours.hpp"

namespace portico::http {

using beast_http::verb;

App::Impl::Impl(log::Log& l, service::Portal& p, projections::Views& v, AppOptions o)
    : log(l),
      portal(p),
      views(v),
      options(std::move(o)),
      accounts(l, p, options.accounts),
      idempotency(options.idempotency),
      secret(options.secret.empty() ? service::new_token() : options.secret) {
  if (!options.on_warning) options.on_warning = warn_on_stderr;
  portal.set_ticket_limits(options.tickets);
  for (const auto& config : options.providers) {
    providers.insert_or_assign(config.name, std::make_unique<oidc::Client>(config));
  }
}

void App::Impl::record(const std::string& route, unsigned status, double seconds) {
  std::lock_guard lock(metrics_mu);
  RouteMetrics& m = metrics[route];
  ++m.by_status[status];
  ++m.count;
  m.seconds += seconds;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++m.buckets[i];
  }
}

NameBook App::Impl::names() const {
  return NameBook([&portal = portal](const std::string& id) -> std::optional<std::string> {
    auto c = portal.customer(id);
    if (!c || !c->exists) return std::nullopt;
    return std::move(c->display_name);
  });
}

namespace {

// `providers`: the identity providers the project offers that this server has. Its sign_in
// lists only what can be used: the e-mail methods and those providers.
boost::json::object project_json(const dom::project::State& p, dom::TimeUs now,
                                 const std::vector<const oidc::ProviderConfig*>& providers) {
  const auto& s = p.settings;
  boost::json::array sign_in, buttons;
  for (const auto& m : s.sign_in) {
    if (m == "magic_link" || m == "password") sign_in.emplace_back(m);
  }
  for (const auto* provider : providers) {
    sign_in.emplace_back(provider->name);
    buttons.push_back({{"id", provider->name}, {"display_name", provider->display_name}});
  }
  return {
      {"slug", p.slug},
      {"name", s.name},
      {"theme",
       {{"logo_url", s.theme.logo_url},
        {"primary_color", s.theme.primary_color},
        {"accent_color", s.theme.accent_color}}},
      {"sign_in", std::move(sign_in)},
      {"providers", std::move(buttons)},
      {"policies",
       {{"customer_reply", s.policies.customer_reply == dom::CustomerReplyPolicy::keep_status
                               ? "keep_status"
                               : "reopen"},
        {"closed_tickets", s.policies.closed_tickets == dom::ClosedTicketsPolicy::closed_is_final
                               ? "closed_is_final"
                               : "reply_reopens"},
        // Beside API.md's two: what the portal's survey card offers (docs/api.md).
        {"surveys", s.policies.surveys},
        {"survey_options", boost::json::value_from(s.policies.survey_options)},
        // Whether a new ticket may carry the customer's priority (--customer-priority).
        {"customer_priority", s.customer_priority}}},
      {"languages", boost::json::value_from(s.languages)},
      {"working_hours", working_hours_json(s, now)},
  };
}

}  // namespace

void App::Impl::add_routes(App& app) {
  router.add(verb::get, "/healthz", [this](const Call& c) {
    // Healthy when the log answers a read.
    if (auto head = log.head(); !head) {
      return error_response(c.request, 503, errc::kUnavailable, head.error().message);
    }
    return json_response(c.request, 200, boost::json::object{{"status", "ok"}});
  });
  router.add(verb::get, "/metrics", [&app, this](const Call& c) {
    if (!options.metrics_token.empty()) {
      const auto given = c.request[beast_http::field::authorization];
      const std::string expected = "Bearer " + options.metrics_token;
      if (given.size() != expected.size() ||
          CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
        auto r = error_response(c.request, 401, errc::kUnauthenticated,
                                "/metrics needs the operator's bearer token");
        r.set(beast_http::field::www_authenticate, "Bearer");
        return r;
      }
    }
    Response r{beast_http::status::ok, c.request.version()};
    r.set(beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.keep_alive(c.request.keep_alive());
    r.body() = app.metrics();
    r.prepare_payload();
    return r;
  });
  // Invite links work without signing in: what the link is for, and who sent it.
  router.add(verb::get, "/api/v1/invites/{token}", [this](const Call& c) {
    const std::string& token = c.param("token");
    if (token.size() > 256) {
      return error_response(c.request, 404, errc::kNotFound, "no such invite");
    }
    auto ref = views.invite(token_hash(token));
    if (!ref) return error_response(c.request, ref.error());
    if (!*ref) return error_response(c.request, 404, errc::kNotFound, "no such invite");
    auto ticket = portal.ticket((*ref)->project, (*ref)->number);
    if (!ticket) return error_response(c.request, ticket.error());
    auto it = (*ticket)->invites.find((*ref)->invite_id);
    if (it == (*ticket)->invites.end()) {
      return error_response(c.request, 404, errc::kNotFound, "no such invite");
    }
    if (it->second.revoked || it->second.dead) {
      return error_response(c.request, 410, errc::kInviteInactive,
                            "this invite link no longer works");
    }
    auto project = portal.project((*ref)->project);
    auto inviter = portal.customer(it->second.created_by);
    if (!project) return error_response(c.request, project.error());
    return json_response(
        c.request, 200,
        boost::json::object{
            {"project", {{"slug", project->slug}, {"name", project->settings.name}}},
            {"ticket", {{"subject", (*ticket)->subject}}},
            {"invited_by", {{"display_name", inviter ? inviter->display_name : ""}}}});
  });
  // The project's ticket templates, by key (public, like the project: the new-ticket form).
  router.add(verb::get, "/api/v1/projects/{p}/templates", [this](const Call& c) {
    auto p = portal.project(c.param("p"));
    if (!p || !p->exists) return error_response(c.request, 404, errc::kNotFound, "no such project");
    boost::json::array items;
    for (const auto& [key, t] : p->templates) items.push_back(dom::templates::to_json(t));
    return json_response(c.request, 200, boost::json::object{{"items", std::move(items)}});
  });
  router.add(verb::get, "/api/v1/projects/{p}", [this](const Call& c) {
    auto p = portal.project(c.param("p"));
    if (!p || !p->exists) return error_response(c.request, 404, errc::kNotFound, "no such project");
    return json_response(c.request, 200, project_json(*p, portal.now(), offered_providers(*p)));
  });
}

App::App(log::Log& log, service::Portal& portal, projections::Views& views, AppOptions options)
    : impl_(std::make_unique<Impl>(log, portal, views, std::move(options))) {
  impl_->add_routes(*this);
  impl_->add_auth_routes();
  impl_->add_ticket_routes();
  impl_->add_staff_routes();
  impl_->add_web_routes();
  impl_->add_oidc_routes();
}

App::~App() = default;

Router& App::router() { return impl_->router; }

void App::set_base_url(std::string base_url) {
  std::lock_guard lock(impl_->base_url_mu);
  impl_->options.base_url = std::move(base_url);
}

service::Accounts& App::accounts() { return impl_->accounts; }

void App::flush() { impl_->background.flush(); }

namespace {

// Who an Idempotency-Key belongs to: the caller of a valid session (the customer or staff
// member, whichever session they use; with the CSRF header when it came by cookie), else the
// client's address. So a key's answer is replayed only to whoever may still act as its caller:
// not after they signed out (security review L1).
std::string idempotency_owner(App::Impl& impl, const Request& request, const Peer& peer) {
  const auto target = request.target();
  const bool staff = target.starts_with("/api/v1/staff/");
  const Call c{request, peer, {}, {}};
  if (auto who = impl.authenticate(c, staff ? dom::Realm::staff : dom::Realm::customer)) {
    return std::string(dom::to_string(who->caller.realm)) + ":" + who->caller.id;
  }
  return "address:" + peer.address;
}

}  // namespace

Response App::handle(const Request& request, const Peer& peer) {
  const auto start = std::chrono::steady_clock::now();
  std::string route;
  Response response;
  const auto key = request["Idempotency-Key"];
  if (request.method() != verb::post || key.empty()) {
    response = impl_->router.route(request, peer, route);
  } else if (key.size() > 255 || !utf8::valid_printable(key)) {
    response =
        error_response(request, 400, errc::kInvalidRequest,
                       "an Idempotency-Key is 1 to 255 printable characters", "Idempotency-Key");
  } else {
    // The first answer to a key is the answer to every retry with it (and the same body).
    const auto target = request.target();
    const std::string scope = std::string(request.method_string()) + " " +
                              std::string(target.substr(0, target.find('?'))) + "\n" +
                              std::string(key);
    auto begun = impl_->idempotency.begin(idempotency_owner(*impl_, request, peer), scope,
                                          token_hash(request.body()));
    if (auto* claim = std::get_if<detail::IdempotencyStore::Claim>(&begun)) {
      // A handler that throws drops the claim (its destructor): a retry may act.
      response = impl_->router.route(request, peer, route);
      // Only answers that acted are kept: a refusal changed nothing, so the retry (perhaps with
      // a corrected body) simply asks again. Answers that set a cookie (sign-ins) carry a
      // session's secrets and are not kept in memory: a retried sign-in signs in anew.
      const unsigned status = response.result_int();
      // Nor are two-factor enrolments (a secret, recovery codes), for the same reason.
      const bool secret = target.find("/totp") != std::string_view::npos;
      if (status >= 200 && status < 300 && response[beast_http::field::set_cookie].empty() &&
          !secret) {
        claim->keep(response);
      } else {
        claim->drop();
      }
    } else {
      auto& b = std::get<detail::IdempotencyStore::Begun>(begun);
      if (b.mismatch) {
        response = error_response(request, 409, errc::kConflict,
                                  "this Idempotency-Key was used for another request");
      } else if (b.stored) {
        response = std::move(*b.stored);
        response.keep_alive(request.keep_alive());
        response.set("Idempotent-Replayed", "true");
      } else {
        response = error_response(request, 409, errc::kConflict,
                                  "a request with this Idempotency-Key is still being answered");
      }
    }
  }
  impl_->record(route, response.result_int(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return response;
}

// ---- Who is calling ----

std::optional<std::string> cookie(const Request& request, std::string_view name) {
  for (auto it = request.find(beast_http::field::cookie); it != request.end(); ++it) {
    if (it->name() != beast_http::field::cookie) break;
    std::string_view header = it->value();
    while (!header.empty()) {
      const auto semi = header.find(';');
      std::string_view pair = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return std::nullopt;
}

Result<Authed> App::Impl::authenticate(const Call& c, dom::Realm realm) {
  Authed who;
  auto auth = c.request[beast_http::field::authorization];
  if (!auth.empty()) {
    if (auth.size() <= 7 || !boost::beast::iequals(auth.substr(0, 7), "Bearer ")) {
      return fail(errc::kUnauthenticated, "use Authorization: Bearer <token>");
    }
    who.token = std::string(auth.substr(7));
  } else if (auto v =
                 cookie(c.request, realm == dom::Realm::staff ? kStaffCookie : kCustomerCookie)) {
    who.token = std::move(*v);
    who.via_cookie = true;
  } else {
    return fail(errc::kUnauthenticated, "sign in first");
  }
  auto caller = accounts.authenticate(realm, who.token);
  if (!caller) return Unexpected(caller.error());
  who.caller = std::move(*caller);
  const auto method = c.request.method();
  if (who.via_cookie && method != verb::get && method != verb::head && method != verb::options) {
    // A form on another site can make the browser send the cookie, never this header.
    const auto csrf = c.request["X-CSRF-Token"];
    const std::string presented = token_hash(csrf);
    if (csrf.empty() || presented.size() != who.caller.csrf_hash.size() ||
        CRYPTO_memcmp(presented.data(), who.caller.csrf_hash.data(), presented.size()) != 0) {
      return fail(errc::kCsrf, "a cookie-authenticated change needs the X-CSRF-Token header");
    }
  }
  return who;
}

service::CommandMeta App::Impl::meta(const Call& c, const Authed& who) const {
  service::CommandMeta m;
  m.actor = {who.caller.realm, who.caller.id};
  const auto key = c.request["Idempotency-Key"];
  if (!key.empty() && c.request.method() == verb::post) {
    const auto target = c.request.target();
    m.command_id = std::string(dom::to_string(who.caller.realm)) + ":" + who.caller.id + ":" +
                   std::string(target.substr(0, target.find('?'))) + ":" + std::string(key);
  }
  m.correlation_id = log::new_uuid_v7();
  return m;
}

bool App::Impl::secure(const Call& c) const {
  return c.peer.tls || base_url().starts_with("https://");
}

Response App::Impl::too_many(const Call& c, std::chrono::seconds wait) {
  ++rate_limited;
  Response r = error_response(
      c.request, 429, errc::kRateLimited,
      "too many attempts; try again in " + std::to_string(wait.count()) + " seconds");
  r.set(beast_http::field::retry_after, std::to_string(wait.count()));
  return r;
}

std::optional<Response> App::Impl::limit_address(const Call& c) {
  if (auto wait = address_limiter.take("addr:" + detail::address_key(c.peer.address),
                                       options.limits.per_address, detail::Clock::now())) {
    return too_many(c, *wait);
  }
  return std::nullopt;
}

std::optional<Response> App::Impl::limit_writes(const Call& c, const Authed& who) {
  const auto method = c.request.method();
  if (method == verb::get || method == verb::head || method == verb::options) return std::nullopt;
  const std::string key =
      "write:" + std::string(dom::to_string(who.caller.realm)) + ":" + who.caller.id;
  if (auto wait = write_limiter.take(key, options.writes, detail::Clock::now()))
    return too_many(c, *wait);
  return std::nullopt;
}

Result<void> App::Impl::send(const mail::Message& message) {
  if (options.mail == nullptr) return fail(errc::kUnavailable, "this server sends no e-mail");
  return options.mail->send(message);
}

// ---- Request helpers ----

Result<std::string> string_field(const boost::json::object& body, std::string_view name) {
  const auto* v = body.if_contains(name);
  if (v == nullptr || !v->is_string()) {
    return fail(errc::kInvalidRequest, std::string(name) + " must be a string", std::string(name));
  }
  return std::string(v->get_string());
}

Result<std::optional<std::string>> optional_string(const boost::json::object& body,
                                                   std::string_view name) {
  const auto* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) {
    return fail(errc::kInvalidRequest, std::string(name) + " must be a string", std::string(name));
  }
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::optional<bool>> optional_bool(const boost::json::object& body, std::string_view name) {
  const auto* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<bool>();
  if (!v->is_bool()) {
    return fail(errc::kInvalidRequest, std::string(name) + " must be true or false",
                std::string(name));
  }
  return std::optional<bool>(v->get_bool());
}

Result<std::optional<std::int64_t>> optional_int(const boost::json::object& body,
                                                 std::string_view name) {
  const auto* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return std::optional<std::int64_t>();
  if (v->is_int64()) return std::optional<std::int64_t>(v->get_int64());
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->get_uint64()));
  }
  // The range first: converting a double past int64's range (1e300) is undefined behaviour.
  if (v->is_double() && std::abs(v->get_double()) < 9e15 &&
      v->get_double() == static_cast<double>(static_cast<std::int64_t>(v->get_double()))) {
    return std::optional<std::int64_t>(static_cast<std::int64_t>(v->get_double()));
  }
  return fail(errc::kInvalidRequest, std::string(name) + " must be a whole number",
              std::string(name));
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 19 || text.front() == '0') return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

std::optional<dom::TimeUs> parse_time(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > t.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (t.size() < 20 || t.size() > 40 || t[4] != '-' || t[7] != '-' ||
      (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':') {
    return std::nullopt;
  }
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2),
       s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || *mo < 1 || *mo > 12 || *h > 23 || *mi > 59 || *s > 60) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  std::size_t i = 19;
  dom::TimeUs fraction = 0;
  if (i < t.size() && t[i] == '.') {
    ++i;
    dom::TimeUs scale = 100'000;
    const std::size_t first = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      fraction += (t[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == first) return std::nullopt;
  }
  dom::TimeUs offset = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    auto oh = digits(i + 1, 2), om = digits(i + 4, 2);
    if (!oh || !om || i + 3 >= t.size() || t[i + 3] != ':' || *oh > 23 || *om > 59) {
      return std::nullopt;
    }
    offset = (*oh * 60 + *om) * 60 * dom::kSecond * (t[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != t.size()) return std::nullopt;
  const dom::TimeUs days_us =
      static_cast<dom::TimeUs>(sys_days{ymd}.time_since_epoch().count()) * dom::kDay;
  return days_us + ((*h * 60 + *mi) * 60 + std::min(*s, 59)) * dom::kSecond + fraction - offset;
}

std::vector<std::string> list_of(const std::optional<std::string>& text) {
  std::vector<std::string> out;
  if (!text || text->empty()) return out;
  std::string_view rest = *text;
  for (;;) {
    const auto comma = rest.find(',');
    out.emplace_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

// ?status=a,b → statuses; 400 with field "status" for an unknown one.
Result<std::vector<dom::Status>> statuses_of(const Call& c) {
  std::vector<dom::Status> out;
  auto text = c.query("status");
  if (!text || text->empty()) return out;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto word = rest.substr(0, comma);
    auto s = dom::parse_status(word);
    if (!s) return fail(errc::kInvalidRequest, "unknown status " + std::string(word), "status");
    out.push_back(*s);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return out;
}

Result<std::size_t> limit_of(const Call& c) {
  auto text = c.query("limit");
  if (!text) return projections::kDefaultLimit;
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n < 1 ||
      n > projections::kMaxLimit) {
    return fail(errc::kInvalidRequest, "limit is 1 to 100", "limit");
  }
  return n;
}

std::string App::metrics() const {
  std::string out;
  out += "# HELP portico_http_requests_total Requests answered, by route and status.\n";
  out += "# TYPE portico_http_requests_total counter\n";
  std::map<std::string, RouteMetrics> copy;
  {
    std::lock_guard lock(impl_->metrics_mu);
    copy = impl_->metrics;
  }
  auto label = [](const std::string& route) { return route.empty() ? "unmatched" : route; };
  for (const auto& [route, m] : copy) {
    for (const auto& [status, n] : m.by_status) {
      out += fmt::format("portico_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                         label(route), status, n);
    }
  }
  out += "# HELP portico_http_request_duration_seconds Time to answer, by route.\n";
  out += "# TYPE portico_http_request_duration_seconds histogram\n";
  for (const auto& [route, m] : copy) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out +=
          fmt::format("portico_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                      label(route), kBuckets[i], m.buckets[i]);
    }
    out +=
        fmt::format("portico_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                    label(route), m.count);
    out += fmt::format("portico_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n",
                       label(route), m.seconds);
    out += fmt::format("portico_http_request_duration_seconds_count{{route=\"{}\"}} {}\n",
                       label(route), m.count);
  }
  out += fmt::format(
      "# HELP portico_sign_ins_total Sessions started (customer and staff).\n"
      "# TYPE portico_sign_ins_total counter\nportico_sign_ins_total {}\n"
      "# HELP portico_sign_outs_total Sessions ended by signing out.\n"
      "# TYPE portico_sign_outs_total counter\nportico_sign_outs_total {}\n"
      "# HELP portico_rate_limited_total Requests refused with 429.\n"
      "# TYPE portico_rate_limited_total counter\nportico_rate_limited_total {}\n",
      impl_->sign_ins.load(), impl_->sign_outs.load(), impl_->rate_limited.load());
  out += fmt::format(
      "# HELP portico_rate_limit_keys Buckets the sign-in rate limits hold, by table.\n"
      "# TYPE portico_rate_limit_keys gauge\n"
      "portico_rate_limit_keys{{table=\"address\"}} {}\n"
      "portico_rate_limit_keys{{table=\"password\"}} {}\n"
      "portico_rate_limit_keys{{table=\"mail\"}} {}\n",
      impl_->address_limiter.size(), impl_->password_limiter.size(), impl_->mail_limiter.size());
  const log::Stats s = impl_->log.stats();
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
  };
  counter("portico_log_appends_total", "Successful appends.", s.appends);
  counter("portico_log_events_total", "Events written.", s.events);
  counter("portico_log_conflicts_total", "Appends refused for a version or id conflict.",
          s.conflicts);
  counter("portico_log_commits_total", "Write transactions committed (group commits).", s.commits);
  counter("portico_log_batched_appends_total",
          "Appends carried by those commits (divide by commits for the batch size).",
          s.batched_appends);
  out += fmt::format(
      "# HELP portico_log_commit_seconds_total Time in mdb_txn_commit (write and fsync).\n"
      "# TYPE portico_log_commit_seconds_total counter\nportico_log_commit_seconds_total {}\n",
      static_cast<double>(s.commit_ns) / 1e9);
  out += fmt::format(
      "# HELP portico_log_projection_seconds_total Time the commit thread spent in inline "
      "projections.\n# TYPE portico_log_projection_seconds_total counter\n"
      "portico_log_projection_seconds_total {}\n",
      static_cast<double>(s.projection_ns) / 1e9);
  out += fmt::format(
      "# HELP portico_log_max_batch Largest number of appends in one commit.\n"
      "# TYPE portico_log_max_batch gauge\nportico_log_max_batch {}\n"
      "# HELP portico_log_map_size_bytes Size of the LMDB memory map.\n"
      "# TYPE portico_log_map_size_bytes gauge\nportico_log_map_size_bytes {}\n",
      s.max_batch, s.map_size);
  return out;
}

std::vector<std::pair<std::string, std::string>> security_headers() {
  return {
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cache-Control", "no-store"},
  };
}

}  // namespace portico::http
