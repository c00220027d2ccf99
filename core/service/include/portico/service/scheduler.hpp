// portico::service::Scheduler — issues the ticket timers: scheduled closures, auto-close of
// pending_closure and resolved tickets, survey expiry.
//
// It follows the log (from the start, so a restart rebuilds every timer), keeps the next due time
// of each ticket that has one, and when a time comes issues ApplyTimers with a command id derived
// from the ticket and the due time. The decider does nothing when nothing is due, and the command
// id makes a second issue (after a restart, or from a second scheduler) a replay: each timer acts
// exactly once.
#pragma once

#include <atomic>
#include <map>
#include <portico/clock.hpp>
#include <portico/service/portal.hpp>
#include <portico/warning.hpp>
#include <set>
#include <thread>
#include <utility>

namespace portico::service {

struct SchedulerOptions {
  // When timers are due (portico/clock.hpp); the portal's clock (Portal::now) when empty, so
  // that a timer fires when the portal also judges it due.
  Clock clock;
  // Told when a step of the thread of start() fails (the log refuses writes, say); the thread
  // tries again a second later. Called from that thread (portico/warning.hpp); empty: the default.
  WarningSink on_warning = warn_on_stderr;
};

class Scheduler {
 public:
  // `portal` (and its log) must outlive the scheduler.
  explicit Scheduler(Portal& portal, SchedulerOptions options = {});
  // The same as SchedulerOptions{clock}: kept for callers that only fake the time.
  Scheduler(Portal& portal, Clock clock);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Reads what the log gained (waiting up to `wait` for something when nothing is due), then
  // fires every timer due now. Returns how many tickets it acted on. Not for concurrent use; the
  // thread of start() calls it in a loop.
  Result<std::size_t> step(std::chrono::milliseconds wait = std::chrono::milliseconds(0));

  // Runs step() on a thread of its own until stop() (or destruction). stop() is final: it closes
  // the scheduler's subscription.
  void start();
  void stop();

  // The earliest due time known, if any (for tests and metrics).
  std::optional<domain::TimeUs> next_due() const;

 private:
  using Key = std::pair<std::string, std::uint64_t>;  // project, number
  Result<void> refresh(const Key& key);

  Portal& portal_;
  Clock clock_;
  WarningSink on_warning_;
  log::Subscription subscription_;
  std::set<Key> dirty_;
  std::map<std::string, std::set<std::uint64_t>> tickets_;  // per project, every ticket seen
  std::map<std::string, domain::Policies> policies_;        // per project, cached
  std::multimap<domain::TimeUs, Key> due_;
  std::map<Key, domain::TimeUs> due_of_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace portico::service
