// The inside of portico::http::App (private to adapters/http): what every route file shares —
// the services, who is calling, request-body helpers, the metrics.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <portico/errc.hpp>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <portico/oidc/client.hpp>
#include <string>

#include "background.hpp"
#include "idempotency.hpp"
#include "limits.hpp"
#include "oidc_flows.hpp"

namespace portico::http {

namespace dom = portico::domain;

class NameBook;  // render.hpp

// Latency buckets of the request histogram, in seconds.
inline constexpr std::array<double, 10> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                    0.025,  0.05,  0.1,    0.5,   1.0};

struct RouteMetrics {
  std::map<unsigned, std::uint64_t> by_status;
  std::array<std::uint64_t, kBuckets.size()> buckets{};
  std::uint64_t count = 0;
  double seconds = 0;
};

// Who is calling, once their session checked out.
struct Authed {
  service::Caller caller;
  std::string token;
  bool via_cookie = false;
};

inline constexpr std::string_view kCustomerCookie = "portico_session";
inline constexpr std::string_view kStaffCookie = "portico_staff";

struct App::Impl {
  log::Log& log;
  service::Portal& portal;
  projections::Views& views;
  AppOptions options;
  service::Accounts accounts;
  Router router;
  // Sign-in budgets, one table each so that flooding one never evicts another's buckets.
  detail::RateLimiter address_limiter{options.limits.max_keys};
  detail::RateLimiter password_limiter{options.limits.max_keys};
  detail::RateLimiter mail_limiter{options.limits.max_keys};
  detail::RateLimiter write_limiter{options.limits.max_keys};  // per signed-in caller
  // (account, client address) pairs that signed in: their password attempts skip the
  // account-wide budget (a stranger cannot lock the owner out).
  detail::RecentKeys known_addresses{options.limits.max_keys, std::chrono::hours(24 * 30)};
  detail::IdempotencyStore idempotency;
  // The identity providers of the configuration (AppOptions::providers), by name, and the
  // sign-ins under way at them.
  std::map<std::string, std::unique_ptr<oidc::Client>, std::less<>> providers;
  detail::OidcFlows oidc_flows{options.limits.max_keys};
  std::string secret;  // survey links
  mutable std::mutex base_url_mu;
  std::string base_url() const {
    std::lock_guard lock(base_url_mu);
    return options.base_url;
  }
  mutable std::mutex metrics_mu;
  std::map<std::string, RouteMetrics> metrics;  // by route pattern ("" for unmatched)
  std::atomic<std::uint64_t> sign_ins{0}, sign_outs{0}, rate_limited{0};
  std::atomic<std::size_t> mails_in_flight{0};  // SignInLimits::concurrent_mails

  Impl(log::Log& l, service::Portal& p, projections::Views& v, AppOptions o);

  void record(const std::string& route, unsigned status, double seconds);

  void add_routes(App& app);  // app.cpp: health, metrics, projects
  void add_auth_routes();     // auth_routes.cpp: sign-in, sessions, /me
  void add_ticket_routes();   // ticket_routes.cpp: the customer's tickets, invites, surveys,
                              // notifications
  void add_staff_routes();    // staff_routes.cpp
  void add_web_routes();      // web_routes.cpp: the portal pages and their files
  void add_oidc_routes();     // oidc_routes.cpp: sign-in with an identity provider, identities

  // The configured provider `name`, or null.
  oidc::Client* provider(std::string_view name) const;
  // The providers `p` offers that this server has (in the order of its sign_in list).
  std::vector<const oidc::ProviderConfig*> offered_providers(const dom::project::State& p) const;
  // The Set-Cookie value that carries a new session (its realm's cookie).
  std::string session_cookie(const Call& c, const service::NewSession& session) const;

  // The caller of `realm`: `Authorization: Bearer` first, else the realm's cookie; a
  // cookie-authenticated POST/PUT/PATCH/DELETE must carry X-CSRF-Token. Errors: unauthenticated,
  // csrf.
  Result<Authed> authenticate(const Call& c, dom::Realm realm);
  // A command's meta: the actor, and a command id from the Idempotency-Key (scoped to the
  // caller and the route) or a fresh one.
  service::CommandMeta meta(const Call& c, const Authed& who) const;
  bool secure(const Call& c) const;
  // 429 when the client's address has used up its sign-in budget.
  std::optional<Response> limit_address(const Call& c);
  // 429 when a change by `who` is past AppOptions::writes (reads are never limited).
  std::optional<Response> limit_writes(const Call& c, const Authed& who);
  Response too_many(const Call& c, std::chrono::seconds wait);
  Result<void> send(const mail::Message& message);
  // The project whose host name (portico-admin --host) the request's Host header is, if any.
  Result<std::optional<std::string>> project_of_host(const Request& request) const;
  // Customers' display names for one answer (render.hpp), looked up in the portal.
  NameBook names() const;

  // Last, so that it is destroyed first: its jobs use the members above.
  detail::Background background;
};

// ---- Request helpers ----

// The value of `name` in the Cookie header, if any.
std::optional<std::string> cookie(const Request& request, std::string_view name);
// A Set-Cookie value: Path=/, HttpOnly, SameSite=Lax, and Secure when `secure`.
std::string set_cookie(std::string_view name, std::string_view value, long max_age, bool secure);
// A body field: a string (required), an optional string, bool, integer; 400 with `field`.
Result<std::string> string_field(const boost::json::object& body, std::string_view name);
Result<std::optional<std::string>> optional_string(const boost::json::object& body,
                                                   std::string_view name);
Result<std::optional<bool>> optional_bool(const boost::json::object& body, std::string_view name);
Result<std::optional<std::int64_t>> optional_int(const boost::json::object& body,
                                                 std::string_view name);
// A ticket number from the path: 1 to 2^63, decimal digits only.
std::optional<std::uint64_t> parse_number(std::string_view text);
// RFC 3339 ("2026-12-02T10:00:00Z", fractions and offsets allowed) to microseconds.
std::optional<dom::TimeUs> parse_time(std::string_view text);
// "a,b,c" → {"a", "b", "c"}; nothing → {}.
std::vector<std::string> list_of(const std::optional<std::string>& text);
// ?status=a,b → statuses; 400 with field "status" for an unknown one.
Result<std::vector<dom::Status>> statuses_of(const Call& c);
// ?limit= (1..100, default 20): 400 with field "limit" otherwise.
Result<std::size_t> limit_of(const Call& c);

// ---- Ticket commands (the customer and the staff routes) ----

// Runs a command on ticket {n} of project {p} for `who` and answers with `answer(outcome)`; a
// number that is none: 404.
template <class Answer>
Response run_ticket_command(App::Impl& app, const Call& c, const Authed& who,
                            const dom::ticket::Command& command, Answer answer) {
  auto n = parse_number(c.param("n"));
  if (!n) return error_response(c.request, 404, errc::kNotFound, "no such ticket");
  auto done = app.portal.execute(c.param("p"), *n, command, app.meta(c, who));
  if (!done) return error_response(c.request, done.error());
  return answer(*done);
}
// The message `id` after a command, as its caller (either realm) sees it; 404 when it is gone.
Response message_answer(App::Impl& app, const Call& c, const Authed& who,
                        const service::TicketOutcome& done, const std::string& id, unsigned status);

}  // namespace portico::http
