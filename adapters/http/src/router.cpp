#include <boost/url/parse.hpp>
#include <portico/errc.hpp>
#include <portico/http/json.hpp>
#include <portico/http/router.hpp>
#include <portico/utf8.hpp>

namespace portico::http {

const std::string& Call::param(std::string_view name) const {
  static const std::string kEmpty;
  auto it = path.find(name);
  return it == path.end() ? kEmpty : it->second;
}

std::optional<std::string> Call::query(std::string_view name) const {
  for (auto p : target.params()) {
    if (p.key == name) return std::string(p.has_value ? std::string_view(p.value) : "");
  }
  return std::nullopt;
}

namespace {
std::vector<std::string> split(std::string_view pattern) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= pattern.size()) {
    const auto slash = pattern.find('/', start);
    const auto end = slash == std::string_view::npos ? pattern.size() : slash;
    out.emplace_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return out;
}
bool is_placeholder(const std::string& s) {
  return s.size() > 2 && s.front() == '{' && s.back() == '}';
}
// "{name*}", last in a pattern: the rest of the path, zero or more segments.
bool is_rest(const std::string& s) { return is_placeholder(s) && s[s.size() - 2] == '*'; }
}  // namespace

void Router::add(beast_http::verb method, std::string pattern, Handler handler) {
  Entry e{method, pattern, split(pattern), std::move(handler)};
  entries_.push_back(std::move(e));
}

std::vector<Router::Route> Router::routes() const {
  std::vector<Route> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back({e.method, e.pattern});
  return out;
}

Response Router::route(const Request& request, const Peer& peer, std::string& route) const {
  route.clear();
  auto parsed = boost::urls::parse_origin_form(request.target());
  if (!parsed) {
    return error_response(request, 400, errc::kInvalidRequest, "not a valid request target");
  }
  const boost::urls::url_view target = *parsed;
  std::vector<std::string> segments;
  for (auto s : target.segments()) {
    segments.emplace_back(s);
    // No id holds control characters or broken UTF-8 (and keys of the read models are split by
    // NUL): such a path names nothing.
    if (!utf8::valid_printable(segments.back())) {
      return error_response(request, 404, errc::kNotFound, "no such route");
    }
  }
  if (segments.empty()) segments.emplace_back();  // "/" is one empty segment
  std::vector<const Entry*> allowed;
  for (const Entry& e : entries_) {
    const bool rest = is_rest(e.segments.back());
    const std::size_t fixed = e.segments.size() - (rest ? 1 : 0);
    if (rest ? segments.size() < fixed : segments.size() != fixed) continue;
    bool match = true;
    for (std::size_t i = 0; i < fixed && match; ++i) {
      match = is_placeholder(e.segments[i]) ? !segments[i].empty() : e.segments[i] == segments[i];
    }
    if (!match) continue;
    if (e.method != request.method()) {
      allowed.push_back(&e);
      continue;
    }
    std::map<std::string, std::string, std::less<>> params;
    for (std::size_t i = 0; i < fixed; ++i) {
      if (is_placeholder(e.segments[i])) {
        params[e.segments[i].substr(1, e.segments[i].size() - 2)] = std::move(segments[i]);
      }
    }
    if (rest) {
      std::string joined;
      for (std::size_t i = fixed; i < segments.size(); ++i) {
        joined += (i == fixed ? "" : "/") + segments[i];
      }
      params[e.segments.back().substr(1, e.segments.back().size() - 3)] = std::move(joined);
    }
    route = e.pattern;
    return e.handler(Call{request, peer, target, std::move(params)});
  }
  if (allowed.empty()) return error_response(request, 404, errc::kNotFound, "no such route");
  route = allowed.front()->pattern;
  std::string allow;
  for (const Entry* e : allowed) {
    allow += (allow.empty() ? "" : ", ") + std::string(beast_http::to_string(e->method));
  }
  Response r = error_response(request, 405, errc::kMethodNotAllowed,
                              "this route does not take " + std::string(request.method_string()));
  r.set(beast_http::field::allow, allow);
  return r;
}

}  // namespace portico::http
