// The HTTP server over real sockets on 127.0.0.1: routing, the error shape, limits, malformed
// HTTP, keep-alive and pipelining, security headers, metrics.
#include <doctest/doctest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <portico/errc.hpp>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <portico/http/server.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../../projections/views_fixtures.hpp"
#include "../../support/http_client.hpp"
#include "../../support/self_signed.hpp"

using namespace portico::test;
namespace hc = portico::test::http_client;
namespace phttp = portico::http;
using boost::beast::http::verb;

namespace {

// A Desk (project "acme", staff, customers) served over HTTP on a free port.
struct Served {
  ViewsDesk desk;
  phttp::App app{*desk.log, *desk.portal, desk.views};
  std::unique_ptr<phttp::Server> server;

  explicit Served(phttp::ServerOptions options = {}) {
    options.port = 0;
    options.io_threads = 2;
    options.workers = 8;
    options.headers = phttp::security_headers();
    server = std::make_unique<phttp::Server>(
        [this](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); },
        options);
    auto started = server->start();
    REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
  }
  unsigned short port() const { return server->port(); }
};

// A Served over HTTPS with a self-signed certificate, and a client connection that trusts
// exactly that certificate.
struct ServedTls {
  TempDir certs;
  std::unique_ptr<Served> served;
  boost::asio::io_context ioc;
  boost::asio::ssl::context ctx{boost::asio::ssl::context::tls_client};
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;

  ServedTls() {
    REQUIRE(write_self_signed(certs.path()));
    phttp::ServerOptions o;
    o.tls_cert_file = (certs / "cert.pem").string();
    o.tls_key_file = (certs / "key.pem").string();
    served = std::make_unique<Served>(o);
    ctx.load_verify_file(o.tls_cert_file);
    ctx.set_verify_mode(boost::asio::ssl::verify_peer);
    tls = std::make_unique<boost::beast::ssl_stream<boost::beast::tcp_stream>>(ioc, ctx);
    boost::beast::get_lowest_layer(*tls).connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), served->port()));
    tls->handshake(boost::asio::ssl::stream_base::client);
  }
  hc::Response request(verb method, const std::string& target, const std::string& body = {}) {
    boost::beast::http::request<boost::beast::http::string_body> req{method, target, 11};
    req.set(boost::beast::http::field::host, "127.0.0.1");
    if (!body.empty()) {
      req.set(boost::beast::http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    boost::beast::http::write(*tls, req);
    boost::beast::flat_buffer buffer;
    hc::Response res;
    boost::beast::http::read(*tls, buffer, res);
    return res;
  }
};

}  // namespace

TEST_CASE("health answers ok with the security headers") {
  Served s;
  auto r = hc::get(s.port(), "/healthz");
  CHECK(r.result_int() == 200);
  CHECK(hc::json(r).at("status") == "ok");
  CHECK(r[boost::beast::http::field::content_type] == "application/json; charset=utf-8");
  CHECK(r["Content-Security-Policy"].find("frame-ancestors 'none'") != std::string::npos);
  CHECK(r["X-Content-Type-Options"] == "nosniff");
  CHECK(r["Referrer-Policy"] == "no-referrer");
  CHECK(r[boost::beast::http::field::strict_transport_security].empty());  // only over TLS
}

TEST_CASE("a handler that throws answers 500 and is told to ServerOptions on_warning") {
  std::mutex mu;
  std::vector<std::string> warnings;
  phttp::ServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  options.workers = 2;
  options.on_warning = [&](std::string_view line) {
    std::lock_guard lock(mu);
    warnings.emplace_back(line);
  };
  phttp::Server server(
      [](const phttp::Request& r, const phttp::Peer&) -> phttp::Response {
        if (r.target() == "/something") throw 42;
        throw std::runtime_error("the handler broke");
      },
      options);
  REQUIRE(server.start());
  // A read on an I/O thread, a write on the pool, and something that is no std::exception.
  auto read = hc::get(server.port(), "/read");
  CHECK(read.result_int() == 500);
  CHECK(hc::json(read).at("error").at("code") == "internal");
  CHECK(hc::Connection(server.port()).request(verb::post, "/write", "{}").result_int() == 500);
  CHECK(hc::get(server.port(), "/something").result_int() == 500);
  std::lock_guard lock(mu);
  CHECK(warnings == std::vector<std::string>{"http server: a handler threw: the handler broke",
                                             "http server: a handler threw: the handler broke",
                                             "http server: a handler threw something unknown"});
}

