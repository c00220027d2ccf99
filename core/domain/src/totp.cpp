#include <portico/domain/totp.hpp>
#include <portico/errc.hpp>

namespace portico::domain::totp {

void apply(State& s, const TotpEnrolStarted& e) { s.pending_secret = e.sealed_secret; }

void apply(State& s, const TotpEnabled& e) {
  s.secret = std::move(s.pending_secret);
  s.pending_secret.clear();
  s.enabled = true;
  s.last_step = std::max(s.last_step, e.step);
  s.recovery_hashes = e.recovery_hashes;
  s.recovery_used.clear();
}

void apply(State& s, const TotpDisabled&) {
  const std::int64_t last = s.last_step;
  s = State{};
  s.last_step = last;  // a code seen once stays void, whatever comes next
}

void apply(State& s, const TotpCodeUsed& e) { s.last_step = std::max(s.last_step, e.step); }

void apply(State& s, const RecoveryCodeUsed& e) { s.recovery_used.insert(e.index); }

namespace {

// A code that has not been accepted before, or a recovery code not used before.
bool fresh(const State& s, const Presented& p) {
  switch (p.kind) {
    case Presented::Kind::code:
      return p.step > s.last_step;
    case Presented::Kind::recovery:
      return p.index < s.recovery_hashes.size() && !s.recovery_used.contains(p.index);
    case Presented::Kind::nothing:
    case Presented::Kind::wrong:
      break;
  }
  return false;
}

}  // namespace

Result<Event> enrol(const State& s, std::string sealed_secret, TimeUs now) {
  if (s.enabled) {
    return fail(errc::kConflict, "two-factor sign-in is on already: disable it first");
  }
  if (sealed_secret.empty()) return fail(errc::kInvalidRequest, "no secret");
  return TotpEnrolStarted{now, std::move(sealed_secret)};
}

Result<Event> confirm(const State& s, const Presented& p, std::vector<std::string> recovery_hashes,
                      TimeUs now) {
  if (s.enabled) return fail(errc::kConflict, "two-factor sign-in is on already");
  if (s.pending_secret.empty()) {
    return fail(errc::kConflict, "start the enrolment first (POST …/totp)");
  }
  if (p.kind != Presented::Kind::code || !fresh(s, p)) {
    return fail(errc::kInvalidRequest, "the code does not match: try the one showing now", "code");
  }
  if (recovery_hashes.size() != kRecoveryCodes) {
    return fail(errc::kInvalidRequest, "ten recovery codes are made at confirmation");
  }
  return TotpEnabled{now, p.step, std::move(recovery_hashes)};
}

Result<std::optional<Event>> sign_in(const State& s, const Presented& p, TimeUs now) {
  if (!s.enabled) return std::optional<Event>{};
  if (p.kind == Presented::Kind::nothing) {
    return fail(errc::kTotpRequired, "this account needs its two-factor code (totp)");
  }
  if (!fresh(s, p)) {
    return fail(errc::kInvalidCredentials, "the e-mail, password or code is not right");
  }
  if (p.kind == Presented::Kind::code) return std::optional<Event>{TotpCodeUsed{now, p.step}};
  return std::optional<Event>{RecoveryCodeUsed{now, p.index}};
}

Result<Event> reset(const State& s, TimeUs now) {
  if (!s.enabled && s.pending_secret.empty()) {
    return fail(errc::kConflict, "two-factor sign-in is not on");
  }
  return TotpDisabled{now};
}

Result<Event> disable(const State& s, const Presented& p, TimeUs now) {
  if (!s.enabled) return fail(errc::kConflict, "two-factor sign-in is not on");
  if (!fresh(s, p)) {
    return fail(errc::kInvalidRequest, "give a current code or an unused recovery code", "code");
  }
  return TotpDisabled{now};
}

}  // namespace portico::domain::totp
