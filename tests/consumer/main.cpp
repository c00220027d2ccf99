// Uses the installed package as an embedding program would: the log (portico::core), the read
// models registered with projections::register_all, the HTTP API (portico::http) answering
// socket-free, and an e-mail formatted by portico::mail.
#include <boost/json/parse.hpp>
#include <cstdio>
#include <portico/errc.hpp>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <portico/log/log.hpp>
#include <portico/mail/mail.hpp>
#include <portico/projections/register.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/portal.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  portico::log::Options options;
  portico::projections::register_all(options);
  auto log = portico::log::Log::open(argv[1], std::move(options));
  if (!log) return 1;
  portico::log::EventData e;
  e.type = "ConsumerStarted";
  auto r = (*log)->append({"consumer", portico::log::ExpectedVersion::any(), {e}});
  if (!r) return 1;
  std::printf("consumer appended at position %llu\n",
              static_cast<unsigned long long>(r->events[0].position));

  portico::service::Portal portal(**log);
  portico::projections::Views views(**log);
  portico::http::App app(**log, portal, views);
  namespace http = boost::beast::http;
  const auto health = app.handle(portico::http::Request{http::verb::get, "/healthz", 11});
  const auto missing =
      app.handle(portico::http::Request{http::verb::get, "/api/v1/projects/nowhere", 11});
  const std::string code(boost::json::parse(missing.body()).at("error").at("code").as_string());
  if (code != portico::errc::kNotFound || portico::http::status_of(code) != missing.result_int()) {
    return 1;
  }
  std::printf("consumer http: /healthz %u, unknown project %u %s\n", health.result_int(),
              missing.result_int(), code.c_str());

  portico::mail::Message m{"Consumer", "support@consumer.test", "ann@example.com",
                           "Hello",    "It works.\n",           ""};
  auto text = portico::mail::format_rfc5322(m, "<1@consumer.test>", "Thu, 01 Jan 2026 00:00:00 Z");
  if (!text) return 1;
  std::printf("consumer mail: %s\n",
              text->find("Subject: Hello") != std::string::npos ? "formatted" : "no subject");
  return 0;
}
