// The rules of identities at OpenID providers (portico/domain/account.hpp): which address a
// provider vouches for, linking an identity to a customer, and removing one — never the last way
// in. GIVEN a customer and the identity's stream WHEN linking or unlinking THEN what is recorded.
#include <doctest/doctest.h>

#include <portico/domain/account.hpp>
#include <portico/domain/customer.hpp>
#include <portico/errc.hpp>

namespace account = portico::domain::account;
namespace customer = portico::domain::customer;
namespace errc = portico::errc;

namespace {

constexpr portico::domain::TimeUs kNow = 1'795'000'000'000'000;

customer::State registered(const std::string& email, std::vector<customer::Event> more = {}) {
  std::vector<customer::Event> events = {
      customer::CustomerRegistered{kNow, "c-ann", email, "Ann Lee", "ann"}};
  events.insert(events.end(), more.begin(), more.end());
  return customer::fold(events);
}

account::ProviderClaims google(const std::string& subject, const std::string& email,
                               bool verified) {
  return {"google", "https://accounts.google.com", subject, email, verified, "Ann"};
}

customer::State claimed_by(const std::string& id) {
  return customer::fold(
      {customer::IdentityClaimed{kNow, "https://accounts.google.com", "108", id}});
}

template <class T>
bool has(const std::vector<customer::Event>& events) {
  return std::any_of(events.begin(), events.end(),
                     [](const customer::Event& e) { return std::holds_alternative<T>(e); });
}

}  // namespace

TEST_CASE("a provider vouches only for an address it says is verified") {
  CHECK(account::vouched_email(google("1", "Ann@Example.COM", true)) == "ann@example.com");
  CHECK(account::vouched_email(google("1", "ann@example.com", false)).empty());
  CHECK(account::vouched_email(google("1", "not an address", true)).empty());
  CHECK(account::vouched_email(google("1", "", true)).empty());
}

TEST_CASE("a customer without an address gets a handle from the name") {
  CHECK(account::handle_from_name("Player One") == "player.one");
  CHECK(account::handle_from_name("  Zoë  ") == "zo");
  CHECK(account::handle_from_name("!") == "customer");
  CHECK(account::handle_from_name(std::string(60, 'x')).size() == 24);
  CHECK(customer::valid_handle(account::handle_from_name("Ann  Lee")));
}

TEST_CASE("linking an identity records it on the customer and claims its stream") {
  const auto ann = registered("ann@example.com");
  SUBCASE("a new identity") {
    auto linked = account::link_identity(ann, {}, google("108", "other@example.com", true), kNow);
    REQUIRE(linked);
    REQUIRE(linked->customer.size() == 1);
    const auto& e = std::get<customer::IdentityLinked>(linked->customer[0]);
    CHECK(e.provider == "google");
    CHECK(e.subject == "108");
    CHECK(e.email == "other@example.com");
    REQUIRE(linked->claim.size() == 1);
    CHECK(std::get<customer::IdentityClaimed>(linked->claim[0]).customer_id == "c-ann");
    auto after = customer::fold(linked->customer, ann);
    REQUIRE(after.identities.size() == 1);
    CHECK(customer::identity_of(after, "google") != nullptr);
    CHECK(customer::fold(linked->claim).claimed_by == "c-ann");
  }
  SUBCASE("a vouched address that is the customer's proves it, as a magic link does") {
    auto with_password =
        registered("ann@example.com", {customer::PasswordSet{kNow, "$argon2id$x", false, false}});
    auto linked =
        account::link_identity(with_password, {}, google("108", "ann@example.com", true), kNow);
    REQUIRE(linked);
    CHECK(has<customer::EmailVerified>(linked->customer));
    auto after = customer::fold(linked->customer, with_password);
    CHECK(after.email_verified);
    CHECK(after.password_hash.empty());  // someone else's unverified password is dropped
  }
  SUBCASE("an unverified address proves nothing") {
    auto linked = account::link_identity(ann, {}, google("108", "ann@example.com", false), kNow);
    REQUIRE(linked);
    CHECK_FALSE(has<customer::EmailVerified>(linked->customer));
  }
  SUBCASE("the customer's own identity again: nothing") {
    auto linked = account::link_identity(ann, claimed_by("c-ann"), google("108", "", false), kNow);
    REQUIRE(linked);
    CHECK(linked->customer.empty());
    CHECK(linked->claim.empty());
  }
  SUBCASE("someone else's identity is never taken over") {
    auto linked = account::link_identity(ann, claimed_by("c-bob"), google("108", "", false), kNow);
    REQUIRE_FALSE(linked);
    CHECK(linked.error().code == errc::kConflict);
    CHECK(linked.error().message == "identity_taken");
  }
  SUBCASE("a released identity may be linked again") {
    auto released = customer::fold({customer::IdentityReleased{kNow}}, claimed_by("c-bob"));
    CHECK(released.claimed_by.empty());
    CHECK(account::link_identity(ann, released, google("108", "", false), kNow));
  }
  SUBCASE("one identity per provider") {
    auto first = account::link_identity(ann, {}, google("108", "", false), kNow);
    REQUIRE(first);
    auto linked = account::link_identity(customer::fold(first->customer, ann), {},
                                         google("109", "", false), kNow);
    REQUIRE_FALSE(linked);
    CHECK(linked.error().code == errc::kConflict);
    CHECK(linked.error().message != "identity_taken");
  }
  SUBCASE("no customer, or no subject") {
    CHECK(account::link_identity({}, {}, google("108", "", false), kNow).error().code ==
          errc::kNotFound);
    CHECK(account::link_identity(ann, {}, google("", "", false), kNow).error().code ==
          errc::kInvalidRequest);
  }
}

