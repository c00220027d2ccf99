// The JSON of tickets and invites takes customers' names from a NameBook the route fills, not from
// the service: each id is looked up once per answer, and a customer who is gone keeps a name.
#include "render.hpp"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>

namespace dt = portico::domain::ticket;
using portico::http::NameBook;

namespace {

// A lookup over a fixed table that counts how often each id was asked for.
struct Directory {
  std::map<std::string, std::string> names;
  std::map<std::string, int> asked;
  NameBook book() {
    return NameBook([this](const std::string& id) -> std::optional<std::string> {
      ++asked[id];
      auto it = names.find(id);
      if (it == names.end()) return std::nullopt;
      return it->second;
    });
  }
};

dt::State ticket_with_invites() {
  dt::State t;
  t.exists = true;
  t.number = 1;
  t.creator = "c-ann";
  dt::Invite a;
  a.id = "i-1";
  a.created_by = "c-ann";
  a.created_at = 1;
  dt::Invite b;
  b.id = "i-2";
  b.created_by = "c-gone";
  b.created_at = 2;
  t.invites.emplace("i-1", a);
  t.invites.emplace("i-2", b);
  return t;
}

}  // namespace

TEST_CASE("a name book looks each customer up once and calls an unknown one Former customer") {
  Directory dir{{{"c-ann", "Ann"}}, {}};
  NameBook names = dir.book();
  CHECK(names.customer("c-ann") == "Ann");
  CHECK(names.customer("c-ann") == "Ann");
  CHECK(names.customer("c-gone") == "Former customer");
  CHECK(names.customer("c-gone") == "Former customer");
  CHECK(dir.asked == std::map<std::string, int>{{"c-ann", 1}, {"c-gone", 1}});
}

TEST_CASE("invite links name their creators through the name book") {
  Directory dir{{{"c-ann", "Ann"}}, {}};
  NameBook names = dir.book();
  const auto json = portico::http::invites_json(ticket_with_invites(), names);
  const auto& items = json.at("items").as_array();
  REQUIRE(items.size() == 2);
  CHECK(items[0].at("created_by").at("display_name") == "Ann");
  CHECK(items[1].at("created_by").at("id") == "c-gone");
  CHECK(items[1].at("created_by").at("display_name") == "Former customer");
}