TEST_CASE("a project is public and an unknown one is not_found") {
  Served s;
  auto r = hc::get(s.port(), "/api/v1/projects/acme");
  REQUIRE(r.result_int() == 200);
  const auto p = hc::json(r).as_object();
  CHECK(p.at("slug") == "acme");
  CHECK(p.at("name") == "Acme Support");
  CHECK(p.at("theme").at("primary_color") == "#1f6feb");
  CHECK(p.at("policies").at("customer_reply") == "keep_status");
  CHECK(p.at("policies").at("closed_tickets") == "closed_is_final");
  CHECK(p.at("sign_in").as_array().size() == 2);
  auto missing = hc::get(s.port(), "/api/v1/projects/nope");
  CHECK(missing.result_int() == 404);
  CHECK(hc::error_code(missing) == "not_found");
  CHECK(hc::json(missing).at("error").at("message").is_string());
}

TEST_CASE("unknown routes are 404 and a wrong method is 405 with Allow") {
  Served s;
  auto unknown = hc::get(s.port(), "/api/v1/nothing/here");
  CHECK(unknown.result_int() == 404);
  CHECK(hc::error_code(unknown) == "not_found");
  hc::Connection c(s.port());
  auto wrong = c.request(verb::delete_, "/healthz");
  CHECK(wrong.result_int() == 405);
  CHECK(wrong[boost::beast::http::field::allow] == "GET");
  // Encoded separators and dot segments stay inside one segment: never another route or file.
  CHECK(hc::get(s.port(), "/api/v1/projects/..%2F..%2Fetc%2Fpasswd").result_int() == 404);
  CHECK(hc::get(s.port(), "/api/v1/projects/%2e%2e").result_int() == 404);
  CHECK(hc::get(s.port(), "/api/v1/projects/").result_int() == 404);
}

TEST_CASE("a body over the limit is refused with 413 and the server stays up") {
  Served s;
  {
    // The whole body sent: the refusal still arrives (the server drains before closing).
    hc::Connection c(s.port());
    c.send(
        "POST /api/v1/projects/acme/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: 1048577\r\n\r\n" +
        std::string(1024 * 1024 + 1, 'x'));
    auto r = c.read();
    CHECK(r.result_int() == 413);
    CHECK(hc::error_code(r) == "too_large");
    CHECK(c.closed_by_server());
  }
  {
    // Refused on its announced length, before the body comes.
    hc::Connection c(s.port());
    c.send(
        "POST /api/v1/projects/acme/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: "
        "99999999\r\n\r\n{\"a\":");
    auto r = c.read();
    CHECK(r.result_int() == 413);
    CHECK(c.closed_by_server());
  }
  CHECK(hc::get(s.port(), "/healthz").result_int() == 200);
}

