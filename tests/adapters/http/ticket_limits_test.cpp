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
