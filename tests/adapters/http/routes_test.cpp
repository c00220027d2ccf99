// Every route of API.md beyond signing in, over real HTTP: projects and membership, the
// customer's tickets (lists, overview, opening, replies, edits, reactions, favorites, closure,
// surveys, invites, participants, purchases), surveys by e-mailed token, the bell, the staff
// routes, and Idempotency-Key (also across a restart). Each route's happy path and each error
// code the contract lists for it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <portico/encoding.hpp>
#include <portico/http/tokens.hpp>
#include <portico/service/tokens.hpp>
#include <set>
#include <tuple>

#include "api_fixture.hpp"

using namespace portico::test;

namespace {

using Session = Api::Session;
namespace json = boost::json;

std::string js(const json::object& o) { return json::serialize(o); }

// A JSON string as a std::string ("<not a string>" otherwise), to compare with one.
std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : "<not a string>";
}

// The `field` of a 400 answer ("" when there is none).
std::string field_of(const hc::Response& r) {
  auto v = json::parse(r.body());
  const auto* e = v.as_object().if_contains("error");
  if (e == nullptr || !e->as_object().contains("field")) return {};
  return std::string(e->at("field").as_string());
}

// Percent-encodes everything but unreserved characters (for cursors and emoji in URLs).
std::string enc(std::string_view text) { return portico::percent_encoded(text); }

std::string tickets(const std::string& project = "acme") {
  return "/api/v1/projects/" + project + "/tickets";
}
std::string ticket(std::uint64_t n, const std::string& rest = "") {
  return tickets() + "/" + std::to_string(n) + rest;
}
std::string staff_ticket(std::uint64_t n, const std::string& rest = "",
                         const std::string& project = "acme") {
  return "/api/v1/staff/projects/" + project + "/tickets/" + std::to_string(n) + rest;
}

// The answer's JSON, after checking its status.
json::value ok(const hc::Response& r, unsigned status = 200) {
  REQUIRE_MESSAGE(r.result_int() == status, r.body());
  return hc::json(r);
}

// Ticket n as `who` sees it.
json::value read(Api& api, const Session& who, std::uint64_t n) {
  return ok(api.call(verb::get, ticket(n), who));
}
json::value staff_read(Api& api, const Session& staff, std::uint64_t n) {
  return ok(api.call(verb::get, staff_ticket(n), staff));
}

// The numbers of a list answer, in order.
std::vector<std::uint64_t> numbers(const json::value& page) {
  std::vector<std::uint64_t> out;
  for (const auto& item : page.at("items").as_array())
    out.push_back(item.at("number").to_number<std::uint64_t>());
  return out;
}
std::vector<std::uint64_t> list(Api& api, const Session& who, const std::string& query = "") {
  return numbers(ok(api.call(verb::get, tickets() + query, who)));
}

std::string status_of(Api& api, const Session& who, std::uint64_t n) {
  return std::string(read(api, who, n).at("status").as_string());
}

void set_status(Api& api, const Session& staff, std::uint64_t n, const std::string& status) {
  ok(api.call(verb::post, staff_ticket(n, "/status"), staff, js({{"status", status}})));
}

// An invite link to ticket n made by `by`; its token.
std::string invite(Api& api, const Session& by, std::uint64_t n) {
  auto v = ok(api.call(verb::post, ticket(n, "/invites"), by), 201);
  return std::string(v.at("token").as_string());
}
void join(Api& api, const Session& who, const std::string& token) {
  ok(api.call(verb::post, "/api/v1/invites/" + token + "/join", who));
}

// A message posted by `who` on ticket n; its id.
std::string post(Api& api, const Session& who, std::uint64_t n, const std::string& body) {
  auto v = ok(api.call(verb::post, ticket(n, "/messages"), who, js({{"body", body}})), 201);
  return std::string(v.at("id").as_string());
}

const json::value* message(const json::value& t, const std::string& id) {
  for (const auto& m : t.at("messages").as_array()) {
    if (m.at("id").as_string() == id) return &m;
  }
  return nullptr;
}

void expect_error(const hc::Response& r, unsigned status, const std::string& code,
                  const std::string& field = "") {
  CHECK_MESSAGE(r.result_int() == status, r.body());
  CHECK(code_of(r) == code);
  if (!field.empty()) CHECK(field_of(r) == field);
}

void configure(Api& api, dom::CustomerReplyPolicy reply, dom::ClosedTicketsPolicy closed) {
  auto settings = Desk::default_settings();
  settings.policies.customer_reply = reply;
  settings.policies.closed_tickets = closed;
  REQUIRE(api.desk.portal->configure_project("acme", settings, Desk::system()));
}

}  // namespace

// ---- Projects and membership ----

TEST_CASE("project: public settings without signing in and 404 for an unknown one") {
  Api api;
  auto v = ok(api.call(verb::get, "/api/v1/projects/acme"));
  CHECK(v.at("slug") == "acme");
  CHECK(v.at("name") == "Acme Support");
  CHECK(v.at("theme").as_object().contains("logo_url"));
  CHECK(v.at("theme").as_object().contains("primary_color"));
  CHECK(v.at("theme").as_object().contains("accent_color"));
  const auto& sign_in = v.at("sign_in").as_array();
  CHECK(std::find(sign_in.begin(), sign_in.end(), json::value("magic_link")) != sign_in.end());
  CHECK(v.at("policies").at("customer_reply") == "keep_status");
  CHECK(v.at("policies").at("closed_tickets") == "closed_is_final");
  CHECK(v.as_object().contains("working_hours"));
  CHECK(v.at("policies").at("surveys") == true);
  CHECK(v.at("policies").at("survey_options").is_array());

  configure(api, dom::CustomerReplyPolicy::reopen, dom::ClosedTicketsPolicy::reply_reopens);
  auto changed = ok(api.call(verb::get, "/api/v1/projects/acme"));
  CHECK(changed.at("policies").at("customer_reply") == "reopen");
  CHECK(changed.at("policies").at("closed_tickets") == "reply_reopens");

  expect_error(api.call(verb::get, "/api/v1/projects/nope"), 404, "not_found");
}

TEST_CASE("membership: leaving hides the tickets and signing in again brings them back") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  CHECK(ann.id == "c-ann");
  const auto n = api.open(ann, "Printer");
  REQUIRE(list(api, ann) == std::vector<std::uint64_t>{n});

  auto left = api.call(verb::delete_, "/api/v1/projects/acme/membership", ann);
  CHECK(left.result_int() == 204);
  CHECK(list(api, ann).empty());
  CHECK(ok(api.call(verb::get, tickets() + "/overview", ann)).at("recent").as_array().empty());
  expect_error(api.call(verb::get, ticket(n), ann), 404, "not_found");
  auto me = ok(api.call(verb::get, "/api/v1/me", ann));
  CHECK(me.at("projects").as_array().empty());

  auto again = api.customer("ann@globex.test");
  CHECK(again.id == ann.id);
  CHECK(list(api, again) == std::vector<std::uint64_t>{n});
  CHECK(read(api, again, n).at("subject") == "Printer");

  expect_error(api.call(verb::delete_, "/api/v1/projects/nope/membership", again), 404,
               "not_found");
  expect_error(api.call(verb::delete_, "/api/v1/projects/acme/membership"), 401, "unauthenticated");
}

// ---- Lists ----

