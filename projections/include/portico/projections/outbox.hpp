// portico::projections::Outbox — deliveries waiting to go out (e-mail now; Discord and Slack
// later).
//
// An async projection ("outbox"), fed by a Runner: each event that warrants telling a customer
// (PRODUCT.md, "E-mail": ticket created, staff replied, status changed, closed, feedback
// requested) becomes one pending delivery per recipient. A sender takes what is due, tries it,
// and marks it delivered (gone) or failed (tried again later with exponential backoff, parked as
// dead after kMaxAttempts). A failing integration therefore never blocks or loses a ticket action:
// the action is in the log, and its delivery waits here until it goes through.
//
// Thread safety: any number of threads may call an Outbox; each call is one transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/log/log.hpp>
#include <span>
#include <string>
#include <vector>

namespace portico::projections {

struct Delivery {
  std::string id;       // stable: "{position}:{recipient}"
  std::string kind;     // ticket_created, staff_replied, status_changed, closed, feedback_requested
  std::string channel;  // "email"
  std::string recipient;  // customer id
  std::string project;
  std::uint64_t ticket = 0;
  std::uint64_t position = 0;  // the event it tells of
  domain::TimeUs created_at = 0;
  domain::TimeUs next_attempt_at = 0;
  std::uint32_t attempts = 0;
  std::string last_error;

  friend bool operator==(const Delivery&, const Delivery&) = default;
};

class Outbox {
 public:
  static constexpr std::string_view kName = "outbox";
  // With the backoff below (doubling from 30 s up to 6 h), 30 attempts span about five days, as
  // mail servers keep trying: a receiving side down for a weekend loses nothing.
  static constexpr std::uint32_t kMaxAttempts = 30;
  // Register in log::Options::async_projections and feed with Runner(log, "outbox").
  static std::shared_ptr<log::Projection> projection();

  static constexpr domain::TimeUs kFirstRetry = 30 * domain::kSecond;
  // `first_retry`: the wait after a first failure (then doubled at each one, at most 6 h).
  explicit Outbox(log::Log& log, domain::TimeUs first_retry = kFirstRetry)
      : log_(log), first_retry_(first_retry) {}

  // Deliveries whose next attempt is due at `now`, oldest first.
  Result<std::vector<Delivery>> due(domain::TimeUs now, std::size_t limit = 100) const;
  // Every pending delivery (dead ones excluded), oldest first, at most `limit`.
  Result<std::vector<Delivery>> pending(std::size_t limit = 1000) const;
  Result<std::uint64_t> pending_count() const;
  Result<std::vector<Delivery>> dead(std::size_t limit = 100) const;
  // It went out: removed. An unknown id is not_found.
  Result<void> delivered(const std::string& id);
  // These went out: all removed in one write (one commit for a batch of mail, not one each).
  // Ids no longer pending (settled meanwhile) are skipped.
  Result<void> delivered(std::span<const std::string> ids);
  // Whether a failed delivery is worth another attempt: `never` when the receiving side gave
  // its final answer (an SMTP 5xx), `later` for everything that may pass (a server down).
  enum class Retry { later, never };
  // It did not: tried again after first_retry × 2^(attempts-1) (at most 6 h), or parked as
  // dead after kMaxAttempts or at once when `retry` is never.
  Result<void> failed(const std::string& id, domain::TimeUs now, const std::string& error,
                      Retry retry = Retry::later);
  // A dead delivery pending again, due at `now`, with a fresh set of attempts (its last error
  // kept): the operator fixed what made it fail. An id that is not dead is not_found.
  Result<void> retry(const std::string& id, domain::TimeUs now);

 private:
  log::Log& log_;
  domain::TimeUs first_retry_;
};

}  // namespace portico::projections
