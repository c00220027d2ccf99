// The two-factor rules (portico/domain/totp.hpp), GIVEN a state WHEN something is presented THEN
// what is recorded or refused. The service's matching (a code's time step, a recovery code's
// index) is given here as `Presented`.
#include <doctest/doctest.h>

#include <portico/domain/project.hpp>
#include <portico/domain/totp.hpp>
#include <portico/errc.hpp>

namespace totp = portico::domain::totp;
namespace errc = portico::errc;
using Kind = totp::Presented::Kind;

namespace {

constexpr portico::domain::TimeUs kNow = 1'795'000'000'000'000;

totp::Presented code(std::int64_t step) { return {Kind::code, step, 0}; }
totp::Presented recovery(std::uint32_t index) { return {Kind::recovery, 0, index}; }

std::vector<std::string> ten_hashes() {
  std::vector<std::string> h;
  for (int i = 0; i < 10; ++i) h.push_back("hash-" + std::to_string(i));
  return h;
}

// Two-factor on, confirmed with a code of step 100.
totp::State enabled() {
  totp::State s;
  totp::apply(s, totp::TotpEnrolStarted{kNow, "sealed"});
  totp::apply(s, totp::TotpEnabled{kNow, 100, ten_hashes()});
  return s;
}

template <class T>
bool is(const portico::Result<totp::Event>& e) {
  return e && std::holds_alternative<T>(*e);
}

}  // namespace

TEST_CASE("enrolment waits for a first matching code and then keeps the secret") {
  totp::State s;
  REQUIRE(is<totp::TotpEnrolStarted>(totp::enrol(s, "sealed-1", kNow)));
  auto confirmed = totp::confirm(s, code(5), ten_hashes(), kNow);  // nothing pending yet
  REQUIRE_FALSE(confirmed);
  CHECK(confirmed.error().code == errc::kConflict);

  totp::apply(s, totp::TotpEnrolStarted{kNow, "sealed-1"});
  totp::apply(s, totp::TotpEnrolStarted{kNow, "sealed-2"});  // started again: the new secret
  CHECK(s.pending_secret == "sealed-2");
  CHECK_FALSE(s.enabled);
  for (auto p : {totp::Presented{Kind::wrong}, totp::Presented{Kind::nothing}, recovery(0)}) {
    auto refused = totp::confirm(s, p, ten_hashes(), kNow);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == errc::kInvalidRequest);
    CHECK(refused.error().field == "code");
  }
  auto ok = totp::confirm(s, code(100), ten_hashes(), kNow);
  REQUIRE(is<totp::TotpEnabled>(ok));
  totp::apply(s, std::get<totp::TotpEnabled>(*ok));
  CHECK(s.enabled);
  CHECK(s.secret == "sealed-2");
  CHECK(s.pending_secret.empty());
  CHECK(s.last_step == 100);  // the confirming code cannot sign in afterwards

  auto again = totp::enrol(s, "sealed-3", kNow);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::kConflict);
}

TEST_CASE("with two-factor off a password sign-in records nothing and needs no code") {
  totp::State off;
  auto r = totp::sign_in(off, {Kind::nothing}, kNow);
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
  totp::apply(off, totp::TotpEnrolStarted{kNow, "sealed"});  // pending is not on
  r = totp::sign_in(off, {Kind::nothing}, kNow);
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
}

TEST_CASE("with two-factor on a sign-in needs a fresh code and each code works once") {
  totp::State s = enabled();
  auto missing = totp::sign_in(s, {Kind::nothing}, kNow);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == errc::kTotpRequired);
  auto wrong = totp::sign_in(s, {Kind::wrong}, kNow);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == errc::kInvalidCredentials);
  auto confirming = totp::sign_in(s, code(100), kNow);  // the step that turned it on
  REQUIRE_FALSE(confirming);
  CHECK(confirming.error().code == errc::kInvalidCredentials);

  auto next = totp::sign_in(s, code(101), kNow);
  REQUIRE(next);
  REQUIRE(next->has_value());
  const auto& used = std::get<totp::TotpCodeUsed>(**next);
  CHECK(used.step == 101);
  totp::apply(s, used);
  for (std::int64_t step : {101, 100, 99}) {  // a replay, and older codes still in the window
    CAPTURE(step);
    auto replay = totp::sign_in(s, code(step), kNow);
    REQUIRE_FALSE(replay);
    CHECK(replay.error().code == errc::kInvalidCredentials);
  }
  CHECK(totp::sign_in(s, code(102), kNow));
}

TEST_CASE("a recovery code signs in once") {
  totp::State s = enabled();
  auto first = totp::sign_in(s, recovery(3), kNow);
  REQUIRE(first);
  REQUIRE(first->has_value());
  totp::apply(s, std::get<totp::RecoveryCodeUsed>(**first));
  auto again = totp::sign_in(s, recovery(3), kNow);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::kInvalidCredentials);
  CHECK(totp::sign_in(s, recovery(4), kNow));
  CHECK_FALSE(totp::sign_in(s, recovery(10), kNow));  // there are ten: 0 to 9
}

TEST_CASE("disabling takes a fresh code or an unused recovery code and leaves old codes void") {
  totp::State s = enabled();
  totp::apply(s, totp::RecoveryCodeUsed{kNow, 0});
  for (auto p :
       {code(100), recovery(0), totp::Presented{Kind::wrong}, totp::Presented{Kind::nothing}}) {
    auto refused = totp::disable(s, p, kNow);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().field == "code");
  }
  CHECK(is<totp::TotpDisabled>(totp::disable(s, recovery(1), kNow)));
  auto off = totp::disable(s, code(101), kNow);
  REQUIRE(is<totp::TotpDisabled>(off));
  totp::apply(s, std::get<totp::TotpDisabled>(*off));
  CHECK_FALSE(s.enabled);
  CHECK(s.secret.empty());
  CHECK(s.recovery_hashes.empty());
  CHECK(s.last_step == 100);
  auto twice = totp::disable(s, code(102), kNow);
  REQUIRE_FALSE(twice);
  CHECK(twice.error().code == errc::kConflict);
  // Enrolled again: a code seen before still cannot confirm it.
  totp::apply(s, totp::TotpEnrolStarted{kNow, "sealed-new"});
  CHECK_FALSE(totp::confirm(s, code(100), ten_hashes(), kNow));
  CHECK(totp::confirm(s, code(103), ten_hashes(), kNow));
}

TEST_CASE("a project requiring two-factor sign-in for staff refuses a member without it") {
  portico::domain::project::State p;
  p.settings.name = "Acme Support";
  CHECK(portico::domain::project::check_staff_totp(p, false));  // optional by default
  p.settings.staff_totp = "required";
  auto refused = portico::domain::project::check_staff_totp(p, false);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::kForbidden);
  CHECK(refused.error().message.find("two-factor") != std::string::npos);
  CHECK(portico::domain::project::check_staff_totp(p, true));
}

TEST_CASE("the operator's reset turns off two-factor sign-in without a code") {
  totp::State s = enabled();
  CHECK(is<totp::TotpDisabled>(totp::reset(s, kNow)));
  totp::State pending;
  totp::apply(pending, totp::TotpEnrolStarted{kNow, "sealed"});
  CHECK(is<totp::TotpDisabled>(totp::reset(pending, kNow)));
  auto off = totp::reset(totp::State{}, kNow);
  REQUIRE_FALSE(off);
  CHECK(off.error().code == errc::kConflict);
}