TEST_CASE("customer ticket list: scope and status and q filters with limit bounds") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto cat = api.customer("cat@initech.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto a1 = api.open(ann, "Printer jam");
  const auto a2 = api.open(ann, "Billing question");
  const auto a3 = api.open(ann, "printer smoke");
  const auto b1 = api.open(bob, "Bob asks");
  join(api, ann, invite(api, bob, b1));
  set_status(api, agnes, a2, "in_progress");

  // Newest activity first: a2 moved last, then ann joined b1 (joining is activity).
  const auto all = list(api, ann);
  CHECK(all.size() == 4);
  CHECK(std::set<std::uint64_t>(all.begin(), all.end()) == std::set<std::uint64_t>{a1, a2, a3, b1});
  CHECK(all.front() == a2);
  CHECK(list(api, ann, "?scope=mine") == std::vector<std::uint64_t>{a2, a3, a1});
  CHECK(list(api, ann, "?scope=participating") == std::vector<std::uint64_t>{b1});
  CHECK(list(api, ann, "?scope=organization").empty());  // no organisation visibility
  CHECK(list(api, bob) == std::vector<std::uint64_t>{b1});
  CHECK(list(api, cat).empty());
  expect_error(api.call(verb::get, tickets() + "?scope=everyone", ann), 400, "invalid_request",
               "scope");

  // The summary's shape and the caller's role.
  auto page = ok(api.call(verb::get, tickets(), ann));
  CHECK(page.at("next_cursor").is_null());
  for (const auto& s : page.at("items").as_array()) {
    const auto& o = s.as_object();
    for (const char* k : {"number", "subject", "status", "priority", "team", "created_at",
                          "updated_at", "favorite", "role"}) {
      CHECK_MESSAGE(o.contains(k), k);
    }
    CHECK(s.at("role") ==
          (s.at("number").to_number<std::uint64_t>() == b1 ? "participant" : "creator"));
  }

  CHECK(list(api, ann, "?status=in_progress") == std::vector<std::uint64_t>{a2});
  CHECK(list(api, ann, "?status=open").size() == 3);
  CHECK(list(api, ann, "?status=open,in_progress").size() == 4);
  CHECK(list(api, ann, "?status=closed").empty());
  expect_error(api.call(verb::get, tickets() + "?status=bogus", ann), 400, "invalid_request",
               "status");
  expect_error(api.call(verb::get, tickets() + "?status=open,nope", ann), 400, "invalid_request",
               "status");

  const auto printers = list(api, ann, "?q=printer");
  CHECK(std::set<std::uint64_t>(printers.begin(), printers.end()) ==
        std::set<std::uint64_t>{a1, a3});
  CHECK(list(api, ann, "?q=" + enc("Bob asks")) == std::vector<std::uint64_t>{b1});
  CHECK(list(api, bob, "?q=printer").empty());  // only what the caller can read
  CHECK(list(api, ann, "?q=nothing-like-this").empty());

  for (const char* bad : {"0", "101", "-1", "abc", ""}) {
    auto r = api.call(verb::get, tickets() + "?limit=" + bad, ann);
    CAPTURE(bad);
    expect_error(r, 400, "invalid_request", "limit");
  }
  CHECK(list(api, ann, "?limit=1").size() == 1);
  CHECK(list(api, ann, "?limit=100").size() == 4);

  expect_error(api.call(verb::get, tickets("nope"), ann), 404, "not_found");
  expect_error(api.call(verb::get, tickets()), 401, "unauthenticated");
}

TEST_CASE("customer ticket list: organization scope with organisation visibility") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto cat = api.customer("cat@initech.test");
  const auto n = api.open(ann, "Globex-wide");
  CHECK(list(api, bob, "?scope=organization").empty());
  expect_error(api.call(verb::get, ticket(n), bob), 404, "not_found");

  auto settings = Desk::default_settings();
  settings.policies.organization_visibility = true;
  REQUIRE(api.desk.portal->configure_project("acme", settings, Desk::system()));
  auto page = ok(api.call(verb::get, tickets() + "?scope=organization", bob));
  CHECK(numbers(page) == std::vector<std::uint64_t>{n});
  CHECK(page.at("items").at(0).at("role") == "organization");
  CHECK(list(api, bob) == std::vector<std::uint64_t>{n});
  CHECK(list(api, bob, "?scope=mine").empty());
  CHECK(read(api, bob, n).at("role") == "organization");
  CHECK(list(api, cat, "?scope=organization").empty());
  expect_error(api.call(verb::get, ticket(n), cat), 404, "not_found");
}

TEST_CASE("customer ticket list: a cursor walks every page once") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  std::vector<std::uint64_t> opened;
  for (int i = 0; i < 5; ++i) opened.push_back(api.open(ann, "Ticket " + std::to_string(i)));

  std::vector<std::uint64_t> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = ok(api.call(
        verb::get, tickets() + "?limit=2" + (cursor.empty() ? "" : "&cursor=" + enc(cursor)), ann));
    const auto got = numbers(page);
    CHECK(got.size() <= 2);
    seen.insert(seen.end(), got.begin(), got.end());
    cursor =
        page.at("next_cursor").is_null() ? "" : std::string(page.at("next_cursor").as_string());
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 3);
  // Newest first, each once.
  CHECK(seen == std::vector<std::uint64_t>(opened.rbegin(), opened.rend()));
  expect_error(api.call(verb::get, tickets() + "?cursor=not-a-cursor", ann), 400, "invalid_request",
               "cursor");
}

TEST_CASE("overview: active count by_status and recent summaries") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n1 = api.open(ann, "One");
  const auto n2 = api.open(ann, "Two");
  const auto n3 = api.open(ann, "Three");
  set_status(api, agnes, n2, "resolved");
  set_status(api, agnes, n3, "awaiting_customer");

  auto o = ok(api.call(verb::get, tickets() + "/overview", ann));
  CHECK(o.at("active") == 2);
  CHECK(o.at("by_status").at("open") == 1);
  CHECK(o.at("by_status").at("awaiting_customer") == 1);
  CHECK(o.at("by_status").at("resolved") == 1);
  CHECK(o.at("by_status").at("closed") == 0);
  CHECK(o.at("by_status").as_object().size() == 9);
  const auto recent = numbers(json::value{{"items", o.at("recent")}});
  CHECK(recent == std::vector<std::uint64_t>{n3, n2, n1});
  CHECK(o.at("recent").at(0).at("role") == "creator");

  auto bob = api.customer("bob@globex.test");
  auto none = ok(api.call(verb::get, tickets() + "/overview", bob));
  CHECK(none.at("active") == 0);
  CHECK(none.at("recent").as_array().empty());
  expect_error(api.call(verb::get, tickets("nope") + "/overview", ann), 404, "not_found");
}

// ---- Opening and reading ----

