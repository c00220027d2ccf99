// What bounds a ticket and its readers over HTTP (security review H2, H4, L4, L5, M2): the cost of
// @mentions, size and count limits, write throttling, staff-only activity, notifications after
// access ends, and the creator's view of invite links.
#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>
#include <chrono>

#include "api_fixture.hpp"

using namespace portico::test;

namespace {

std::string json(const boost::json::object& o) { return boost::json::serialize(o); }

std::string path(std::uint64_t n, const std::string& rest = "") {
  return "/api/v1/projects/acme/tickets/" + std::to_string(n) + rest;
}

// "@aaaa @aaab …": `count` distinct handles of four letters.
std::string distinct_handles(std::size_t count) {
  std::string out;
  out.reserve(count * 6);
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t v = i;
    char h[5] = {};
    for (int k = 3; k >= 0; --k) {
      h[k] = static_cast<char>('a' + v % 26);
      v /= 26;
    }
    out += '@';
    out.append(h, 4);
    out += ' ';
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// ---- H2: @mentions ----

TEST_CASE("a body full of distinct handles is refused at once by length and by access") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto cat = api.customer("cat@initech.test");
  const auto n = api.open(ann);
  // About 150,000 distinct handles in 900 KB: parsed quadratically, or looked up one by one,
  // this took minutes; it must cost no more than reading the body.
  const std::string body = json({{"body", distinct_handles(150'000)}});
  REQUIRE(body.size() < 1'000'000);
  const auto start = std::chrono::steady_clock::now();
  auto too_long = api.call(verb::post, path(n, "/messages"), ann, body);
  CHECK(too_long.result_int() == 400);
  CHECK(code_of(too_long) == "invalid_request");
  auto not_hers = api.call(verb::post, path(n, "/messages"), cat, body);
  CHECK(not_hers.result_int() == 404);
  auto no_ticket = api.call(verb::post, path(999, "/messages"), ann, body);
  CHECK(no_ticket.result_int() == 404);
  auto opening = api.call(verb::post, "/api/v1/projects/acme/tickets", ann,
                          json({{"subject", "s"}, {"message", distinct_handles(150'000)}}));
  CHECK(opening.result_int() == 400);
  CHECK(seconds_since(start) < 3.0);
}

TEST_CASE("a message within the limit notifies at most twenty of the handles it names") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  const auto n = api.open(ann);
  // Bob joins, so that a mention of him counts.
  auto invite = hc::json(api.call(verb::post, path(n, "/invites"), ann));
  REQUIRE(api.call(verb::post,
                   "/api/v1/invites/" + std::string(invite.at("token").as_string()) + "/join", bob)
              .result_int() == 200);
  auto me = hc::json(api.call(verb::get, "/api/v1/me", bob));
  const std::string bob_handle(me.at("customer").at("handle").as_string());
  // Bob is named after 1,500 other handles (9,000 characters): only the first twenty count.
  auto late = api.call(verb::post, path(n, "/messages"), ann,
                       json({{"body", distinct_handles(1'500) + "@" + bob_handle}}));
  REQUIRE_MESSAGE(late.result_int() == 201, late.body());
  auto early = api.call(verb::post, path(n, "/messages"), ann,
                        json({{"body", "@" + bob_handle + " " + distinct_handles(1'500)}}));
  REQUIRE_MESSAGE(early.result_int() == 201, early.body());
  auto bell = hc::json(api.call(verb::get, "/api/v1/notifications", bob));
  std::size_t mentions = 0;
  for (const auto& item : bell.at("items").as_array()) {
    if (item.at("kind").as_string() == "mention") ++mentions;
  }
  CHECK(mentions == 1);
}

// ---- L4: staff-only activity ----

TEST_CASE("internal notes and staff edits do not move the ticket in customer views") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto first = api.open(ann, "First");
  const auto second = api.open(ann, "Second");
  const std::string staff_path = "/api/v1/staff/projects/acme/tickets/" + std::to_string(first);
  auto seen = [&](std::uint64_t n) {
    return std::string(hc::json(api.call(verb::get, path(n), ann)).at("updated_at").as_string());
  };
  auto order = [&] {
    std::vector<std::uint64_t> out;
    auto list = hc::json(api.call(verb::get, "/api/v1/projects/acme/tickets", ann));
    for (const auto& s : list.at("items").as_array()) {
      out.push_back(s.at("number").to_number<std::uint64_t>());
    }
    return out;
  };
  const std::string before = seen(first);
  REQUIRE(order() == std::vector<std::uint64_t>{second, first});
  auto note = api.call(verb::post, staff_path + "/messages", agnes,
                       json({{"body", "customer is confused"}, {"internal", true}}));
  REQUIRE_MESSAGE(note.result_int() == 201, note.body());
  auto patched =
      api.call(verb::patch, staff_path, agnes, json({{"priority", "high"}, {"team", "billing"}}));
  REQUIRE_MESSAGE(patched.result_int() == 200, patched.body());
  CHECK(seen(first) == before);
  CHECK(order() == std::vector<std::uint64_t>{second, first});
  auto list = hc::json(api.call(verb::get, "/api/v1/projects/acme/tickets", ann));
  CHECK(list.at("items").at(1).at("updated_at").as_string() == before);
  // Staff see every activity: the note moved the ticket in their queue.
  auto queue = hc::json(api.call(verb::get, "/api/v1/staff/projects/acme/tickets", agnes));
  CHECK(queue.at("items").at(0).at("number").to_number<std::uint64_t>() == first);
  CHECK(hc::json(api.call(verb::get, staff_path, agnes)).at("updated_at").as_string() != before);
  // A public staff reply is activity the customer sees.
  auto reply = api.call(verb::post, staff_path + "/messages", agnes, json({{"body", "On it"}}));
  REQUIRE_MESSAGE(reply.result_int() == 201, reply.body());
  CHECK(seen(first) != before);
  CHECK(order() == std::vector<std::uint64_t>{first, second});
}

// ---- L5: notifications after access ends ----

TEST_CASE("a removed participant no longer sees or marks the bell entries of that ticket") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto cat = api.customer("cat@initech.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann, "Secret plans");
  const auto other = api.open(ann, "Still shared");
  for (auto number : {n, other}) {
    auto invite = hc::json(api.call(verb::post, path(number, "/invites"), ann));
    auto joined =
        api.call(verb::post,
                 "/api/v1/invites/" + std::string(invite.at("token").as_string()) + "/join", cat);
    REQUIRE_MESSAGE(joined.result_int() == 200, joined.body());
    auto reply = api.call(
        verb::post, "/api/v1/staff/projects/acme/tickets/" + std::to_string(number) + "/messages",
        agnes, json({{"body", "Details about #" + std::to_string(number)}}));
    REQUIRE_MESSAGE(reply.result_int() == 201, reply.body());
  }
  auto bell = [&] { return hc::json(api.call(verb::get, "/api/v1/notifications", cat)); };
  auto before = bell();
  REQUIRE(before.at("items").as_array().size() == 2);
  CHECK(before.at("unread").to_number<std::uint64_t>() == 2);
  std::string hidden_id;
  for (const auto& item : before.at("items").as_array()) {
    if (item.at("ticket").to_number<std::uint64_t>() == n) {
      hidden_id = std::string(item.at("id").as_string());
    }
  }
  REQUIRE(!hidden_id.empty());
  auto removed = api.call(verb::delete_, path(n, "/participants/" + cat.id), ann);
  REQUIRE_MESSAGE(removed.result_int() == 204, removed.body());
  auto after = bell();
  REQUIRE(after.at("items").as_array().size() == 1);
  CHECK(after.at("items").at(0).at("ticket").to_number<std::uint64_t>() == other);
  CHECK(after.at("unread").to_number<std::uint64_t>() == 1);
  CHECK(boost::json::serialize(after).find("Secret plans") == std::string::npos);
  auto unread = hc::json(api.call(verb::get, "/api/v1/notifications?unread=1", cat));
  CHECK(unread.at("items").as_array().size() == 1);
  auto mark = api.call(verb::post, "/api/v1/notifications/" + hidden_id + "/read", cat);
  CHECK(mark.result_int() == 404);
  // Leaving the project hides the rest.
  auto left = api.call(verb::delete_, "/api/v1/projects/acme/membership", cat);
  REQUIRE_MESSAGE(left.result_int() == 204, left.body());
  CHECK(bell().at("items").as_array().empty());
  CHECK(bell().at("unread").to_number<std::uint64_t>() == 0);
}

// ---- M2: making a removal stick ----

TEST_CASE(
    "a removed participant cannot rejoin through their own links and the creator revokes the "
    "rest") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  auto cat = api.customer("cat@initech.test");
  const auto n = api.open(ann);
  auto make = [&](const Api::Session& who) {
    auto r = api.call(verb::post, path(n, "/invites"), who);
    REQUIRE_MESSAGE(r.result_int() == 201, r.body());
    auto v = hc::json(r);
    return std::make_pair(std::string(v.at("id").as_string()),
                          std::string(v.at("token").as_string()));
  };
  auto join = [&](const std::string& token) {
    return api.call(verb::post, "/api/v1/invites/" + token + "/join", cat);
  };
  const auto anns = make(ann);
  REQUIRE(join(anns.second).result_int() == 200);
  const auto cats = make(cat);
  // The creator sees both working links, who made them and when; nobody else sees them.
  auto listed = api.call(verb::get, path(n, "/invites"), ann);
  REQUIRE_MESSAGE(listed.result_int() == 200, listed.body());
  auto items = hc::json(listed).at("items").as_array();
  REQUIRE(items.size() == 2);
  CHECK(items.at(0).at("id").as_string() == anns.first);
  CHECK(items.at(0).at("created_by").at("id").as_string() == ann.id);
  CHECK(items.at(1).at("id").as_string() == cats.first);
  CHECK(items.at(1).at("created_by").at("id").as_string() == cat.id);
  CHECK(items.at(1).as_object().contains("created_at"));
  CHECK(boost::json::serialize(items).find(cats.second) == std::string::npos);
  auto by_cat = api.call(verb::get, path(n, "/invites"), cat);
  CHECK(by_cat.result_int() == 403);
  CHECK(code_of(by_cat) == "not_creator");
  // Removing Cat ends the links Cat made: no way back through them.
  REQUIRE(api.call(verb::delete_, path(n, "/participants/" + cat.id), ann).result_int() == 204);
  auto again = join(cats.second);
  CHECK(again.result_int() == 410);
  CHECK(code_of(again) == "invite_inactive");
  items = hc::json(api.call(verb::get, path(n, "/invites"), ann)).at("items").as_array();
  REQUIRE(items.size() == 1);
  CHECK(items.at(0).at("id").as_string() == anns.first);
  // Ann's own link still works until she revokes it from the list.
  REQUIRE(api.call(verb::delete_, path(n, "/invites/" + anns.first), ann).result_int() == 204);
  CHECK(hc::json(api.call(verb::get, path(n, "/invites"), ann)).at("items").as_array().empty());
  CHECK(join(anns.second).result_int() == 410);
  CHECK(api.call(verb::get, path(n), cat).result_int() == 404);
}

// ---- H4: bounded tickets and throttled writes ----

TEST_CASE("what a new ticket carries besides its text is bounded and refused by field") {
  Api api;
  auto ann = api.customer("ann@globex.test");
  const std::string tickets = "/api/v1/projects/acme/tickets";
  const auto before = api.head();
  auto refused = [&](boost::json::object extra, const std::string& field) {
    boost::json::object o{{"subject", "s"}, {"message", "m"}};
    for (auto& kv : extra) o[kv.key()] = kv.value();
    auto r = api.call(verb::post, tickets, ann, json(o));
    CHECK_MESSAGE(r.result_int() == 400, r.body());
    CHECK(code_of(r) == "invalid_request");
    CHECK(hc::json(r).at("error").at("field").as_string() == field);
  };
  refused({{"purchase_id", std::string(101, 'p')}}, "purchase_id");
  refused({{"purchase_id", "a\x01z"}}, "purchase_id");
  refused({{"template", std::string(101, 't')}}, "template");
  boost::json::object wide;
  for (int i = 0; i < 101; ++i) wide["k" + std::to_string(i)] = i;
  refused({{"fields", wide}}, "fields");
  refused({{"fields", {{"a", {{"b", {{"c", {{"d", {{"e", 1}}}}}}}}}}}},
          "fields");  // five levels
  refused({{"fields", {{"long", std::string(17 * 1024, 'x')}}}}, "fields");
  CHECK(api.head() == before);
  boost::json::object fields{{"os", "linux"}, {"steps", {{"list", {"one", 2, true}}}}};
  auto fine = api.call(verb::post, tickets, ann,
                       json({{"subject", "s"},
                             {"message", "m"},
                             {"purchase_id", std::string(100, 'p')},
                             {"template", "bug"},
                             {"fields", fields}}));
  CHECK_MESSAGE(fine.result_int() == 201, fine.body());
}

TEST_CASE("replies edits and distinct reactions stop at the ticket limits with conflict") {
  Api api([](phttp::AppOptions& o) {
    o.tickets.max_messages = 3;
    o.tickets.max_edits = 2;
    o.tickets.max_reactions = 2;
  });
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  auto agnes = api.staff_login("agnes@acme.test");
  const auto n = api.open(ann);  // message 1
  auto reply = [&](const std::string& body) {
    return api.call(verb::post, path(n, "/messages"), ann, json({{"body", body}}));
  };
  auto second = reply("two");
  REQUIRE(second.result_int() == 201);
  const std::string id(hc::json(second).at("id").as_string());
  REQUIRE(reply("three").result_int() == 201);
  auto full = reply("four");
  CHECK(full.result_int() == 409);
  CHECK(code_of(full) == "conflict");
  // Staff may still answer (and close) a full ticket.
  auto staff_reply =
      api.call(verb::post, "/api/v1/staff/projects/acme/tickets/" + std::to_string(n) + "/messages",
               agnes, json({{"body", "Closing this one; please open another"}}));
  CHECK(staff_reply.result_int() == 201);
  // Edits.
  auto edit = [&](const std::string& body) {
    return api.call(verb::patch, path(n, "/messages/" + id), ann, json({{"body", body}}));
  };
  CHECK(edit("two, edited").result_int() == 200);
  CHECK(edit("two, edited again").result_int() == 200);
  CHECK(edit("two, edited again").result_int() == 200);  // no change: not an edit
  auto third = edit("two, once more");
  CHECK(third.result_int() == 409);
  CHECK(code_of(third) == "conflict");
  // Reactions: two different emoji; more people may still join one of them.
  auto react = [&](const Api::Session& who, const std::string& emoji) {
    return api.call(verb::put, path(n, "/messages/" + id + "/reactions/" + emoji), who)
        .result_int();
  };
  CHECK(react(ann, "%F0%9F%91%8D") == 204);
  CHECK(react(ann, "%F0%9F%8E%89") == 204);
  CHECK(react(ann, "%E2%9D%A4") == 409);
  CHECK(react(bob, "%E2%9D%A4") == 404);  // Bob cannot read the ticket at all
  auto t = hc::json(api.call(verb::get, path(n), ann));
  CHECK(t.at("messages").at(1).at("reactions").as_object().size() == 2);
}

TEST_CASE("changes by one caller are throttled with 429 and Retry-After and reads are not") {
  Api api([](phttp::AppOptions& o) { o.writes = {3, 1}; });
  auto ann = api.customer("ann@globex.test");
  auto bob = api.customer("bob@globex.test");
  const auto n = api.open(ann);  // 1
  Headers keyed = ann.bearer();
  keyed.emplace_back("Idempotency-Key", "reply-1");
  const std::string body = json({{"body", "first"}});
  auto first = api.call(verb::post, path(n, "/messages"), body, keyed);  // 2
  REQUIRE_MESSAGE(first.result_int() == 201, first.body());
  REQUIRE(api.call(verb::put, path(n, "/favorite"), ann).result_int() == 204);  // 3
  auto limited = api.call(verb::post, path(n, "/messages"), ann, json({{"body", "again"}}));
  CHECK(limited.result_int() == 429);
  CHECK(code_of(limited) == "rate_limited");
  const std::string retry_after(limited[boost::beast::http::field::retry_after]);
  REQUIRE(!retry_after.empty());
  CHECK(std::stoi(retry_after) >= 1);
  CHECK(api.call(verb::delete_, path(n, "/favorite"), ann).result_int() == 429);
  // Reading goes on; a retry of an answered request is its stored answer; others are unaffected.
  CHECK(api.call(verb::get, path(n), ann).result_int() == 200);
  auto replayed = api.call(verb::post, path(n, "/messages"), body, keyed);
  CHECK(replayed.result_int() == 201);
  CHECK(replayed.body() == first.body());
  CHECK(api.call(verb::post, "/api/v1/projects/acme/tickets", bob,
                 json({{"subject", "Mine"}, {"message", "works"}}))
            .result_int() == 201);
}