TEST_CASE("oversize headers get 431 and malformed HTTP gets 400") {
  Served s;
  {
    hc::Connection c(s.port());
    auto r = c.request(verb::get, "/healthz", {}, {{"X-Big", std::string(20'000, 'h')}});
    CHECK(r.result_int() == 431);
    CHECK(c.closed_by_server());
  }
  for (const std::string& bad :
       {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET /healthz HTTP/9.9\r\n\r\n"),
        std::string("GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
        std::string("GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n")}) {
    CAPTURE(bad);
    hc::Connection c(s.port());
    c.send(bad);
    auto r = c.read();
    CHECK(r.result_int() == 400);
    CHECK(hc::error_code(r) == "invalid_request");
  }
  CHECK(hc::get(s.port(), "/healthz").result_int() == 200);
}

TEST_CASE("a kept-alive connection answers pipelined requests in order") {
  Served s;
  hc::Connection c(s.port());
  c.send(
      "GET /api/v1/projects/acme HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/v1/projects/nope HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.read().result_int() == 200);
  CHECK(c.read().result_int() == 404);
  CHECK(c.read().result_int() == 200);
  // And one after another on the same connection.
  for (int i = 0; i < 20; ++i) CHECK(c.request(verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("a connection idle past its timeout is closed") {
  phttp::ServerOptions o;
  o.idle_timeout = std::chrono::milliseconds(200);
  Served s(o);
  hc::Connection c(s.port());
  CHECK(c.request(verb::get, "/healthz").result_int() == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(c.closed_by_server());
}

TEST_CASE("a request started on a kept-alive connection has the read deadline not the idle one") {
  phttp::ServerOptions o;
  o.idle_timeout = std::chrono::milliseconds(5'000);
  o.read_timeout = std::chrono::milliseconds(300);
  o.header_timeout = std::chrono::milliseconds(300);  // the request line and headers
  Served s(o);
  hc::Connection c(s.port());
  CHECK(c.request(verb::get, "/healthz").result_int() == 200);
  // Idle longer than the read deadline but within the idle one: still open, and it answers.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  CHECK(c.request(verb::get, "/healthz").result_int() == 200);
  // A request that starts and then stalls is cut off after the read deadline, long before the
  // idle one would have ended the connection.
  const auto sent = std::chrono::steady_clock::now();
  c.send("GET /heal");
  CHECK(c.closed_by_server());  // blocks until the server closes
  CHECK(std::chrono::steady_clock::now() - sent < std::chrono::milliseconds(3'000));
}

TEST_CASE("reads on the I/O threads and writes on the pool are answered in order") {
  for (bool inline_reads : {true, false}) {
    CAPTURE(inline_reads);
    phttp::ServerOptions o;
    o.reads_on_io_threads = inline_reads;
    Served s(o);
    hc::Connection c(s.port());
    // Pipelined: a read, a write (401 without a session: it went through the pool), a read.
    c.send(
        "GET /api/v1/projects/acme HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /api/v1/projects/acme/tickets HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        "GET /api/v1/projects/nope HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(c.read().result_int() == 200);
    CHECK(c.read().result_int() == 401);
    CHECK(c.read().result_int() == 404);
  }
}

TEST_CASE("metrics count requests by route and report the log") {
  Served s;
  hc::get(s.port(), "/api/v1/projects/acme");
  hc::get(s.port(), "/api/v1/projects/nope");
  auto m = hc::get(s.port(), "/metrics");
  REQUIRE(m.result_int() == 200);
  CHECK(m[boost::beast::http::field::content_type].starts_with("text/plain"));
  const std::string& text = m.body();
  CHECK(text.find("portico_http_requests_total{route=\"/api/v1/projects/{p}\",status=\"200\"} 1") !=
        std::string::npos);
  CHECK(text.find("portico_http_requests_total{route=\"/api/v1/projects/{p}\",status=\"404\"} 1") !=
        std::string::npos);
  CHECK(
      text.find("portico_http_request_duration_seconds_count{route=\"/api/v1/projects/{p}\"} 2") !=
      std::string::npos);
  CHECK(text.find("portico_log_commits_total ") != std::string::npos);
  CHECK(text.find("portico_log_commit_seconds_total ") != std::string::npos);
}

TEST_CASE("an embedding program adds routes of its own beside the API") {
  ViewsDesk desk;
  phttp::App app(*desk.log, *desk.portal, desk.views);
  app.router().add(verb::get, "/hello/{name}", [](const phttp::Call& c) {
    return phttp::json_response(c.request, 200, boost::json::object{{"hello", c.param("name")}});
  });
  phttp::Request req{verb::get, "/hello/w%C3%B6rld?x=1", 11};
  auto r = app.handle(req);  // socket-free
  CHECK(r.result_int() == 200);
  CHECK(r.body() == R"({"hello":"wörld"})");
  CHECK(app.handle(phttp::Request{verb::get, "/api/v1/projects/acme", 11}).result_int() == 200);
}

namespace {

// API.md's statuses ("Conventions"), written out from the contract rather than from the code:
// a code whose status changes, or that the table lost, fails here.
const std::map<std::string, unsigned, std::less<>>& api_statuses() {
  static const std::map<std::string, unsigned, std::less<>> kStatuses = {
      {"invalid_request", 400},
      {"unauthenticated", 401},
      {"invalid_credentials", 401},
      {"invalid_token", 401},
      {"totp_required", 401},
      {"forbidden", 403},
      {"not_author", 403},
      {"not_creator", 403},
      {"email_not_verified", 403},
      {"domain_not_allowed", 403},
      {"csrf", 403},
      {"not_found", 404},
      {"ticket_closed", 409},
      {"ticket_not_active", 409},
      {"invalid_transition", 409},
      {"creator_cannot_leave", 409},
      {"no_survey_pending", 409},
      {"conflict", 409},
      {"invite_inactive", 410},
      {"survey_inactive", 410},
      {"too_large", 413},
      {"unsupported_media_type", 415},
      {"rate_limited", 429},
      {"unavailable", 503},
      // Not in API.md: the server's own two (docs/api.md, "Behaviour on every request").
      {"method_not_allowed", 405},
      {"headers_too_large", 431},
  };
  return kStatuses;
}

}  // namespace

TEST_CASE("every error code answers the HTTP status API.md gives it and never 500") {
  std::set<std::string, std::less<>> all;
  for (std::string_view code : portico::errc::kAll) {
    CAPTURE(code);
    CHECK(all.emplace(code).second);  // listed once
    const auto it = api_statuses().find(code);
    REQUIRE_MESSAGE(it != api_statuses().end(), "a code API.md does not define");
    CHECK(phttp::status_of(code) == it->second);
    CHECK(phttp::status_of(code) != 500);
  }
  for (const auto& [code, status] : api_statuses()) {
    CAPTURE(code);
    CHECK_MESSAGE(all.contains(code), "API.md defines it, portico::errc::kAll lacks it");
  }
  // What is no code at all is a bug of the server's: 500, as for the server's own kInternal.
  CHECK(phttp::status_of(portico::errc::kInternal) == 500);
  CHECK(phttp::status_of("no_such_code") == 500);
  CHECK(phttp::status_of("") == 500);
}

TEST_CASE("the portal has words for every error code") {
  // adapters/http/web/portal.js keeps its own list, in words(e): one `case 'CODE':` per code.
  std::ifstream in(std::string(PORTICO_SOURCE_DIR) + "/adapters/http/web/portal.js");
  REQUIRE(in);
  const std::string js{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto begin = js.find("function words(e)");
  REQUIRE(begin != std::string::npos);
  const auto end = js.find("\n}\n", begin);
  REQUIRE(end != std::string::npos);
  const std::string words = js.substr(begin, end - begin);
  for (std::string_view code : portico::errc::kAll) {
    CAPTURE(code);
    CHECK(words.find("case '" + std::string(code) + "':") != std::string::npos);
  }
}

TEST_CASE("with a certificate and key the server speaks HTTPS only") {
  ServedTls s;
  for (int i = 0; i < 3; ++i) {  // kept alive over TLS
    auto res = s.request(verb::get, "/api/v1/projects/acme");
    CHECK(res.result_int() == 200);
    CHECK(hc::json(res).at("slug") == "acme");
    CHECK(res[boost::beast::http::field::strict_transport_security] == "max-age=31536000");
  }
  // Plain HTTP on the TLS port gets nothing it could mistake for an answer.
  hc::Connection plain(s.served->port());
  plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(plain.closed_by_server());
}

TEST_CASE("a session cookie set over HTTPS is Secure") {
  ServedTls s;
  auto mail = s.served->app.accounts().request_magic_link("acme", "tls@example.test");
  REQUIRE(mail);
  auto res = s.request(verb::post, "/api/v1/auth/magic-link/verify",
                       boost::json::serialize(boost::json::object{{"token", mail->token}}));
  REQUIRE_MESSAGE(res.result_int() == 200, res.body());
  const std::string cookie(res[boost::beast::http::field::set_cookie]);
  CHECK(cookie.starts_with("portico_session="));
  CHECK(cookie.find("; Secure") != std::string::npos);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
}

TEST_CASE("metrics count sign-ins and sign-outs") {
  Served s;
  auto counter = [&](const std::string& name) {
    const std::string text = hc::get(s.port(), "/metrics").body();
    const auto at = text.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stoull(text.substr(at + name.size() + 2));
  };
  const auto ins = counter("portico_sign_ins_total");
  const auto outs = counter("portico_sign_outs_total");
  auto mail = s.app.accounts().request_magic_link("acme", "counted@example.test");
  REQUIRE(mail);
  hc::Connection c(s.port());
  auto in = c.request(verb::post, "/api/v1/auth/magic-link/verify",
                      boost::json::serialize(boost::json::object{{"token", mail->token}}));
  REQUIRE(in.result_int() == 200);
  CHECK(counter("portico_sign_ins_total") == ins + 1);
  CHECK(counter("portico_sign_outs_total") == outs);
  const std::string token(hc::json(in).at("token").as_string());
  auto out =
      c.request(verb::post, "/api/v1/auth/logout", "", {{"Authorization", "Bearer " + token}});
  CHECK(out.result_int() == 204);
  CHECK(counter("portico_sign_outs_total") == outs + 1);
  // A wrong token signs nobody in.
  CHECK(c.request(verb::post, "/api/v1/auth/magic-link/verify",
                  boost::json::serialize(boost::json::object{{"token", mail->token}}))
            .result_int() == 401);
  CHECK(counter("portico_sign_ins_total") == ins + 1);
}

TEST_CASE("a missing certificate stops the start with a clear error") {
  ViewsDesk desk;
  phttp::App app(*desk.log, *desk.portal, desk.views);
  phttp::ServerOptions o;
  o.port = 0;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  phttp::Server server(
      [&](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); }, o);
  auto started = server.start();
  REQUIRE_FALSE(started);
  CHECK(started.error().message.find("cannot use the TLS certificate") != std::string::npos);
}

TEST_CASE("connections over the cap are turned away and the others keep working") {
  phttp::ServerOptions o;
  o.max_connections = 2;
  Served s(o);
  hc::Connection a(s.port()), b(s.port());
  CHECK(a.request(verb::get, "/healthz").result_int() == 200);
  CHECK(b.request(verb::get, "/healthz").result_int() == 200);
  hc::Connection third(s.port());
  CHECK(third.closed_by_server());
  CHECK(a.request(verb::get, "/healthz").result_int() == 200);
}

TEST_CASE("framing another hop could read differently is refused") {
  Served s;
  for (const std::string& bad :
       {std::string("POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
                    "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        std::string("POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"),
        std::string("GET /healthz HTTP/1.1\r\n\r\n"),  // no Host
        std::string("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        std::string("POST /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")}) {
    CAPTURE(bad);
    hc::Connection c(s.port());
    c.send(bad);
    auto r = c.read();
    CHECK(r.result_int() == 400);
    CHECK(c.closed_by_server());  // and no second answer smuggled in
  }
}

TEST_CASE("an endless chunk extension is cut off at the buffer's bound") {
  Served s;
  hc::Connection c(s.port());
  c.send("POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
         std::string(200 * 1024, 'e'));
  auto r = c.read();
  CHECK(r.result_int() == 431);
  CHECK(hc::get(s.port(), "/healthz").result_int() == 200);
}

TEST_CASE("the access log is one JSON line per request with secrets left out") {
  TempDir dir;
  std::FILE* log = std::fopen((dir / "access.log").c_str(), "w+");
  REQUIRE(log);
  {
    phttp::ServerOptions o;
    o.access_log = log;
    Served s(o);
    hc::get(s.port(), "/api/v1/invites/SECRETtoken123");
    hc::get(s.port(), "/p/acme/auth/magic?token=SECRET2&x=1");
  }
  std::fflush(log);
  std::rewind(log);
  char line[4096];
  int lines = 0;
  while (std::fgets(line, sizeof line, log)) {
    ++lines;
    const std::string text(line);
    CHECK(text.find("SECRET") == std::string::npos);
    CHECK(text.find("[redacted]") != std::string::npos);
    CHECK(boost::json::parse(text).at("status").is_number());
  }
  CHECK(lines == 2);
  std::fclose(log);
}

TEST_CASE("control bytes in a path name nothing") {
  Served s;
  for (const char* target : {"/api/v1/projects/ac%00me", "/api/v1/projects/acme%0A",
                             "/api/v1/projects/%FF%FE", "/api/v1/invites/a%00b"}) {
    CAPTURE(target);
    auto r = hc::get(s.port(), target);
    CHECK(r.result_int() == 404);
    CHECK(hc::error_code(r) == "not_found");
  }
}

TEST_CASE("request bodies are JSON objects Portico can store") {
  ViewsDesk desk;
  phttp::App app(*desk.log, *desk.portal, desk.views);
  app.router().add(verb::post, "/echo", [](const phttp::Call& c) {
    auto body = phttp::parse_body(c.request);
    if (!body) return phttp::error_response(c.request, body.error());
    return phttp::json_response(c.request, 200, *body);
  });
  auto post = [&](std::string body, std::string type = "application/json") {
    phttp::Request req{verb::post, "/echo", 11};
    req.set(boost::beast::http::field::content_type, type);
    req.body() = std::move(body);
    req.prepare_payload();
    return app.handle(req);
  };
  CHECK(post(R"({"a":1})").result_int() == 200);
  CHECK(post(R"({"a":1})", "Application/JSON; charset=utf-8").result_int() == 200);
  CHECK(post(R"({"a":1})", "application/jsonp").result_int() == 415);
  CHECK(post(R"({"a":1})", "text/plain").result_int() == 415);
  for (std::string bad :
       {std::string("not json"), std::string("[1,2]"), std::string(R"({"a":1e999})"),
        std::string(R"({"a":"x\u0000y"})"), std::string("{\"a\":\"\xff\"}"),
        std::string(40, '[') + std::string(40, ']')}) {
    CAPTURE(bad);
    auto r = post(bad);
    CHECK(r.result_int() == 400);
    CHECK(boost::json::parse(r.body()).at("error").at("field") == "body");
  }
}

TEST_CASE("Expect 100-continue gets the go-ahead - or 413 at once for a body too large") {
  Served s;
  {
    hc::Connection c(s.port());
    c.send(
        "POST /api/v1/projects/acme/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    auto go = c.read();  // before the body is sent
    CHECK(go.result_int() == 100);
    c.send("{}");
    auto r = c.read();
    CHECK(r.result_int() == 401);  // the request went on as usual
  }
  {
    hc::Connection c(s.port());
    c.send(
        "POST /api/v1/projects/acme/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n");
    auto r = c.read();
    CHECK(r.result_int() == 413);
    CHECK(c.closed_by_server());
  }
  CHECK(hc::get(s.port(), "/healthz").result_int() == 200);
}

TEST_CASE("HEAD answers like GET without the body - on a kept-alive connection") {
  Served s;
  hc::Connection c(s.port());
  const auto get = c.request(verb::get, "/api/v1/projects/acme");
  REQUIRE(get.result_int() == 200);
  // Beast's reader needs to know a HEAD answer has no body: read it by hand.
  c.send("HEAD /api/v1/projects/acme HTTP/1.1\r\nHost: x\r\n\r\n");
  boost::beast::http::response_parser<boost::beast::http::string_body> parser;
  parser.skip(true);
  boost::beast::flat_buffer buffer;
  c.read_with(buffer, parser);
  CHECK(parser.get().result_int() == 200);
  CHECK(parser.get()[boost::beast::http::field::content_length] ==
        std::to_string(get.body().size()));
  CHECK(parser.get().body().empty());
  CHECK(parser.get()["X-Content-Type-Options"] == "nosniff");
  // The connection is still in step: the next answer is the next request's.
  c.send("HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  boost::beast::http::response_parser<boost::beast::http::string_body> second;
  second.skip(true);
  c.read_with(buffer, second);
  CHECK(second.get().result_int() == 404);
  auto after = c.request(verb::get, "/healthz");
  CHECK(after.result_int() == 200);
}

TEST_CASE("the portal pages and their files are served with types - ETags - and their own policy") {
  Served s;
  for (const char* target :
       {"/p/acme/", "/p/acme", "/p/acme/tickets/12", "/p/acme/auth/magic?token=x", "/invite/abc",
        "/staff/", "/staff/acme/tickets/3"}) {
    CAPTURE(std::string(target));
    auto r = hc::get(s.port(), target);
    CHECK(r.result_int() == 200);
    CHECK(r[boost::beast::http::field::content_type] == "text/html; charset=utf-8");
    CHECK(r.body().find("/assets/portal.js") != std::string::npos);
    const std::string policy(r["Content-Security-Policy"]);
    CHECK(policy.find("script-src 'self'") != std::string::npos);
    CHECK(policy.find("connect-src 'self'") != std::string::npos);
    CHECK(policy.find("unsafe-inline") == std::string::npos);
    CHECK(r[boost::beast::http::field::cache_control] == "no-cache");  // the page's, not no-store
    CHECK(r["X-Content-Type-Options"] == "nosniff");                   // the server's still
  }
  auto js = hc::get(s.port(), "/assets/portal.js");
  CHECK(js.result_int() == 200);
  CHECK(js[boost::beast::http::field::content_type] == "text/javascript; charset=utf-8");
  const std::string etag(js[boost::beast::http::field::etag]);
  CHECK(etag.size() == 34);  // a quoted digest
  hc::Connection c(s.port());
  auto again = c.request(verb::get, "/assets/portal.js", "", {{"If-None-Match", etag}});
  CHECK(again.result_int() == 304);
  CHECK(again.body().empty());
  CHECK(c.request(verb::get, "/assets/portal.js", "", {{"If-None-Match", "\"other\""}})
            .result_int() == 200);
  CHECK(hc::get(s.port(), "/assets/portal.css")[boost::beast::http::field::content_type] ==
        "text/css; charset=utf-8");
  for (const char* missing : {"/assets/index.html", "/assets/nope.js", "/assets/%2E%2E/app.cpp",
                              "/assets/../CMakeLists.txt", "/p/", "/invite/"}) {
    CAPTURE(std::string(missing));
    CHECK(hc::get(s.port(), missing).result_int() == 404);
  }
  // Pages are read-only: another method is 405.
  CHECK(c.request(verb::post, "/p/acme/", "{}").result_int() == 405);
}