TEST_CASE("removing an identity never removes the last way in") {
  auto with = [](customer::State c, const std::string& provider, const std::string& subject) {
    return customer::fold(
        {customer::IdentityLinked{kNow, provider, "https://" + provider, subject, ""}}, c);
  };
  SUBCASE("a customer without an address keeps their only identity") {
    auto player = with(registered(""), "cfx", "42");
    auto removed = account::unlink_identity(player, "cfx", kNow);
    REQUIRE_FALSE(removed);
    CHECK(removed.error().code == errc::kConflict);
    // With a second identity either may go.
    auto two = with(player, "google", "108");
    auto ok = account::unlink_identity(two, "cfx", kNow);
    REQUIRE(ok);
    REQUIRE(ok->customer.size() == 1);
    CHECK(std::get<customer::IdentityUnlinked>(ok->customer[0]).subject == "42");
    CHECK(std::holds_alternative<customer::IdentityReleased>(ok->claim.at(0)));
    auto after = customer::fold(ok->customer, two);
    REQUIRE(after.identities.size() == 1);
    CHECK(after.identities[0].provider == "google");
    CHECK_FALSE(account::unlink_identity(after, "google", kNow));
  }
  SUBCASE("a customer with an address may remove every identity") {
    auto ann = with(registered("ann@example.com"), "cfx", "42");
    CHECK(account::unlink_identity(ann, "cfx", kNow));
  }
  SUBCASE("no identity of that provider") {
    CHECK(account::unlink_identity(registered("ann@example.com"), "cfx", kNow).error().code ==
          errc::kNotFound);
  }
}

TEST_CASE("a customer may be registered without an address but never with a malformed one") {
  portico::domain::Actor system{portico::domain::Realm::system, ""};
  CHECK(customer::decide({}, customer::Register{"c-1", "", "Player", "player"}, {system, kNow}));
  CHECK(customer::decide({}, customer::Register{"c-1", "nope", "Player", "player"}, {system, kNow})
            .error()
            .field == "email");
  // Without an address, a project with allowed domains refuses the membership.
  auto player = registered("");
  CHECK(customer::decide(player, customer::JoinProject{"acme", {"example.com"}},
                         {{portico::domain::Realm::customer, "c-ann"}, kNow})
            .error()
            .code == errc::kDomainNotAllowed);
}
