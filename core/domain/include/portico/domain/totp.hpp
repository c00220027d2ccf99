// Two-factor sign-in (TOTP, RFC 6238) as the customer and staff streams record it: the events
// both carry, the part of their state those events fold to, and the rules (API.md part 2,
// "Two-factor sign-in").
//
// Pure like the rest of the domain: the service seals the secret and checks a presented code
// against it (liboath) and against the recovery codes' hashes, and tells the rules what it
// matched (`Presented`). The rules decide what that means: a code is accepted once (its time
// step must be newer than the last one accepted), a recovery code once, and a sign-in with
// two-factor on needs one of them.
//
// Streams: "customer:{id}" (customer.hpp) and "staff:{id}" (account.hpp) carry these events.
#pragma once

#include <boost/describe/class.hpp>
#include <cstdint>
#include <optional>
#include <portico/domain/common.hpp>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::domain::totp {

inline constexpr std::size_t kRecoveryCodes = 10;

// ---- Events ----

// Enrolment began: a new secret, sealed with the server's key, waits for a first code. Starting
// again replaces it.
struct TotpEnrolStarted {
  static constexpr std::string_view kType = "TotpEnrolStarted";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string sealed_secret;
};
// The first code matched the waiting secret: two-factor sign-in is on, with these recovery
// codes (keyed hashes; the codes themselves were shown once). `step` is the code's time step.
struct TotpEnabled {
  static constexpr std::string_view kType = "TotpEnabled";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::int64_t step = 0;
  std::vector<std::string> recovery_hashes;
};
struct TotpDisabled {
  static constexpr std::string_view kType = "TotpDisabled";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
};
// A code was accepted (at a sign-in): codes of this step and earlier ones are void now.
struct TotpCodeUsed {
  static constexpr std::string_view kType = "TotpCodeUsed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::int64_t step = 0;
};
// Recovery code number `index` (of TotpEnabled's) was used; it never works again.
struct RecoveryCodeUsed {
  static constexpr std::string_view kType = "RecoveryCodeUsed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::uint32_t index = 0;
};
BOOST_DESCRIBE_STRUCT(TotpEnrolStarted, (), (at, sealed_secret))
BOOST_DESCRIBE_STRUCT(TotpEnabled, (), (at, step, recovery_hashes))
BOOST_DESCRIBE_STRUCT(TotpDisabled, (), (at))
BOOST_DESCRIBE_STRUCT(TotpCodeUsed, (), (at, step))
BOOST_DESCRIBE_STRUCT(RecoveryCodeUsed, (), (at, index))

using Event =
    std::variant<TotpEnrolStarted, TotpEnabled, TotpDisabled, TotpCodeUsed, RecoveryCodeUsed>;

// An aggregate's event variant holding the TOTP event `e` (each is an alternative of both).
template <class AggregateEvent>
AggregateEvent widen(const Event& e) {
  return std::visit([](const auto& x) -> AggregateEvent { return x; }, e);
}

// ---- State (a part of customer::State and account::State) ----

struct State {
  std::string pending_secret;  // sealed; enrolment started and not confirmed
  std::string secret;          // sealed; while on
  bool enabled = false;
  std::int64_t last_step = -1;  // the newest time step a code was accepted for
  std::vector<std::string> recovery_hashes;
  std::set<std::uint32_t> recovery_used;
  friend bool operator==(const State&, const State&) = default;
};

void apply(State& state, const TotpEnrolStarted& e);
void apply(State& state, const TotpEnabled& e);
void apply(State& state, const TotpDisabled& e);
void apply(State& state, const TotpCodeUsed& e);
void apply(State& state, const RecoveryCodeUsed& e);

// ---- Rules ----

// What the caller presented, as the service matched it.
struct Presented {
  enum class Kind {
    nothing,   // no code given
    code,      // a code that matched the secret at time step `step`
    recovery,  // recovery code number `index` (its hash matched)
    wrong,     // a code that matched nothing
  };
  Kind kind = Kind::nothing;
  std::int64_t step = 0;
  std::uint32_t index = 0;
};

// A new secret to confirm. conflict when two-factor sign-in is on already (disable it first).
Result<Event> enrol(const State& state, std::string sealed_secret, TimeUs now);
// The first code: on, with these recovery hashes. conflict without an enrolment under way or
// when it is on already; invalid_request (field "code") for anything but a matching code.
Result<Event> confirm(const State& state, const Presented& presented,
                      std::vector<std::string> recovery_hashes, TimeUs now);
// A password sign-in's second step. With two-factor off: nothing to record. On: totp_required
// when nothing was presented; invalid_credentials for a wrong code, a code of a step already
// used (a replay) or a used recovery code; else the event that uses it up.
Result<std::optional<Event>> sign_in(const State& state, const Presented& presented, TimeUs now);
// Off by the operator's hand (a member who lost the phone and the recovery codes): no code.
// conflict when it is neither on nor being enrolled.
Result<Event> reset(const State& state, TimeUs now);
// Off again, with a current code or an unused recovery code. conflict when it is not on;
// invalid_request (field "code") otherwise.
Result<Event> disable(const State& state, const Presented& presented, TimeUs now);

}  // namespace portico::domain::totp
