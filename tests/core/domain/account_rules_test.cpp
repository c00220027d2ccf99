// The sign-in decisions (portico/domain/account.hpp, "Decisions"): given the customer, the staff
// account or the session as folded, when a sign-in step happens, then these events (or this
// refusal). The service around them (tests/core/service/accounts_test.cpp) loads and appends.
#include <doctest/doctest.h>

#include <portico/domain/account.hpp>
#include <portico/errc.hpp>

namespace dom = portico::domain;
namespace da = portico::domain::account;
namespace dc = portico::domain::customer;
namespace errc = portico::errc;

namespace {

constexpr dom::TimeUs kNow = 5'000'000;

const da::NewIdentity kAnn{"c-1", "ann@example.com", "Ann", "ann"};

dc::State folded(const std::vector<dc::Event>& events) { return dc::fold(events); }

// Ann, registered at t=1000 with a password set at t=2000 (verified or not).
dc::State ann_with_password(bool verified) {
  auto identity = da::new_identity(kAnn, 1000);
  REQUIRE(identity);
  auto events = identity->customer;
  events.push_back(dc::PasswordSet{2000, "$argon2id$hash", false, false});
  if (verified) events.push_back(dc::PasswordVerified{3000, 2000});
  return folded(events);
}

da::TokenIssued link(da::Purpose purpose, std::string customer_id = {},
                     dom::TimeUs password_set_at = 0) {
  return {1000,
          purpose,
          "acme",
          "ann@example.com",
          std::move(customer_id),
          password_set_at,
          kNow + dom::kDay};
}

template <class Event, class Variant>
const Event* as(const Variant& v) {
  return std::get_if<Event>(&v);
}

}  // namespace

TEST_CASE(
    "GIVEN a customer with an unverified address WHEN a magic link is followed THEN the "
    "address is verified once") {
  const dc::State fresh = folded(da::new_identity(kAnn, 1000)->customer);
  auto events = da::follow_link(fresh, link(da::Purpose::magic_link), kNow);
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  CHECK(as<dc::EmailVerified>(events->front()));

  const dc::State verified = dc::fold(*events, fresh);
  auto again = da::follow_link(verified, link(da::Purpose::magic_link), kNow);
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE(
    "GIVEN a registration nobody confirmed WHEN the address owner follows a magic link THEN "
    "the unverified password is dropped") {
  const dc::State pending = ann_with_password(false);
  auto events = da::follow_link(pending, link(da::Purpose::magic_link), kNow);
  REQUIRE(events);
  REQUIRE(events->size() == 2);
  const auto* dropped = as<dc::PasswordSet>(events->back());
  REQUIRE(dropped);
  CHECK(dropped->hash.empty());
  CHECK_FALSE(dropped->verified);
  CHECK(dc::fold(*events, pending).password_hash.empty());

  // A confirmed password stays.
  const dc::State confirmed = ann_with_password(true);
  auto kept = da::follow_link(confirmed, link(da::Purpose::magic_link), kNow);
  REQUIRE(kept);
  for (const auto& e : *kept) CHECK_FALSE(as<dc::PasswordSet>(e));
}

TEST_CASE(
    "GIVEN a registration WHEN its verification link is followed THEN that password is "
    "verified") {
  const dc::State pending = ann_with_password(false);
  auto events = da::follow_link(pending, link(da::Purpose::verify_email, "c-1", 2000), kNow);
  REQUIRE(events);
  REQUIRE(events->size() == 1);
  const auto* v = as<dc::PasswordVerified>(events->front());
  REQUIRE(v);
  CHECK(v->password_set_at == 2000);
  CHECK(dc::fold(*events, pending).password_verified);
}

TEST_CASE(
    "a verification link for a replaced - dropped or another customer's password is "
    "invalid_token") {
  const dc::State pending = ann_with_password(false);
  // Replaced by a later registration's password.
  auto replaced = da::follow_link(pending, link(da::Purpose::verify_email, "c-1", 1500), kNow);
  REQUIRE_FALSE(replaced);
  CHECK(replaced.error().code == errc::kInvalidToken);
  // Dropped by a magic-link sign-in.
  const dc::State dropped = dc::fold({dc::PasswordSet{4000, {}, false, false}}, pending);
  auto gone = da::follow_link(dropped, link(da::Purpose::verify_email, "c-1", 2000), kNow);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == errc::kInvalidToken);
  // Another customer's.
  auto other = da::follow_link(pending, link(da::Purpose::verify_email, "c-2", 2000), kNow);
  REQUIRE_FALSE(other);
  CHECK(other.error().code == errc::kInvalidToken);
  // A reset link does not sign in.
  auto reset = da::follow_link(pending, link(da::Purpose::password_reset, "c-1"), kNow);
  REQUIRE_FALSE(reset);
  CHECK(reset.error().code == errc::kInvalidToken);
}

