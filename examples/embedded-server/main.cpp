// Portico's HTTP API embedded in another program (a game server's web port, say): the program
// opens its own log, builds the App, adds routes of its own beside API.md's — one of them
// answering only for a signed-in customer, through the App's sessions — and serves them all.
//
//   portico-embedded-server-example [DIR]   (a fresh temporary directory when DIR is left out)
//
// It serves on a free port of 127.0.0.1, calls itself once on each kind of route, prints what it
// got and stops; a real program would serve until told to stop.
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <cstdio>
#include <filesystem>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <portico/http/server.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/portal.hpp>
#include <portico/service/scheduler.hpp>
#include <thread>

namespace dom = portico::domain;
namespace phttp = portico::http;
namespace plog = portico::log;
namespace proj = portico::projections;
namespace svc = portico::service;
namespace beast = boost::beast;
using beast::http::verb;

namespace {

// One request to ourselves, the way any HTTP client would send it.
phttp::Response call(unsigned short port, verb method, const std::string& target,
                     const std::string& bearer = {}) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  phttp::Request req{method, target, 11};
  req.set(beast::http::field::host, "127.0.0.1");
  if (!bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + bearer);
  req.prepare_payload();
  beast::http::write(socket, req);
  beast::flat_buffer buffer;
  phttp::Response res;
  beast::http::read(socket, buffer, res);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir =
      argc > 1 ? std::filesystem::path(argv[1])
               : std::filesystem::temp_directory_path() /
                     ("portico-embedded-server-" + std::to_string(::getpid()));

  // The program's own log, with the read models the API serves.
  plog::Options options;
  options.projections = {proj::Views::projection()};
  auto opened = plog::Log::open(dir, std::move(options));
  if (!opened) {
    std::fprintf(stderr, "open the log: %s\n", opened.error().message.c_str());
    return 1;
  }
  std::unique_ptr<plog::Log> log = std::move(*opened);
  svc::Portal portal(*log);
  proj::Views views(*log);
  dom::project::Settings settings;
  settings.name = "Arena Support";
  (void)portal.create_project("arena", settings, {dom::system_actor(), "arena:create", {}});

  phttp::App app(*log, portal, views);  // no mail transport: sign-in by e-mail answers 503
  // The timers (scheduled closures, auto-close, survey expiry) run beside the program's own work.
  auto scheduler = std::make_unique<svc::Scheduler>(portal);
  scheduler->start();

  // A route of the program's own, public.
  app.router().add(verb::get, "/game/status", [](const phttp::Call& c) {
    return phttp::json_response(c.request, 200, boost::json::object{{"players_online", 42}});
  });
  // And one for signed-in customers only: the App's sessions say who is calling.
  app.router().add(verb::get, "/game/whoami", [&app](const phttp::Call& c) {
    const std::string_view auth = c.request[beast::http::field::authorization];
    auto caller = app.accounts().authenticate(
        dom::Realm::customer, auth.starts_with("Bearer ") ? auth.substr(7) : std::string_view());
    if (!caller) return phttp::error_response(c.request, caller.error());
    return phttp::json_response(c.request, 200, boost::json::object{{"customer", caller->id}});
  });

  phttp::ServerOptions server_options;
  server_options.port = 0;  // any free port
  server_options.headers = phttp::security_headers();
  phttp::Server server(
      [&app](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); },
      server_options);
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "start the server: %s\n", started.error().message.c_str());
    return 1;
  }
  const unsigned short port = server.port();

  auto own = call(port, verb::get, "/game/status");
  auto api = call(port, verb::get, "/api/v1/projects/arena");
  auto anonymous = call(port, verb::get, "/game/whoami");
  std::printf("GET /game/status -> %u %s\n", own.result_int(), own.body().c_str());
  std::printf("GET /api/v1/projects/arena -> %u (%s)\n", api.result_int(),
              api.body().find("\"Arena Support\"") != std::string::npos ? "Arena Support" : "?");
  std::printf("GET /game/whoami without a session -> %u\n", anonymous.result_int());

  // A closure a staff member schedules a second ahead happens without anyone asking.
  (void)portal.add_staff("arena", {"s-ref", "ref@arena.test", "Referee", "agent"},
                         {dom::system_actor(), "arena:staff", {}});
  (void)portal.register_customer({"c-kim", "kim@arena.test", "Kim", "kim"},
                                 {dom::system_actor(), "arena:kim", {}});
  (void)portal.join_project("c-kim", "arena", {{dom::Realm::customer, "c-kim"}, "arena:join", {}});
  auto ticket = portal.open_ticket("arena", {0, "Lag in the arena", "Since the update.", "m-1"},
                                   {{dom::Realm::customer, "c-kim"}, "arena:t1", {}});
  bool closed = false;
  if (ticket) {
    const auto number = ticket->state->number;
    (void)portal.execute("arena", number, dom::ticket::ScheduleClosure{portal.now() + dom::kSecond},
                         {{dom::Realm::staff, "s-ref"}, "arena:close", {}});
    for (int i = 0; i < 100 && !closed; ++i) {  // at most 10 s
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto t = portal.ticket("arena", number);
      closed = t && (*t)->status == dom::Status::closed;
    }
  }
  std::printf("a closure scheduled 1 s ahead -> %s\n", closed ? "closed by the scheduler" : "open");

  scheduler.reset();  // before the log it follows
  server.stop();
  server.wait();
  log.reset();
  if (argc <= 1) std::filesystem::remove_all(dir);
  return own.result_int() == 200 && api.result_int() == 200 && anonymous.result_int() == 401 &&
                 closed
             ? 0
             : 1;
}