TEST_CASE("opening a ticket answers 201 with the whole ticket and enforces the length limits") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto r = api.call(verb::post, tickets(), ann,
                    js({{"subject", "  Printer on fire  "}, {"message", "It is smoking"}}));
  auto t = ok(r, 201);
  const auto n = t.at("number").to_number<std::uint64_t>();
  CHECK(n >= 1);
  CHECK(t.at("subject") == "Printer on fire");  // stored without surrounding space
  CHECK(t.at("status") == "open");
  CHECK(t.at("priority") == "normal");
  CHECK(t.at("team").is_null());
  CHECK(t.at("created_at").as_string().ends_with("Z"));
  CHECK(t.at("updated_at").as_string().ends_with("Z"));
  CHECK(t.at("favorite") == false);
  CHECK(t.at("role") == "creator");
  CHECK(str(t.at("creator").at("id")) == ann.id);
  CHECK(t.at("creator").at("display_name") == "ann name");
  CHECK(t.at("participants").as_array().empty());
  REQUIRE(t.at("messages").as_array().size() == 1);
  const auto& m = t.at("messages").at(0);
  CHECK(m.at("body") == "It is smoking");
  CHECK(str(m.at("author").at("id")) == ann.id);
  CHECK(m.at("author").at("realm") == "customer");
  CHECK(m.at("internal") == false);
  CHECK(m.at("deleted") == false);
  CHECK(t.at("closure").is_null());
  CHECK(t.at("survey_pending") == false);
  CHECK(read(api, ann, n) == t);

  auto open = [&](const std::string& subject, const std::string& message) {
    return api.call(verb::post, tickets(), ann, js({{"subject", subject}, {"message", message}}));
  };
  expect_error(open("", "body"), 400, "invalid_request", "subject");
  expect_error(open("   ", "body"), 400, "invalid_request", "subject");
  expect_error(open(std::string(201, 's'), "body"), 400, "invalid_request", "subject");
  CHECK(open(std::string(200, 's'), "body").result_int() == 201);
  std::string accented;
  for (int i = 0; i < 200; ++i) accented += "\xC3\xA9";  // 200 characters, 400 bytes
  CHECK(open(accented, "body").result_int() == 201);
  expect_error(open("Subject", ""), 400, "invalid_request", "message");
  expect_error(open("Subject", std::string(10'001, 'm')), 400, "invalid_request", "message");
  CHECK(open("Subject", std::string(10'000, 'm')).result_int() == 201);
  expect_error(api.call(verb::post, tickets(), ann, js({{"message", "no subject"}})), 400,
               "invalid_request", "subject");
  expect_error(api.call(verb::post, tickets(), ann, "not json"), 400, "invalid_request", "body");
  expect_error(api.call(verb::post, tickets("nope"), ann, js({{"subject", "s"}, {"message", "m"}})),
               404, "not_found");
  expect_error(api.call(verb::post, tickets(), js({{"subject", "s"}, {"message", "m"}})), 401,
               "unauthenticated");
}

TEST_CASE("reading a ticket: 404 for anyone who may not see it and for what does not exist") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto cat = api.customer("cat@initech.test");
  const auto n = api.open(ann);
  CHECK(read(api, ann, n).at("number") == n);
  expect_error(api.call(verb::get, ticket(n), cat), 404, "not_found");
  expect_error(api.call(verb::get, ticket(n + 1), ann), 404, "not_found");
  expect_error(api.call(verb::get, tickets() + "/abc", ann), 404, "not_found");
  expect_error(api.call(verb::get, "/api/v1/projects/other/tickets/" + std::to_string(n), ann), 404,
               "not_found");
  expect_error(api.call(verb::get, ticket(n)), 401, "unauthenticated");
}

// ---- Messages ----

TEST_CASE("replies: 201 message and ticket_closed under closed_is_final") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto cat = api.customer("cat@initech.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  auto m =
      ok(api.call(verb::post, ticket(n, "/messages"), ann, js({{"body", "More details"}})), 201);
  CHECK(!m.at("id").as_string().empty());
  CHECK(str(m.at("author").at("id")) == ann.id);
  CHECK(m.at("author").at("display_name") == "ann name");
  CHECK(m.at("author").at("realm") == "customer");
  CHECK(m.at("body") == "More details");
  CHECK(m.at("created_at").as_string().ends_with("Z"));
  CHECK(m.at("edited_at").is_null());
  CHECK(m.at("deleted") == false);
  CHECK(m.at("internal") == false);
  CHECK(m.at("reactions").as_object().empty());
  CHECK(!m.as_object().contains("history"));
  const auto t = read(api, ann, n);
  CHECK(t.at("messages").as_array().size() == 2);
  CHECK(message(t, std::string(m.at("id").as_string())) != nullptr);

  expect_error(api.call(verb::post, ticket(n, "/messages"), ann, js({{"body", ""}})), 400,
               "invalid_request", "body");
  expect_error(
      api.call(verb::post, ticket(n, "/messages"), ann, js({{"body", std::string(10'001, 'x')}})),
      400, "invalid_request", "body");
  expect_error(api.call(verb::post, ticket(n, "/messages"), cat, js({{"body", "me too"}})), 404,
               "not_found");

  // keep_status: a reply on resolved leaves it resolved.
  set_status(api, agnes, n, "resolved");
  post(api, ann, n, "Still here");
  CHECK(status_of(api, ann, n) == "resolved");

  set_status(api, agnes, n, "closed");
  expect_error(api.call(verb::post, ticket(n, "/messages"), ann, js({{"body", "Hello?"}})), 409,
               "ticket_closed");
  CHECK(read(api, ann, n).at("messages").as_array().size() == 3);
  CHECK(status_of(api, ann, n) == "closed");
}

TEST_CASE("replies: reply_reopens reopens a closed ticket and reopen reopens a resolved one") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  configure(api, dom::CustomerReplyPolicy::keep_status, dom::ClosedTicketsPolicy::reply_reopens);
  set_status(api, agnes, n, "closed");
  auto m = api.call(verb::post, ticket(n, "/messages"), ann, js({{"body", "It is back"}}));
  CHECK(m.result_int() == 201);
  CHECK(status_of(api, ann, n) == "open");

  configure(api, dom::CustomerReplyPolicy::reopen, dom::ClosedTicketsPolicy::closed_is_final);
  set_status(api, agnes, n, "resolved");
  post(api, ann, n, "Not fixed");
  CHECK(status_of(api, ann, n) == "open");
  // closed_is_final alone decides a reply on closed, whatever customer_reply says.
  set_status(api, agnes, n, "closed");
  expect_error(api.call(verb::post, ticket(n, "/messages"), ann, js({{"body", "x"}})), 409,
               "ticket_closed");
}

TEST_CASE("editing and deleting own messages: not_author and ticket_closed and deleted stays") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  join(api, bob, invite(api, ann, n));
  const std::string first(read(api, ann, n).at("messages").at(0).at("id").as_string());
  const std::string bobs = post(api, bob, n, "Bob's words");
  const std::string second = post(api, ann, n, "Ann again");

  expect_error(api.call(verb::patch, ticket(n, "/messages/" + bobs), ann, js({{"body", "x"}})), 403,
               "not_author");
  expect_error(api.call(verb::delete_, ticket(n, "/messages/" + bobs), ann), 403, "not_author");
  expect_error(api.call(verb::patch, ticket(n, "/messages/no-such"), ann, js({{"body", "x"}})), 404,
               "not_found");

  auto edited = ok(api.call(verb::patch, ticket(n, "/messages/" + first), ann,
                            js({{"body", "It broke badly"}})));
  CHECK(str(edited.at("id")) == first);
  CHECK(edited.at("body") == "It broke badly");
  CHECK(edited.at("edited_at").is_string());
  CHECK(!edited.as_object().contains("history"));
  expect_error(api.call(verb::patch, ticket(n, "/messages/" + first), ann, js({{"body", ""}})), 400,
               "invalid_request", "body");
  // Staff see the edit history, customers never.
  const auto staff_ticket_view = staff_read(api, agnes, n);
  const auto* staff_view = message(staff_ticket_view, first);
  REQUIRE(staff_view != nullptr);
  CHECK(staff_view->at("history") == json::array{"It broke"});
  const auto ann_view = read(api, ann, n);
  REQUIRE(message(ann_view, first) != nullptr);
  CHECK(!message(ann_view, first)->as_object().contains("history"));

  CHECK(api.call(verb::delete_, ticket(n, "/messages/" + first), ann).result_int() == 204);
  const auto after = read(api, bob, n);
  const auto* gone = message(after, first);
  REQUIRE(gone != nullptr);
  CHECK(gone->at("deleted") == true);
  CHECK(gone->at("body").is_null());
  CHECK(after.at("messages").as_array().size() == 3);
  expect_error(api.call(verb::patch, ticket(n, "/messages/" + first), ann, js({{"body", "back"}})),
               404, "not_found");

  set_status(api, agnes, n, "closed");
  expect_error(api.call(verb::patch, ticket(n, "/messages/" + second), ann, js({{"body", "x"}})),
               409, "ticket_closed");
  expect_error(api.call(verb::delete_, ticket(n, "/messages/" + second), ann), 409,
               "ticket_closed");
  CHECK(message(read(api, ann, n), second)->at("body") == "Ann again");
}

TEST_CASE("reactions: a URL-encoded emoji with count and mine per viewer") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto cat = api.customer("cat@initech.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  join(api, bob, invite(api, ann, n));
  const std::string id(read(api, ann, n).at("messages").at(0).at("id").as_string());
  const std::string thumbs = "\xF0\x9F\x91\x8D";  // U+1F44D
  const std::string path = ticket(n, "/messages/" + id + "/reactions/" + enc(thumbs));

  CHECK(api.call(verb::put, path, ann).result_int() == 204);
  CHECK(api.call(verb::put, path, ann).result_int() == 204);  // one per person per message
  CHECK(api.call(verb::put, path, bob).result_int() == 204);
  auto seen = [&](const Session& who) { return message(read(api, who, n), id)->at("reactions"); };
  CHECK(seen(ann) == json::value{{thumbs, {{"count", 2}, {"mine", true}}}});
  CHECK(api.call(verb::delete_, path, ann).result_int() == 204);
  CHECK(seen(ann) == json::value{{thumbs, {{"count", 1}, {"mine", false}}}});
  CHECK(seen(bob) == json::value{{thumbs, {{"count", 1}, {"mine", true}}}});
  CHECK(api.call(verb::delete_, path, bob).result_int() == 204);
  CHECK(seen(ann).as_object().empty());

  expect_error(api.call(verb::put, path, cat), 404, "not_found");
  expect_error(api.call(verb::put, ticket(n, "/messages/no-such/reactions/" + enc(thumbs)), ann),
               404, "not_found");
  set_status(api, agnes, n, "closed");
  expect_error(api.call(verb::put, path, ann), 409, "ticket_closed");
  expect_error(api.call(verb::delete_, path, ann), 409, "ticket_closed");
}

// ---- Favorites ----

TEST_CASE("favorites: mark list and unmark while resolved and closed are refused") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n1 = api.open(ann, "One");
  const auto n2 = api.open(ann, "Two");
  const std::string favorites = "/api/v1/projects/acme/favorites";

  CHECK(api.call(verb::put, ticket(n1, "/favorite"), ann).result_int() == 204);
  auto page = ok(api.call(verb::get, favorites, ann));
  CHECK(numbers(page) == std::vector<std::uint64_t>{n1});
  CHECK(page.at("items").at(0).at("favorite") == true);
  CHECK(page.at("next_cursor").is_null());
  CHECK(read(api, ann, n1).at("favorite") == true);
  CHECK(read(api, ann, n2).at("favorite") == false);
  CHECK(api.call(verb::delete_, ticket(n1, "/favorite"), ann).result_int() == 204);
  CHECK(numbers(ok(api.call(verb::get, favorites, ann))).empty());
  CHECK(read(api, ann, n1).at("favorite") == false);

  set_status(api, agnes, n2, "resolved");
  expect_error(api.call(verb::put, ticket(n2, "/favorite"), ann), 409, "ticket_not_active");
  // A closed ticket leaves every favorite list and cannot be marked again.
  CHECK(api.call(verb::put, ticket(n1, "/favorite"), ann).result_int() == 204);
  set_status(api, agnes, n1, "closed");
  CHECK(numbers(ok(api.call(verb::get, favorites, ann))).empty());
  expect_error(api.call(verb::put, ticket(n1, "/favorite"), ann), 409, "ticket_not_active");

  auto cat = api.customer("cat@initech.test");
  expect_error(api.call(verb::put, ticket(n1, "/favorite"), cat), 404, "not_found");
  expect_error(api.call(verb::get, favorites + "?limit=0", ann), 400, "invalid_request", "limit");
}

// ---- Closure ----

TEST_CASE("closure request: pending_closure with a survey and refused once closing") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  join(api, bob, invite(api, ann, n));

  auto t = ok(api.call(verb::post, ticket(n, "/closure-request"), ann));
  CHECK(t.at("status") == "pending_closure");
  CHECK(t.at("survey_pending") == true);
  CHECK(str(t.at("closure").at("requested_by")) == ann.id);
  CHECK(read(api, bob, n).at("survey_pending") == false);  // the survey is the creator's
  expect_error(api.call(verb::post, ticket(n, "/closure-request"), ann), 409, "invalid_transition");
  expect_error(api.call(verb::post, ticket(n, "/closure-request"), bob), 409, "invalid_transition");

  // A participant may ask too.
  const auto n2 = api.open(ann);
  join(api, bob, invite(api, ann, n2));
  CHECK(ok(api.call(verb::post, ticket(n2, "/closure-request"), bob)).at("status") ==
        "pending_closure");

  const auto scheduled = api.open(ann);
  ok(api.call(verb::post, staff_ticket(scheduled, "/scheduled-closure"), agnes,
              js({{"at", "2099-01-01T00:00:00Z"}})));
  expect_error(api.call(verb::post, ticket(scheduled, "/closure-request"), ann), 409,
               "invalid_transition");
  const auto closed = api.open(ann);
  set_status(api, agnes, closed, "closed");
  expect_error(api.call(verb::post, ticket(closed, "/closure-request"), ann), 409,
               "invalid_transition");
  // From resolved it is allowed.
  const auto resolved = api.open(ann);
  set_status(api, agnes, resolved, "resolved");
  CHECK(ok(api.call(verb::post, ticket(resolved, "/closure-request"), ann)).at("status") ==
        "pending_closure");

  auto cat = api.customer("cat@initech.test");
  expect_error(api.call(verb::post, ticket(resolved, "/closure-request"), cat), 404, "not_found");
}

TEST_CASE("close now: only from resolved pending_closure and closure_scheduled") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  auto close = [&](std::uint64_t n) { return api.call(verb::post, ticket(n, "/close"), ann); };

  const auto open = api.open(ann);
  expect_error(close(open), 409, "invalid_transition");
  const auto working = api.open(ann);
  set_status(api, agnes, working, "in_progress");
  expect_error(close(working), 409, "invalid_transition");

  const auto resolved = api.open(ann);
  set_status(api, agnes, resolved, "resolved");
  auto t = ok(close(resolved));
  CHECK(t.at("status") == "closed");
  CHECK(t.at("number") == resolved);
  expect_error(close(resolved), 409, "invalid_transition");  // already closed

  const auto pending = api.open(ann);
  ok(api.call(verb::post, ticket(pending, "/closure-request"), ann));
  CHECK(ok(close(pending)).at("status") == "closed");

  const auto scheduled = api.open(ann);
  ok(api.call(verb::post, staff_ticket(scheduled, "/scheduled-closure"), agnes,
              js({{"at", "2099-01-01T00:00:00Z"}})));
  CHECK(ok(close(scheduled)).at("status") == "closed");
}

// ---- Surveys ----

TEST_CASE("survey in the portal: 201 for the creator and not_creator and no_survey_pending") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  join(api, bob, invite(api, ann, n));
  const std::string answer = js({{"rating", 5}, {"option", "Good"}, {"comment", "Thanks"}});

  expect_error(api.call(verb::post, ticket(n, "/survey"), ann, answer), 409, "no_survey_pending");
  set_status(api, agnes, n, "resolved");
  CHECK(read(api, ann, n).at("survey_pending") == true);
  expect_error(api.call(verb::post, ticket(n, "/survey"), bob, answer), 403, "not_creator");
  expect_error(api.call(verb::post, ticket(n, "/survey"), ann, js({{"rating", 0}})), 400,
               "invalid_request", "rating");
  expect_error(api.call(verb::post, ticket(n, "/survey"), ann, js({{"rating", 6}})), 400,
               "invalid_request", "rating");
  expect_error(
      api.call(verb::post, ticket(n, "/survey"), ann, js({{"rating", 3}, {"option", "Meh"}})), 400,
      "invalid_request", "option");

  auto done = ok(api.call(verb::post, ticket(n, "/survey"), ann, answer), 201);
  CHECK(done.at("rating") == 5);
  CHECK(done.at("option") == "Good");
  CHECK(done.at("comment") == "Thanks");
  CHECK(read(api, ann, n).at("survey_pending") == false);
  expect_error(api.call(verb::post, ticket(n, "/survey"), ann, answer), 409, "no_survey_pending");
  const auto t = api.desk.ticket(n);
  REQUIRE(t.surveys.size() == 1);
  CHECK(t.surveys[0].rating == 5);
}

TEST_CASE("surveys by e-mailed token: read and answer without signing in") {
  Api api([](phttp::AppOptions& o) { o.secret = "survey-test-secret"; });
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann, "Slow printer");
  set_status(api, agnes, n, "resolved");
  auto state = api.desk.portal->ticket("acme", n);
  REQUIRE(state);
  REQUIRE(!(*state)->surveys.empty());
  const std::string survey_id = (*state)->surveys.back().id;
  const std::string token =
      portico::service::survey_token("survey-test-secret", {"acme", n, survey_id});
  const std::string path = "/api/v1/surveys/" + token;

  auto v = ok(api.call(verb::get, path));
  CHECK(v.at("project") == json::value{{"slug", "acme"}, {"name", "Acme Support"}});
  CHECK(v.at("ticket").at("subject") == "Slow printer");
  CHECK(v.at("options") == json::array{"Excellent", "Good", "Fair", "Poor"});

  // Unknown, forged, or naming a survey that does not exist.
  expect_error(api.call(verb::get, "/api/v1/surveys/garbage"), 404, "not_found");
  const std::string forged =
      portico::service::survey_token("another-secret", {"acme", n, survey_id});
  expect_error(api.call(verb::get, "/api/v1/surveys/" + forged), 404, "not_found");
  expect_error(api.call(verb::post, "/api/v1/surveys/" + forged, js({{"rating", 4}})), 404,
               "not_found");
  const std::string nobody =
      portico::service::survey_token("survey-test-secret", {"acme", n, "no-such-survey"});
  expect_error(api.call(verb::get, "/api/v1/surveys/" + nobody), 404, "not_found");

  expect_error(api.call(verb::post, path, js({{"rating", 9}})), 400, "invalid_request", "rating");
  auto answered = ok(api.call(verb::post, path, js({{"rating", 4}, {"comment", "Quick"}})), 201);
  CHECK(answered.at("rating") == 4);
  CHECK(answered.at("comment") == "Quick");
  CHECK(read(api, ann, n).at("survey_pending") == false);
  expect_error(api.call(verb::get, path), 410, "survey_inactive");
  expect_error(api.call(verb::post, path, js({{"rating", 1}})), 410, "survey_inactive");
  CHECK(api.desk.ticket(n).surveys.back().rating == 4);

  // Withdrawn: the ticket reopened before the survey was answered.
  const auto n2 = api.open(ann);
  set_status(api, agnes, n2, "resolved");
  const std::string withdrawn = portico::service::survey_token(
      "survey-test-secret", {"acme", n2, api.desk.ticket(n2).surveys.back().id});
  CHECK(api.call(verb::get, "/api/v1/surveys/" + withdrawn).result_int() == 200);
  set_status(api, agnes, n2, "open");
  expect_error(api.call(verb::get, "/api/v1/surveys/" + withdrawn), 410, "survey_inactive");

  // Expired: a week after it was offered the link answers 410, by the portal's clock.
  const auto n3 = api.open(ann);
  set_status(api, agnes, n3, "resolved");
  const std::string week_old =
      "/api/v1/surveys/" +
      portico::service::survey_token("survey-test-secret",
                                     {"acme", n3, api.desk.ticket(n3).surveys.back().id});
  const dom::TimeUs offered = api.desk.ticket(n3).surveys.back().offered_at;
  api.desk.now = offered + 7 * dom::kDay - dom::kSecond;
  api.desk.real_time = false;
  CHECK(api.call(verb::get, week_old).result_int() == 200);
  api.desk.now = offered + 7 * dom::kDay + dom::kSecond;
  expect_error(api.call(verb::get, week_old), 410, "survey_inactive");
  expect_error(api.call(verb::post, week_old, js({{"rating", 5}})), 410, "survey_inactive");
  CHECK(api.desk.ticket(n3).surveys.back().rating == 0);
  api.desk.real_time = true;
}

// ---- Invites and participants ----

TEST_CASE("invites: create look up join and revoke") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto cat = api.customer("cat@initech.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann, "Shared problem");

  auto made = ok(api.call(verb::post, ticket(n, "/invites"), ann), 201);
  const std::string id(made.at("id").as_string());
  const std::string token(made.at("token").as_string());
  CHECK(!id.empty());
  CHECK(token.size() == 43);
  CHECK(str(made.at("url")) == "http://portal.test/invite/" + token);

  auto info = ok(api.call(verb::get, "/api/v1/invites/" + token));
  CHECK(info.at("project") == json::value{{"slug", "acme"}, {"name", "Acme Support"}});
  CHECK(info.at("ticket") == json::value{{"subject", "Shared problem"}});
  CHECK(info.at("invited_by") == json::value{{"display_name", "ann name"}});
  expect_error(api.call(verb::get, "/api/v1/invites/" + phttp::new_token()), 404, "not_found");

  const std::string join_path = "/api/v1/invites/" + token + "/join";
  expect_error(api.call(verb::post, join_path), 401, "unauthenticated");
  auto joined = ok(api.call(verb::post, join_path, bob));
  CHECK(joined.at("project").at("slug") == "acme");
  CHECK(joined.at("ticket") == json::value{{"number", n}});
  CHECK(read(api, bob, n).at("role") == "participant");
  CHECK(read(api, ann, n).at("participants") ==
        json::array{json::object{{"id", bob.id}, {"display_name", "bob name"}}});
  expect_error(api.call(verb::post, "/api/v1/invites/" + phttp::new_token() + "/join", bob), 404,
               "not_found");

  // Only the creator revokes; someone who cannot read the ticket is told nothing.
  expect_error(api.call(verb::delete_, ticket(n, "/invites/" + id), bob), 403, "not_creator");
  expect_error(api.call(verb::delete_, ticket(n, "/invites/" + id), cat), 404, "not_found");
  CHECK(api.call(verb::get, "/api/v1/invites/" + token).result_int() == 200);
  CHECK(api.call(verb::delete_, ticket(n, "/invites/" + id), ann).result_int() == 204);
  expect_error(api.call(verb::get, "/api/v1/invites/" + token), 410, "invite_inactive");
  expect_error(api.call(verb::post, join_path, cat), 410, "invite_inactive");
  expect_error(api.call(verb::get, ticket(n), cat), 404, "not_found");
  expect_error(api.call(verb::delete_, ticket(n, "/invites/no-such"), ann), 404, "not_found");

  // A participant makes links too; none on a resolved ticket, and links made before stop working.
  auto bobs = ok(api.call(verb::post, ticket(n, "/invites"), bob), 201);
  const std::string bobs_token = str(bobs.at("token"));
  set_status(api, agnes, n, "resolved");
  expect_error(api.call(verb::post, ticket(n, "/invites"), ann), 409, "ticket_not_active");
  expect_error(api.call(verb::post, ticket(n, "/invites"), cat), 404, "not_found");
  expect_error(api.call(verb::post, "/api/v1/invites/" + bobs_token + "/join", cat), 410,
               "invite_inactive");
  expect_error(api.call(verb::get, ticket(n), cat), 404, "not_found");
}

TEST_CASE("invites: joining makes someone from another project a member of this one") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto dora = api.customer("dora@example.test", "other");
  const auto n = api.open(ann, "Shared");
  const std::string token = invite(api, ann, n);
  expect_error(api.call(verb::get, ticket(n), dora), 404, "not_found");
  auto joined = ok(api.call(verb::post, "/api/v1/invites/" + token + "/join", dora));
  CHECK(joined.at("project").at("slug") == "acme");
  CHECK(read(api, dora, n).at("role") == "participant");
  std::set<std::string> projects;
  const auto me = ok(api.call(verb::get, "/api/v1/me", dora));
  for (const auto& p : me.at("projects").as_array()) {
    projects.insert(str(p.at("slug")));
  }
  CHECK(projects == std::set<std::string>{"acme", "other"});
  CHECK(list(api, dora, "?scope=participating") == std::vector<std::uint64_t>{n});
}

TEST_CASE("participants: only the creator removes them and the creator cannot leave") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto cat = api.customer("cat@initech.test");
  const auto n = api.open(ann);
  const std::string token = invite(api, ann, n);
  join(api, bob, token);
  join(api, cat, token);

  expect_error(api.call(verb::delete_, ticket(n, "/participants/" + cat.id), bob), 403,
               "not_creator");
  CHECK(read(api, cat, n).at("role") == "participant");
  CHECK(api.call(verb::delete_, ticket(n, "/participants/" + cat.id), ann).result_int() == 204);
  expect_error(api.call(verb::get, ticket(n), cat), 404, "not_found");
  expect_error(api.call(verb::delete_, ticket(n, "/participants/" + cat.id), ann), 404,
               "not_found");

  expect_error(api.call(verb::post, ticket(n, "/leave"), ann), 409, "creator_cannot_leave");
  CHECK(api.call(verb::post, ticket(n, "/leave"), bob).result_int() == 204);
  expect_error(api.call(verb::get, ticket(n), bob), 404, "not_found");
  CHECK(read(api, ann, n).at("participants").as_array().empty());
  // Someone who left may come back through a link that still works.
  join(api, bob, token);
  CHECK(read(api, bob, n).at("role") == "participant");
}

