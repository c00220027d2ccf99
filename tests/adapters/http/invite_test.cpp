// GET /api/v1/invites/{token}: an invite link's basic information, without signing in.
#include <doctest/doctest.h>

#include <portico/http/app.hpp>
#include <portico/http/server.hpp>
#include <portico/http/tokens.hpp>
#include <set>

#include "../../projections/views_fixtures.hpp"
#include "../../support/http_client.hpp"

using namespace portico::test;
namespace hc = portico::test::http_client;
namespace phttp = portico::http;
namespace dt = portico::domain::ticket;
namespace dom = portico::domain;

namespace {

struct Served {
  ViewsDesk desk;
  phttp::App app{*desk.log, *desk.portal, desk.views};
  std::unique_ptr<phttp::Server> server;

  Served() {
    phttp::ServerOptions o;
    o.port = 0;
    o.io_threads = 1;
    o.workers = 4;
    server = std::make_unique<phttp::Server>(
        [this](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); }, o);
    REQUIRE(server->start());
  }
  unsigned short port() const { return server->port(); }

  // Ann's ticket with an invite link; the token, as the creator would hand it out.
  std::string invite(std::uint64_t n, const std::string& id) {
    const std::string token = phttp::new_token();
    desk.run(n, dt::CreateInvite{id, phttp::token_hash(token)}, Desk::as_customer("c-ann"));
    return token;
  }
};

}  // namespace

TEST_CASE("tokens are 256 random bits and only their hash is kept") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = phttp::new_token();
    CHECK(t.size() == 43);
    CHECK(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    CHECK(seen.insert(t).second);
  }
  CHECK(phttp::token_hash("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("an invite link tells what it is for without signing in") {
  Served s;
  const auto n = s.desk.open("c-ann", "Printer <script>alert(1)</script>");
  const std::string token = s.invite(n, "inv-1");
  auto r = hc::get(s.port(), "/api/v1/invites/" + token);
  REQUIRE(r.result_int() == 200);
  const auto body = hc::json(r);
  CHECK(body.at("project").at("slug") == "acme");
  CHECK(body.at("project").at("name") == "Acme Support");
  CHECK(body.at("ticket").at("subject") == "Printer <script>alert(1)</script>");  // data, as JSON
  CHECK(body.at("invited_by").at("display_name") == "ann name");
  CHECK(body.as_object().size() == 3);  // nothing else about the ticket
  CHECK(r[boost::beast::http::field::content_type] == "application/json; charset=utf-8");
}

TEST_CASE("an unknown invite is 404 and a revoked or dead one is 410") {
  Served s;
  const auto n = s.desk.open("c-ann");
  CHECK(hc::get(s.port(), "/api/v1/invites/" + phttp::new_token()).result_int() == 404);
  CHECK(hc::get(s.port(), "/api/v1/invites/" + std::string(300, 'a')).result_int() == 404);
  CHECK(hc::get(s.port(), "/api/v1/invites/..%2F..%2Fetc").result_int() == 404);
  const std::string revoked = s.invite(n, "inv-r");
  s.desk.run(n, dt::RevokeInvite{"inv-r"}, Desk::as_customer("c-ann"));
  auto r = hc::get(s.port(), "/api/v1/invites/" + revoked);
  CHECK(r.result_int() == 410);
  CHECK(hc::error_code(r) == "invite_inactive");
  const std::string live = s.invite(n, "inv-l");
  CHECK(hc::get(s.port(), "/api/v1/invites/" + live).result_int() == 200);
  // Resolving the ticket kills every link for good.
  s.desk.run(n, dt::SetStatus{dom::Status::resolved}, Desk::as_staff("s-agent"));
  CHECK(hc::get(s.port(), "/api/v1/invites/" + live).result_int() == 410);
  s.desk.run(n, dt::SetStatus{dom::Status::open}, Desk::as_staff("s-agent"));
  CHECK(hc::get(s.port(), "/api/v1/invites/" + live).result_int() == 410);
}
