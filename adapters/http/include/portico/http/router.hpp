// portico::http::Router — a route table from (method, path pattern) to a handler.
//
// Patterns are paths whose segments may be "{name}" placeholders:
// "/api/v1/projects/{p}/tickets/{n}". A placeholder matches one whole segment, percent-decoded (so
// "%2F" inside an id never becomes a path separator); "{name*}" as the last segment matches the
// rest of the path (zero or more segments, decoded, joined by "/"). A path no pattern matches
// answers 404; a path that matches with another method answers 405 with an Allow header. Handlers
// are socket-free: request in, response out.
//
// Thread safety: add routes before serving; route() may then be called from any thread.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/url/url_view.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portico::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

// Who sent a request: the connection's remote address (no port) and whether it came over TLS.
struct Peer {
  std::string address;
  bool tls = false;
};

// What a handler gets: the request, its parsed target and the placeholders' values.
struct Call {
  const Request& request;
  const Peer& peer;
  boost::urls::url_view target;
  std::map<std::string, std::string, std::less<>> path;  // placeholder name -> decoded segment

  const std::string& param(std::string_view name) const;
  // The query parameter `name`, percent-decoded, if present.
  std::optional<std::string> query(std::string_view name) const;
};

using Handler = std::function<Response(const Call&)>;

struct Match {
  const std::string* route = nullptr;  // the pattern, for metrics and logs; null when none
};

class Router {
 public:
  void add(beast_http::verb method, std::string pattern, Handler handler);
  // Answers the request: the handler's response, 404, 405, or 400 for a target that is not an
  // origin-form URL. `route` receives the matched pattern ("" when none).
  Response route(const Request& request, const Peer& peer, std::string& route) const;

  // A route of the table: its method and pattern, as added.
  struct Route {
    beast_http::verb method;
    std::string pattern;
  };
  // Every route, in the order they were added (docs/openapi.yaml documents the same set).
  std::vector<Route> routes() const;

 private:
  struct Entry {
    beast_http::verb method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" for a placeholder
    Handler handler;
  };
  std::vector<Entry> entries_;
};

}  // namespace portico::http