TEST_CASE("purchases: an empty list without a store") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto v = ok(api.call(verb::get, "/api/v1/projects/acme/purchases", ann));
  CHECK(v == json::value{{"items", json::array{}}, {"next_cursor", nullptr}});
  expect_error(api.call(verb::get, "/api/v1/projects/nope/purchases", ann), 404, "not_found");
  expect_error(api.call(verb::get, "/api/v1/projects/acme/purchases"), 401, "unauthenticated");
}

// ---- The bell ----

TEST_CASE("notifications: mention staff_reply and survey with unread and read one and read all") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann, "Bell test");
  join(api, bob, invite(api, ann, n));
  post(api, bob, n, "Hey @ann have a look");
  post(api, ann, n, "Thanks @bob");  // Bob's own mention (one event may notify several people)
  ok(api.call(verb::post, staff_ticket(n, "/messages"), agnes,
              js({{"body", "Only for staff"}, {"internal", true}})),
     201);
  ok(api.call(verb::post, staff_ticket(n, "/messages"), agnes, js({{"body", "We are on it"}})),
     201);
  set_status(api, agnes, n, "resolved");

  auto bell = ok(api.call(verb::get, "/api/v1/notifications", ann));
  CHECK(bell.at("unread") == 3);
  CHECK(bell.at("next_cursor").is_null());
  const auto& items = bell.at("items").as_array();
  REQUIRE(items.size() == 3);
  std::map<std::string, json::value> by_kind;
  for (const auto& item : items) {
    CHECK(item.at("project") == "acme");
    CHECK(item.at("ticket") == n);
    CHECK(item.at("read") == false);
    CHECK(item.at("created_at").as_string().ends_with("Z"));
    CHECK(!item.at("id").as_string().empty());
    by_kind[std::string(item.at("kind").as_string())] = item;
  }
  REQUIRE(by_kind.size() == 3);
  CHECK(by_kind.at("mention").at("preview") == "Hey @ann have a look");
  CHECK(by_kind.at("staff_reply").at("preview") == "We are on it");  // not the internal note
  CHECK(by_kind.contains("survey"));
  CHECK(items.front().at("kind") == "survey");  // newest first

  const std::string mention(by_kind.at("mention").at("id").as_string());
  CHECK(api.call(verb::post, "/api/v1/notifications/" + mention + "/read", ann).result_int() ==
        204);
  auto unread = ok(api.call(verb::get, "/api/v1/notifications?unread=1", ann));
  CHECK(unread.at("unread") == 2);
  CHECK(unread.at("items").as_array().size() == 2);
  for (const auto& item : unread.at("items").as_array()) CHECK(item.at("kind") != "mention");

  expect_error(api.call(verb::post, "/api/v1/notifications/999999/read", ann), 404, "not_found");
  expect_error(api.call(verb::post, "/api/v1/notifications/abc/read", ann), 404, "not_found");
  // Bob's notifications are not Ann's to read.
  auto bobs = ok(api.call(verb::get, "/api/v1/notifications", bob));
  std::string bob_id;
  for (const auto& item : bobs.at("items").as_array()) {
    if (item.at("kind") == "mention") bob_id = std::string(item.at("id").as_string());
  }
  REQUIRE(!bob_id.empty());
  expect_error(api.call(verb::post, "/api/v1/notifications/" + bob_id + "/read", ann), 404,
               "not_found");
  CHECK(ok(api.call(verb::get, "/api/v1/notifications?unread=1", bob)).at("unread") ==
        bobs.at("unread"));

  CHECK(api.call(verb::post, "/api/v1/notifications/read-all", ann).result_int() == 204);
  auto none = ok(api.call(verb::get, "/api/v1/notifications?unread=1", ann));
  CHECK(none.at("unread") == 0);
  CHECK(none.at("items").as_array().empty());
  auto all = ok(api.call(verb::get, "/api/v1/notifications", ann));
  CHECK(all.at("items").as_array().size() == 3);
  for (const auto& item : all.at("items").as_array()) CHECK(item.at("read") == true);
  expect_error(api.call(verb::get, "/api/v1/notifications?unread=maybe", ann), 400,
               "invalid_request", "unread");
  expect_error(api.call(verb::get, "/api/v1/notifications"), 401, "unauthenticated");
}

