// portico::http::App — Portico's HTTP API (../shared/API.md) over a log, its command handler and
// its read models: the route table, the JSON mapping and the metrics. Socket-free: handle() takes
// a request and returns the response, so it is tested without a network and served by Server.
//
// An embedding program may add routes of its own to router() before serving.
// Thread safety: handle() may be called from any number of threads at once.
#pragma once

#include <memory>
#include <portico/http/router.hpp>
#include <portico/log/log.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/portal.hpp>
#include <string>

namespace portico::http {

struct AppOptions {
  std::string base_url = "http://127.0.0.1:8080";
};

class App {
 public:
  // `log`, `portal` and `views` must outlive the App.
  App(log::Log& log, service::Portal& portal, projections::Views& views, AppOptions options = {});
  ~App();

  Response handle(const Request& request);
  Router& router();
  // Prometheus text format: requests and latency by route, and the log's counters.
  std::string metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The headers every answer carries (ServerOptions::headers).
std::vector<std::pair<std::string, std::string>> security_headers();

}  // namespace portico::http