TEST_CASE("a password sign-in needs a password that matched and then a verified address") {
  const dc::State pending = ann_with_password(false);
  const dc::State confirmed = ann_with_password(true);
  const dc::State none = folded(da::new_identity(kAnn, 1000)->customer);
  CHECK(da::check_password_sign_in(nullptr, true).error().code == errc::kInvalidCredentials);
  CHECK(da::check_password_sign_in(&none, true).error().code == errc::kInvalidCredentials);
  CHECK(da::check_password_sign_in(&confirmed, false).error().code == errc::kInvalidCredentials);
  // A wrong password says nothing about the address's state.
  CHECK(da::check_password_sign_in(&pending, false).error().code == errc::kInvalidCredentials);
  CHECK(da::check_password_sign_in(&pending, true).error().code == errc::kEmailNotVerified);
  CHECK(da::check_password_sign_in(&confirmed, true));
}

TEST_CASE(
    "GIVEN a free address WHEN someone registers THEN the identity claims its handle and "
    "address and holds an unverified password and a verification link") {
  auto r = da::register_with_password(kAnn, "$argon2id$hash", "acme", kNow, dom::kDay);
  REQUIRE(r);
  const dc::State c = dc::fold(r->identity.customer);
  CHECK(c.id == "c-1");
  CHECK(c.handle == "ann");
  CHECK(c.password_hash == "$argon2id$hash");
  CHECK_FALSE(c.password_verified);
  CHECK(c.password_set_at == kNow);
  REQUIRE(r->identity.handle.size() == 1);
  CHECK(as<dc::HandleClaimed>(r->identity.handle.front())->customer_id == "c-1");
  REQUIRE(r->identity.email.size() == 1);
  CHECK(as<dc::EmailClaimed>(r->identity.email.front())->email == "ann@example.com");
  CHECK(r->verification.purpose == da::Purpose::verify_email);
  CHECK(r->verification.customer_id == "c-1");
  CHECK(r->verification.password_set_at == kNow);
  CHECK(r->verification.expires_at == kNow + dom::kDay);
  // The link verifies exactly this password.
  CHECK(da::follow_link(c, r->verification, kNow + 1));

  auto bad = da::register_with_password({"c-1", "ann@example.com", "Ann", "A"}, "h", "acme", kNow,
                                        dom::kDay);
  CHECK_FALSE(bad);
}

TEST_CASE(
    "GIVEN no staff account WHEN the operator sets a password THEN the account is created "
    "and claims its address") {
  const da::StaffAccountCreated who{0, "s-1", "agnes@acme.test", "Agnes"};
  auto e = da::set_staff_password({}, who, "$argon2id$h", false, kNow);
  REQUIRE(e.staff.size() == 2);
  CHECK(as<da::StaffAccountCreated>(e.staff[0])->at == kNow);
  CHECK(as<da::StaffPasswordSet>(e.staff[1])->hash == "$argon2id$h");
  REQUIRE(e.email.size() == 1);
  CHECK(as<da::StaffEmailClaimed>(e.email[0])->staff_id == "s-1");

  da::State staff;
  for (const auto& x : e.staff) staff = da::evolve(std::move(staff), x);
  SUBCASE("the same password again records nothing") {
    auto same = da::set_staff_password(staff, who, "$argon2id$other-salt", true, kNow + 1);
    CHECK(same.staff.empty());
    CHECK(same.email.empty());
  }
  SUBCASE("a new password ends the sessions the old one started") {
    auto changed = da::set_staff_password(staff, who, "$argon2id$new", false, kNow + 10);
    REQUIRE(changed.staff.size() == 1);
    CHECK(changed.email.empty());
    da::State after = da::evolve(staff, changed.staff.front());
    CHECK(after.password_hash == "$argon2id$new");
    CHECK(after.sessions_valid_from == kNow + 10);
  }
}

TEST_CASE("a session starts with its limits and ends once when signed out") {
  const auto started = da::start_session(dom::Realm::customer, "c-1", "acme", "magic_link",
                                         "csrf-hash", kNow, {dom::kHour, dom::kDay});
  CHECK(started.at == kNow);
  CHECK(started.idle_timeout == dom::kHour);
  CHECK(started.expires_at == kNow + dom::kDay);
  da::State s = da::evolve({}, started);
  CHECK(da::session_active(s, kNow + dom::kHour - 1));
  CHECK_FALSE(da::session_active(s, kNow + dom::kHour + 1));

  auto ended = da::sign_out(s, kNow + 5);
  REQUIRE(ended.size() == 1);
  s = da::evolve(std::move(s), ended.front());
  CHECK_FALSE(da::session_active(s, kNow + 6));
  CHECK(da::sign_out(s, kNow + 7).empty());
  CHECK(da::sign_out(da::State{}, kNow).empty());  // no session: nothing to end
}