// ---- Staff ----

TEST_CASE("staff queue: status team and priority filters and PATCH priority and team") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n1 = api.open(ann, "One");
  const auto n2 = api.open(ann, "Two");
  const auto n3 = api.open(ann, "Three");
  const std::string queue = "/api/v1/staff/projects/acme/tickets";

  auto patched = ok(api.call(verb::patch, staff_ticket(n1), agnes,
                             js({{"priority", "high"}, {"team", "billing"}})));
  CHECK(patched.at("priority") == "high");
  CHECK(patched.at("team") == "billing");
  CHECK(ok(api.call(verb::patch, staff_ticket(n3), agnes, js({{"team", "hardware"}})))
            .at("priority") == "normal");
  expect_error(api.call(verb::patch, staff_ticket(n1), agnes, js({{"priority", "extreme"}})), 400,
               "invalid_request", "priority");
  expect_error(api.call(verb::patch, staff_ticket(n1), agnes, "{}"), 400, "invalid_request");
  set_status(api, agnes, n2, "in_progress");

  auto set_of = [&](const std::string& query) {
    const auto got = numbers(ok(api.call(verb::get, queue + query, agnes)));
    return std::set<std::uint64_t>(got.begin(), got.end());
  };
  auto page = ok(api.call(verb::get, queue, agnes));
  CHECK(numbers(page).size() == 3);
  CHECK(page.at("items").at(0).at("number") == n2);  // newest activity first
  CHECK(set_of("?status=in_progress") == std::set<std::uint64_t>{n2});
  CHECK(set_of("?status=open") == std::set<std::uint64_t>{n1, n3});
  CHECK(set_of("?status=open,in_progress") == std::set<std::uint64_t>{n1, n2, n3});
  CHECK(set_of("?team=billing") == std::set<std::uint64_t>{n1});
  CHECK(set_of("?team=billing,hardware") == std::set<std::uint64_t>{n1, n3});
  CHECK(set_of("?priority=high") == std::set<std::uint64_t>{n1});
  CHECK(set_of("?priority=normal") == std::set<std::uint64_t>{n2, n3});
  CHECK(set_of("?status=open&priority=normal") == std::set<std::uint64_t>{n3});
  CHECK(set_of("?status=closed").empty());
  expect_error(api.call(verb::get, queue + "?status=bogus", agnes), 400, "invalid_request",
               "status");
  expect_error(api.call(verb::get, queue + "?limit=101", agnes), 400, "invalid_request", "limit");
  CHECK(numbers(ok(api.call(verb::get, queue + "?limit=1", agnes))).size() == 1);
  // A customer's token is worthless here.
  expect_error(api.call(verb::get, queue, ann), 401, "unauthenticated");
}

