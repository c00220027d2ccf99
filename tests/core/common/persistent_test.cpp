// The persistent containers behind a ticket's thread: each version behaves like a value (a copy
// never sees a later change), they agree with std::vector and std::map on random operations, and
// a copy shares every element instead of copying it.
#include <doctest/doctest.h>

#include <map>
#include <portico/domain/ticket.hpp>
#include <portico/persistent.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

// Counts the copies made of it, to show what a container copies.
struct Counted {
  static inline int copies = 0;
  int value = 0;
  explicit Counted(int v) : value(v) {}
  Counted(const Counted& o) : value(o.value) { ++copies; }
  Counted(Counted&&) noexcept = default;
  Counted& operator=(const Counted& o) {
    value = o.value;
    ++copies;
    return *this;
  }
  Counted& operator=(Counted&&) noexcept = default;
  friend bool operator==(const Counted&, const Counted&) = default;
};

// Every key in one hash slot: collisions at every level, down to the bucket.
struct SameHash {
  std::size_t operator()(const std::string&) const noexcept { return 42; }
};
// Hashes that share their low bits: keys split only deep in the trie.
struct DeepHash {
  std::size_t operator()(const std::string& s) const noexcept {
    return std::hash<std::string>{}(s) << 40;
  }
};

}  // namespace

TEST_CASE("a persistent vector agrees with std::vector and its old versions never change") {
  std::mt19937 rng(7);
  portico::PersistentVector<int> v;
  std::vector<int> model;
  std::vector<std::pair<portico::PersistentVector<int>, std::vector<int>>> versions;
  for (int step = 0; step < 40'000; ++step) {
    if (model.empty() || rng() % 4 != 0) {
      const int x = static_cast<int>(rng());
      v.push_back(x);
      model.push_back(x);
    } else {
      const std::size_t i = rng() % model.size();
      const int x = static_cast<int>(rng());
      v.set(i, x);
      model[i] = x;
    }
    if (step % 997 == 0) versions.emplace_back(v, model);
  }
  REQUIRE(v.size() == model.size());
  CHECK(std::equal(v.begin(), v.end(), model.begin(), model.end()));
  CHECK(std::equal(v.rbegin(), v.rend(), model.rbegin(), model.rend()));
  CHECK(v.back() == model.back());
  for (const auto& [old, expected] : versions) {
    REQUIRE(old.size() == expected.size());
    CHECK(std::equal(old.begin(), old.end(), expected.begin(), expected.end()));
  }
  portico::PersistentVector<int> copy = v;
  CHECK(copy == v);
  copy.set(0, copy[0] + 1);
  CHECK_FALSE(copy == v);
  CHECK(v[0] == model[0]);
}

TEST_CASE("copying a persistent vector copies no element - a change copies only the one it makes") {
  portico::PersistentVector<Counted> v;
  for (int i = 0; i < 5000; ++i) v.push_back(Counted(i));
  Counted::copies = 0;
  portico::PersistentVector<Counted> copy = v;
  copy.push_back(Counted(5000));
  copy.set(17, Counted(-17));
  CHECK(Counted::copies == 0);
  CHECK(v.size() == 5000);
  CHECK(v[17].value == 17);
  CHECK(copy[17].value == -17);
  CHECK(&copy[4000] == &v[4000]);  // shared, not copied
}

// Random sets on `map`, checked against std::map, and the versions kept along the way.
template <class Map>
void agree_with_std_map(Map map, std::mt19937& rng) {
  std::map<std::string, int> model;
  std::vector<std::pair<Map, std::map<std::string, int>>> versions;
  for (int step = 0; step < 3000; ++step) {
    const std::string key = "k" + std::to_string(rng() % 800);
    const int value = static_cast<int>(rng());
    map.set(key, value);
    model[key] = value;
    if (step % 301 == 0) versions.emplace_back(map, model);
  }
  CHECK(map.size() == model.size());
  for (const auto& [key, value] : model) {
    const int* found = map.find(key);
    REQUIRE(found != nullptr);
    CHECK(*found == value);
  }
  CHECK(map.find(std::string("absent")) == nullptr);
  for (const auto& [old, expected] : versions) {
    CHECK(old.size() == expected.size());
    for (const auto& [key, value] : expected) {
      const int* found = old.find(key);
      REQUIRE(found != nullptr);
      CHECK(*found == value);
    }
  }
}

TEST_CASE("a persistent hash map agrees with std::map - colliding hashes included") {
  std::mt19937 rng(11);
  agree_with_std_map(portico::PersistentHashMap<std::string, int>(), rng);
  agree_with_std_map(portico::PersistentHashMap<std::string, int, DeepHash>(), rng);
  agree_with_std_map(portico::PersistentHashMap<std::string, int, SameHash>(), rng);
}

TEST_CASE("a ticket's thread finds messages by id and a copy of the state shares them") {
  namespace dt = portico::domain::ticket;
  dt::State s;
  for (int i = 0; i < 2500; ++i) {
    s.messages.push_back({.id = "m" + std::to_string(i), .body = "text " + std::to_string(i)});
  }
  const dt::State before = s;
  CHECK(&before.messages[2000] == &s.messages[2000]);  // the copy made no new message
  REQUIRE(s.messages.find("m1234") != nullptr);
  CHECK(s.messages.find("m1234")->body == "text 1234");
  CHECK(s.messages.find("m9999") == nullptr);
  CHECK(s.messages.update("m1234", [](dt::Message& m) { m.body = "changed"; }));
  CHECK_FALSE(s.messages.update("m9999", [](dt::Message& m) { m.body = "never"; }));
  CHECK(s.messages.find("m1234")->body == "changed");
  CHECK(s.messages[1234].body == "changed");
  CHECK(before.messages.find("m1234")->body == "text 1234");
  CHECK_FALSE(before == s);
}
