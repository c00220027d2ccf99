#include <fmt/format.h>

#include <array>
#include <atomic>
#include <boost/json/array.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <portico/http/tokens.hpp>

namespace portico::http {

namespace dom = portico::domain;
using beast_http::verb;

namespace {

// Latency buckets of the request histogram, in seconds.
constexpr std::array<double, 10> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                             0.025,  0.05,  0.1,    0.5,   1.0};

struct RouteMetrics {
  std::map<unsigned, std::uint64_t> by_status;
  std::array<std::uint64_t, kBuckets.size()> buckets{};
  std::uint64_t count = 0;
  double seconds = 0;
};

}  // namespace

struct App::Impl {
  log::Log& log;
  service::Portal& portal;
  projections::Views& views;
  AppOptions options;
  Router router;
  mutable std::mutex metrics_mu;
  std::map<std::string, RouteMetrics> metrics;  // by route pattern ("" for unmatched)

  Impl(log::Log& l, service::Portal& p, projections::Views& v, AppOptions o)
      : log(l), portal(p), views(v), options(std::move(o)) {}

  void record(const std::string& route, unsigned status, double seconds) {
    std::lock_guard lock(metrics_mu);
    RouteMetrics& m = metrics[route];
    ++m.by_status[status];
    ++m.count;
    m.seconds += seconds;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      if (seconds <= kBuckets[i]) ++m.buckets[i];
    }
  }

  void add_routes(App& app);
};

namespace {

boost::json::object project_json(const dom::project::State& p) {
  const auto& s = p.settings;
  boost::json::array sign_in;
  for (const auto& m : s.sign_in) sign_in.emplace_back(m);
  return {
      {"slug", p.slug},
      {"name", s.name},
      {"theme",
       {{"logo_url", s.theme.logo_url},
        {"primary_color", s.theme.primary_color},
        {"accent_color", s.theme.accent_color}}},
      {"sign_in", std::move(sign_in)},
      {"policies",
       {{"customer_reply", s.policies.customer_reply == dom::CustomerReplyPolicy::keep_status
                               ? "keep_status"
                               : "reopen"},
        {"closed_tickets", s.policies.closed_tickets == dom::ClosedTicketsPolicy::closed_is_final
                               ? "closed_is_final"
                               : "reply_reopens"}}},
      {"working_hours", nullptr},
  };
}

}  // namespace

void App::Impl::add_routes(App& app) {
  router.add(verb::get, "/healthz", [this](const Call& c) {
    // Healthy when the log answers a read.
    if (auto head = log.head(); !head) {
      return error_response(c.request, 503, "unavailable", head.error().message);
    }
    return json_response(c.request, 200, boost::json::object{{"status", "ok"}});
  });
  router.add(verb::get, "/metrics", [&app](const Call& c) {
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
    if (token.size() > 256) return error_response(c.request, 404, "not_found", "no such invite");
    auto ref = views.invite(token_hash(token));
    if (!ref) return error_response(c.request, ref.error());
    if (!*ref) return error_response(c.request, 404, "not_found", "no such invite");
    auto ticket = portal.ticket((*ref)->project, (*ref)->number);
    if (!ticket) return error_response(c.request, ticket.error());
    auto it = (*ticket)->invites.find((*ref)->invite_id);
    if (it == (*ticket)->invites.end()) {
      return error_response(c.request, 404, "not_found", "no such invite");
    }
    if (it->second.revoked || it->second.dead) {
      return error_response(c.request, 410, "invite_inactive", "this invite link no longer works");
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
  router.add(verb::get, "/api/v1/projects/{p}", [this](const Call& c) {
    auto p = portal.project(c.param("p"));
    if (!p || !p->exists) return error_response(c.request, 404, "not_found", "no such project");
    return json_response(c.request, 200, project_json(*p));
  });
}

App::App(log::Log& log, service::Portal& portal, projections::Views& views, AppOptions options)
    : impl_(std::make_unique<Impl>(log, portal, views, std::move(options))) {
  impl_->add_routes(*this);
}

App::~App() = default;

Router& App::router() { return impl_->router; }

Response App::handle(const Request& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string route;
  Response response = impl_->router.route(request, route);
  impl_->record(route, response.result_int(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return response;
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