TEST_CASE("staff ticket: internal notes and edit history for staff and never for customers") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);

  auto note = ok(api.call(verb::post, staff_ticket(n, "/messages"), agnes,
                          js({{"body", "Customer seems confused"}, {"internal", true}})),
                 201);
  CHECK(note.at("internal") == true);
  CHECK(note.at("author").at("realm") == "staff");
  CHECK(str(note.at("author").at("id")) == agnes.id);
  CHECK(note.at("author").at("display_name") == "Agnes Agent");
  auto reply = ok(api.call(verb::post, staff_ticket(n, "/messages"), agnes,
                           js({{"body", "Try turning it off"}})),
                  201);
  CHECK(reply.at("internal") == false);
  CHECK(reply.at("body") == "Try turning it off");
  const std::string first(read(api, ann, n).at("messages").at(0).at("id").as_string());
  ok(api.call(verb::patch, ticket(n, "/messages/" + first), ann, js({{"body", "It broke twice"}})));

  auto staff_view = staff_read(api, agnes, n);
  CHECK(staff_view.at("messages").as_array().size() == 3);
  const auto* internal = message(staff_view, std::string(note.at("id").as_string()));
  REQUIRE(internal != nullptr);
  CHECK(internal->at("body") == "Customer seems confused");
  CHECK(message(staff_view, first)->at("history") == json::array{"It broke"});
  CHECK(message(staff_view, first)->at("body") == "It broke twice");

  auto customer_view = read(api, ann, n);
  CHECK(customer_view.at("messages").as_array().size() == 2);
  CHECK(message(customer_view, std::string(note.at("id").as_string())) == nullptr);
  for (const auto& m : customer_view.at("messages").as_array()) {
    CHECK(m.at("internal") == false);
    CHECK(!m.as_object().contains("history"));
  }
  // Nowhere in what the customer gets, not even in another field.
  CHECK(api.call(verb::get, ticket(n), ann).body().find("confused") == std::string::npos);
  // Internal notes cannot be reacted to by a customer, who cannot see them.
  expect_error(
      api.call(verb::put,
               ticket(n, "/messages/" + std::string(note.at("id").as_string()) + "/reactions/ok"),
               ann),
      404, "not_found");

  expect_error(api.call(verb::get, staff_ticket(n + 1), agnes), 404, "not_found");
  expect_error(api.call(verb::get, staff_ticket(n), ann), 401, "unauthenticated");
  expect_error(api.call(verb::post, staff_ticket(n, "/messages"), agnes, js({{"body", ""}})), 400,
               "invalid_request", "body");
}

