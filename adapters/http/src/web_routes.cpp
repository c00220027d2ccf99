// The portal pages: the customer portal (/p/{project}/...), the invite landing page
// (/invite/{token}) and the staff console (/staff/...) are one page, index.html, whose script
// reads the path and talks to the JSON API; its files are compiled in (web_assets.hpp).
#include <boost/beast/core/string.hpp>
#include <portico/errc.hpp>

#include "app_impl.hpp"
#include "web_assets.hpp"

namespace portico::http {

using beast_http::verb;

namespace {

const web::Asset* find_asset(std::string_view path) {
  for (const web::Asset& a : web::assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

// The page's own policy: scripts, styles, fonts and images of this server only (the project's
// logo may be on another https host), API calls to this server, no inline code of any kind.
constexpr std::string_view kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

// An asset, or 304 when the browser's copy (If-None-Match) is this one. Browsers keep the files
// but ask again each time (no-cache): a page never runs yesterday's script against today's API.
Response serve(const Request& request, const web::Asset& a) {
  Response r{beast_http::status::ok, request.version()};
  r.keep_alive(request.keep_alive());
  r.set(beast_http::field::etag, a.etag);
  r.set(beast_http::field::cache_control, "no-cache");
  r.set("Content-Security-Policy", kPagePolicy);
  const auto match = request[beast_http::field::if_none_match];
  if (!match.empty() && (match == a.etag || match == "*" ||
                         match.find(std::string(a.etag)) != std::string_view::npos)) {
    r.result(beast_http::status::not_modified);
    return r;
  }
  r.set(beast_http::field::content_type, a.content_type);
  r.body() = std::string(a.body);
  return r;
}

}  // namespace

Result<std::optional<std::string>> App::Impl::project_of_host(const Request& request) const {
  std::string host(request[beast_http::field::host]);
  if (const auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  for (char& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return portal.project_for_host(host);
}

void App::Impl::add_web_routes() {
  const web::Asset* page = find_asset("index.html");
  auto serve_page = [page](const Call& c) { return serve(c.request, *page); };
  for (const char* pattern : {"/p/{p}/{rest*}", "/invite/{token}", "/staff/{rest*}"}) {
    router.add(verb::get, pattern, serve_page);
  }
  // A project's own host name (portico-admin project update --host) serves its portal at "/";
  // the page asks /api/v1/host which project that is.
  router.add(verb::get, "/", [this, page](const Call& c) {
    auto slug = project_of_host(c.request);
    if (!slug || !*slug) return error_response(c.request, 404, errc::kNotFound, "nothing here");
    return serve(c.request, *page);
  });
  router.add(verb::get, "/api/v1/host", [this](const Call& c) {
    auto slug = project_of_host(c.request);
    if (!slug) return error_response(c.request, 503, errc::kUnavailable, slug.error().message);
    if (!*slug) {
      return error_response(c.request, 404, errc::kNotFound, "no project has this host name");
    }
    return json_response(c.request, 200, boost::json::object{{"project", **slug}});
  });
  router.add(verb::get, "/assets/{name*}", [](const Call& c) {
    const web::Asset* a = find_asset(c.param("name"));
    if (a == nullptr || a->path == "index.html") {
      return error_response(c.request, 404, errc::kNotFound, "no such file");
    }
    return serve(c.request, *a);
  });
}

}  // namespace portico::http