TEST_CASE("staff edit delete and react to their own messages under /api/v1/staff and not_author") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  api.staff("sam@acme.test", "Sam Second", "acme");
  auto sam = api.staff_login("sam@acme.test");
  const auto n = api.open(ann);
  const std::string anns(read(api, ann, n).at("messages").at(0).at("id").as_string());
  auto posted = ok(
      api.call(verb::post, staff_ticket(n, "/messages"), agnes, js({{"body", "Try this"}})), 201);
  const std::string mine(posted.at("id").as_string());
  auto note = ok(api.call(verb::post, staff_ticket(n, "/messages"), agnes,
                          js({{"body", "Note to self"}, {"internal", true}})),
                 201);
  const std::string note_id(note.at("id").as_string());

  // Editing: the author only; the customer sees the new text, staff the history.
  auto edited = ok(api.call(verb::patch, staff_ticket(n, "/messages/" + mine), agnes,
                            js({{"body", "Try this instead"}})));
  CHECK(edited.at("body") == "Try this instead");
  CHECK(edited.at("edited_at").is_string());
  CHECK(edited.at("history") == json::array{"Try this"});
  CHECK(message(read(api, ann, n), mine)->at("body") == "Try this instead");
  expect_error(api.call(verb::patch, staff_ticket(n, "/messages/" + mine), sam,
                        js({{"body", "Sam's words"}})),
               403, "not_author");
  expect_error(api.call(verb::patch, staff_ticket(n, "/messages/" + anns), agnes,
                        js({{"body", "Customer's words"}})),
               403, "not_author");
  expect_error(
      api.call(verb::patch, staff_ticket(n, "/messages/" + mine), agnes, js({{"body", ""}})), 400,
      "invalid_request", "body");
  // A customer cannot use the staff route, nor staff of another project.
  expect_error(
      api.call(verb::patch, staff_ticket(n, "/messages/" + mine), ann, js({{"body", "x"}})), 401,
      "unauthenticated");

  // Reactions: staff react to any message they see, internal notes included; customers see the
  // count.
  const std::string thumbs = "\xF0\x9F\x91\x8D";
  const auto react = staff_ticket(n, "/messages/" + anns + "/reactions/" + enc(thumbs));
  CHECK(api.call(verb::put, react, agnes).result_int() == 204);
  CHECK(message(read(api, ann, n), anns)->at("reactions") ==
        json::value{{thumbs, {{"count", 1}, {"mine", false}}}});
  CHECK(message(staff_read(api, agnes, n), anns)->at("reactions") ==
        json::value{{thumbs, {{"count", 1}, {"mine", true}}}});
  CHECK(message(staff_read(api, sam, n), anns)->at("reactions") ==
        json::value{{thumbs, {{"count", 1}, {"mine", false}}}});
  CHECK(api.call(verb::put, staff_ticket(n, "/messages/" + note_id + "/reactions/" + enc(thumbs)),
                 sam)
            .result_int() == 204);
  CHECK(api.call(verb::delete_, react, agnes).result_int() == 204);
  CHECK(message(read(api, ann, n), anns)->at("reactions").as_object().empty());

  // Deleting: the author only; it stays as deleted.
  expect_error(api.call(verb::delete_, staff_ticket(n, "/messages/" + mine), sam), 403,
               "not_author");
  CHECK(api.call(verb::delete_, staff_ticket(n, "/messages/" + mine), agnes).result_int() == 204);
  const auto after = read(api, ann, n);
  const auto* gone = message(after, mine);
  REQUIRE(gone != nullptr);
  CHECK(gone->at("deleted") == true);
  CHECK(gone->at("body").is_null());
  expect_error(api.call(verb::delete_, staff_ticket(n, "/messages/no-such"), agnes), 404,
               "not_found");

  // Closed: nothing changes any more.
  set_status(api, agnes, n, "closed");
  expect_error(
      api.call(verb::patch, staff_ticket(n, "/messages/" + note_id), agnes, js({{"body", "late"}})),
      409, "ticket_closed");
  expect_error(api.call(verb::put, react, agnes), 409, "ticket_closed");
}

TEST_CASE("staff message with a status: one action and refused as a whole") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  const std::string path = staff_ticket(n, "/messages");

  auto m = ok(api.call(verb::post, path, agnes, js({{"body", "Fixed it"}, {"status", "resolved"}})),
              201);
  CHECK(m.at("body") == "Fixed it");
  auto t = staff_read(api, agnes, n);
  CHECK(t.at("status") == "resolved");
  CHECK(t.at("messages").as_array().size() == 2);
  CHECK(t.at("survey_pending") == true);

  for (const char* refused : {"pending_closure", "closure_scheduled"}) {
    CAPTURE(refused);
    expect_error(api.call(verb::post, path, agnes, js({{"body", "Nope"}, {"status", refused}})),
                 409, "invalid_transition");
  }
  expect_error(api.call(verb::post, path, agnes, js({{"body", "Nope"}, {"status", "bogus"}})), 400,
               "invalid_request", "status");
  // Nothing of the refused actions was recorded: no message, no status change.
  t = staff_read(api, agnes, n);
  CHECK(t.at("messages").as_array().size() == 2);
  CHECK(t.at("status") == "resolved");

  // Staff reply on closed too, and may reopen in the same action.
  set_status(api, agnes, n, "closed");
  ok(api.call(verb::post, path, agnes, js({{"body", "Reopening"}, {"status", "in_progress"}})),
     201);
  CHECK(status_of(api, ann, n) == "in_progress");
}

TEST_CASE(
    "staff status route: active statuses and resolved and closed while closing ones refused") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  const std::string path = staff_ticket(n, "/status");

  for (const char* s : {"in_progress", "awaiting_customer", "required_test", "required_action",
                        "resolved", "closed", "open"}) {
    CAPTURE(s);
    auto t = ok(api.call(verb::post, path, agnes, js({{"status", s}})));
    CHECK(t.at("status") == s);
    CHECK(t.at("number") == n);
  }
  CHECK(status_of(api, ann, n) == "open");
  expect_error(api.call(verb::post, path, agnes, js({{"status", "pending_closure"}})), 409,
               "invalid_transition");
  expect_error(api.call(verb::post, path, agnes, js({{"status", "closure_scheduled"}})), 409,
               "invalid_transition");
  expect_error(api.call(verb::post, path, agnes, js({{"status", "bogus"}})), 400, "invalid_request",
               "status");
  expect_error(api.call(verb::post, path, agnes, "{}"), 400, "invalid_request", "status");
  CHECK(status_of(api, ann, n) == "open");
  expect_error(
      api.call(verb::post, staff_ticket(n + 1, "/status"), agnes, js({{"status", "resolved"}})),
      404, "not_found");
}

TEST_CASE("scheduled closure: a future time only and then refused and cancelling restores") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  set_status(api, agnes, n, "awaiting_customer");
  const std::string path = staff_ticket(n, "/scheduled-closure");

  expect_error(api.call(verb::post, path, agnes, js({{"at", "2020-01-01T00:00:00Z"}})), 400,
               "invalid_request", "at");
  expect_error(api.call(verb::post, path, agnes, js({{"at", "next tuesday"}})), 400,
               "invalid_request", "at");
  expect_error(api.call(verb::post, path, agnes, "{}"), 400, "invalid_request", "at");
  CHECK(status_of(api, ann, n) == "awaiting_customer");

  auto t = ok(api.call(verb::post, path, agnes, js({{"at", "2099-01-01T10:00:00Z"}})));
  CHECK(t.at("status") == "closure_scheduled");
  CHECK(t.at("closure").at("closes_at").as_string().starts_with("2099-01-01T10:00:00"));
  // The notice is a system message customers see too.
  const auto seen = read(api, ann, n);
  CHECK(seen.at("status") == "closure_scheduled");
  const auto& last = seen.at("messages").as_array().back();
  CHECK(last.at("author").at("realm") == "system");
  CHECK(last.at("body").as_string().find("2099-01-01") != json::string::npos);
  expect_error(api.call(verb::post, path, agnes, js({{"at", "2099-02-01T00:00:00Z"}})), 409,
               "invalid_transition");

  auto cancelled = ok(api.call(verb::delete_, path, agnes));
  CHECK(cancelled.at("status") == "awaiting_customer");
  CHECK(cancelled.at("closure").is_null());
  CHECK(status_of(api, ann, n) == "awaiting_customer");
  expect_error(api.call(verb::delete_, path, agnes), 409, "invalid_transition");

  // Any staff status change cancels a scheduled closure.
  ok(api.call(verb::post, path, agnes, js({{"at", "2099-01-01T10:00:00Z"}})));
  auto moved =
      ok(api.call(verb::post, staff_ticket(n, "/status"), agnes, js({{"status", "in_progress"}})));
  CHECK(moved.at("status") == "in_progress");
  CHECK(moved.at("closure").is_null());
  expect_error(api.call(verb::delete_, path, agnes), 409, "invalid_transition");

  set_status(api, agnes, n, "closed");
  expect_error(api.call(verb::post, path, agnes, js({{"at", "2099-01-01T10:00:00Z"}})), 409,
               "invalid_transition");
}

TEST_CASE("staff of another project get 404 for everything of this one") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto otto = api.staff_login("otto@other.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);
  const std::vector<std::tuple<verb, std::string, std::string>> routes = {
      {verb::get, "/api/v1/staff/projects/acme/tickets", ""},
      {verb::get, staff_ticket(n), ""},
      {verb::post, staff_ticket(n, "/messages"), js({{"body", "Hello from elsewhere"}})},
      {verb::post, staff_ticket(n, "/status"), js({{"status", "closed"}})},
      {verb::post, staff_ticket(n, "/scheduled-closure"), js({{"at", "2099-01-01T00:00:00Z"}})},
      {verb::delete_, staff_ticket(n, "/scheduled-closure"), ""},
      {verb::patch, staff_ticket(n), js({{"priority", "urgent"}})},
      {verb::patch, staff_ticket(n, "/messages/x"), js({{"body", "Hello"}})},
      {verb::delete_, staff_ticket(n, "/messages/x"), ""},
      {verb::put, staff_ticket(n, "/messages/x/reactions/%F0%9F%91%8D"), ""},
      {verb::delete_, staff_ticket(n, "/messages/x/reactions/%F0%9F%91%8D"), ""},
  };
  for (const auto& [method, target, body] : routes) {
    CAPTURE(target);
    expect_error(api.call(method, target, otto, body), 404, "not_found");
  }
  const auto t = staff_read(api, agnes, n);
  CHECK(t.at("status") == "open");
  CHECK(t.at("priority") == "normal");
  CHECK(t.at("messages").as_array().size() == 1);
  expect_error(api.call(verb::get, "/api/v1/staff/projects/other/tickets", agnes), 404,
               "not_found");
  CHECK(ok(api.call(verb::get, "/api/v1/staff/projects/other/tickets", otto))
            .at("items")
            .as_array()
            .empty());
  expect_error(api.call(verb::get, "/api/v1/staff/projects/nope/tickets", agnes), 404, "not_found");
}

// ---- Idempotency-Key ----

namespace {

hc::Response post_keyed(unsigned short port, const std::string& target, const Session& as,
                        const std::string& key, const std::string& body) {
  hc::Connection c(port);
  return c.request(verb::post, target, body,
                   {{"Authorization", "Bearer " + as.token}, {"Idempotency-Key", key}});
}

// The server's secret (survey links, invite links derived from an Idempotency-Key): a deployment
// keeps it across restarts (AppOptions::secret).
constexpr const char* kSecret = "restart-test-secret";

// The same API on a fresh App, Portal and Views over the same log, as after a restart: nothing
// in memory survives, only the log (and the configured secret).
struct Restarted {
  portico::service::Portal portal;
  portico::projections::Views views;
  phttp::App app;
  std::unique_ptr<phttp::Server> server;

  explicit Restarted(Api& api)
      : portal(*api.desk.log),
        views(*api.desk.log),
        app(*api.desk.log, portal, views, options(api)) {
    phttp::ServerOptions so;
    so.port = 0;
    so.io_threads = 1;
    so.workers = 2;
    server = std::make_unique<phttp::Server>(
        [this](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); }, so);
    REQUIRE(server->start());
  }
  static phttp::AppOptions options(Api& api) {
    phttp::AppOptions o;
    o.base_url = "http://portal.test";
    o.mail = &api.mail;
    o.secret = kSecret;
    o.limits.per_address = {1e9, 1e9};
    return o;
  }
  unsigned short port() const { return server->port(); }
};

}  // namespace

TEST_CASE("Idempotency-Key on opening a ticket: once per caller and conflict on another body") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  const std::string body = js({{"subject", "Charged twice"}, {"message", "See my bank"}});

  auto first = post_keyed(api.port(), tickets(), ann, "key-1", body);
  REQUIRE_MESSAGE(first.result_int() == 201, first.body());
  const auto n = hc::json(first).at("number").to_number<std::uint64_t>();
  auto again = post_keyed(api.port(), tickets(), ann, "key-1", body);
  CHECK(again.result_int() == 201);
  CHECK(again.body() == first.body());
  CHECK(again["Idempotent-Replayed"] == "true");
  CHECK(list(api, ann) == std::vector<std::uint64_t>{n});

  // Another caller's key is their own.
  auto bobs = post_keyed(api.port(), tickets(), bob, "key-1", body);
  REQUIRE_MESSAGE(bobs.result_int() == 201, bobs.body());
  CHECK(hc::json(bobs).at("number").to_number<std::uint64_t>() != n);
  CHECK(str(hc::json(bobs).at("creator").at("id")) == bob.id);
  CHECK(list(api, bob).size() == 1);

  auto other_body = post_keyed(api.port(), tickets(), ann, "key-1",
                               js({{"subject", "Something else"}, {"message", "Other"}}));
  expect_error(other_body, 409, "conflict");
  CHECK(list(api, ann) == std::vector<std::uint64_t>{n});

  // A reply retried with its key is posted once.
  auto reply =
      post_keyed(api.port(), ticket(n, "/messages"), ann, "reply-1", js({{"body", "Any news?"}}));
  REQUIRE_MESSAGE(reply.result_int() == 201, reply.body());
  auto reply_again =
      post_keyed(api.port(), ticket(n, "/messages"), ann, "reply-1", js({{"body", "Any news?"}}));
  CHECK(reply_again.body() == reply.body());
  CHECK(read(api, ann, n).at("messages").as_array().size() == 2);
  // A refusal acted on nothing and is not kept: the corrected request with the same key acts.
  expect_error(post_keyed(api.port(), tickets(), ann, "key-2", js({{"subject", ""}})), 400,
               "invalid_request", "message");
  auto corrected = post_keyed(api.port(), tickets(), ann, "key-2",
                              js({{"subject", "Fixed"}, {"message", "Now with a message"}}));
  CHECK(corrected.result_int() == 201);
  CHECK(list(api, ann).size() == 2);
  // Without a key, two posts are two tickets.
  api.open(ann, "No key");
  api.open(ann, "No key");
  CHECK(list(api, ann).size() == 4);
}

TEST_CASE("Idempotency-Key survives a restart: the command id is on the log") {
  Api api([](phttp::AppOptions& o) { o.secret = kSecret; });
  auto ann = api.customer("ann@globex.test");
  const std::string body = js({{"subject", "Charged twice"}, {"message", "See my bank"}});
  auto first = post_keyed(api.port(), tickets(), ann, "restart-key", body);
  REQUIRE_MESSAGE(first.result_int() == 201, first.body());
  const auto n = hc::json(first).at("number").to_number<std::uint64_t>();
  auto reply = post_keyed(api.port(), ticket(n, "/messages"), ann, "restart-reply",
                          js({{"body", "Any news?"}}));
  REQUIRE_MESSAGE(reply.result_int() == 201, reply.body());
  auto link = post_keyed(api.port(), ticket(n, "/invites"), ann, "restart-invite", "");
  REQUIRE_MESSAGE(link.result_int() == 201, link.body());

  Restarted after(api);
  auto retried = post_keyed(after.port(), tickets(), ann, "restart-key", body);
  REQUIRE_MESSAGE(retried.result_int() == 201, retried.body());
  CHECK(hc::json(retried).at("number").to_number<std::uint64_t>() == n);
  CHECK(hc::json(retried).at("subject") == "Charged twice");
  auto reply_again = post_keyed(after.port(), ticket(n, "/messages"), ann, "restart-reply",
                                js({{"body", "Any news?"}}));
  REQUIRE_MESSAGE(reply_again.result_int() == 201, reply_again.body());
  CHECK(hc::json(reply_again).at("id") == hc::json(reply).at("id"));
  CHECK(api.desk.ticket(n).messages.size() == 2);
  CHECK(list(api, ann) == std::vector<std::uint64_t>{n});
  CHECK(read(api, ann, n).at("messages").as_array().size() == 2);
  // An invite link asked for again hands out the same link, still one invite on the ticket.
  auto link_again = post_keyed(after.port(), ticket(n, "/invites"), ann, "restart-invite", "");
  REQUIRE_MESSAGE(link_again.result_int() == 201, link_again.body());
  CHECK(hc::json(link_again) == hc::json(link));
  CHECK(api.desk.ticket(n).invites.size() == 1);

  // The restarted server still opens new tickets under new keys.
  auto fresh = post_keyed(after.port(), tickets(), ann, "another-key", body);
  REQUIRE_MESSAGE(fresh.result_int() == 201, fresh.body());
  CHECK(hc::json(fresh).at("number").to_number<std::uint64_t>() != n);
}

TEST_CASE("customer priority: refused unless the project lets customers choose - then checked") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  const std::string path = "/api/v1/projects/acme/tickets";
  auto open = [&](const std::string& priority) {
    return api.call(
        verb::post, path,
        R"({"subject":"Lag","message":"Every evening.","priority":")" + priority + R"("})",
        ann.bearer());
  };
  expect_error(open("high"), 400, "invalid_request");
  CHECK(hc::json(open("normal")).at("error").at("field") == "priority");  // given at all
  CHECK(ok(api.call(verb::get, path, "", ann.bearer())).at("items").as_array().empty());
  // Without a priority a ticket is normal.
  auto plain =
      api.call(verb::post, path, R"({"subject":"Lag","message":"Every evening."})", ann.bearer());
  REQUIRE(plain.result_int() == 201);
  CHECK(hc::json(plain).at("priority") == "normal");

  auto settings = Desk::default_settings();
  settings.customer_priority = true;
  REQUIRE(api.desk.portal->configure_project("acme", settings, Desk::system()));
  auto high = open("high");
  REQUIRE_MESSAGE(high.result_int() == 201, high.body());
  CHECK(hc::json(high).at("priority") == "high");
  auto wrong = open("critical");
  expect_error(wrong, 400, "invalid_request");
  CHECK(hc::json(wrong).at("error").at("field") == "priority");
  CHECK(ok(api.call(verb::get, path, "", ann.bearer())).at("items").as_array().size() == 2);
}
