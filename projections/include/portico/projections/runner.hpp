// portico::projections::Runner — feeds an async projection from a subscription.
//
// The runner reads the projection's checkpoint, subscribes to the log from the next position and
// hands each batch to Log::apply_projection, which applies it and moves the checkpoint in one
// transaction. Delivery is at least once (after a crash the batch in flight comes again), and the
// log skips what the checkpoint already covers, so each event changes the tables exactly once.
//
// Thread safety: start() and stop() from one owner thread; position() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <portico/log/log.hpp>
#include <string>
#include <thread>

namespace portico::projections {

struct RunnerOptions {
  std::size_t batch = 512;               // events per transaction, at most
  std::chrono::milliseconds poll{200};   // how long one wait for new events lasts
  std::chrono::milliseconds retry{500};  // pause after a failed batch before retrying
  // After applying a batch that was not full, wait this long before reading on: on a busy log
  // the events of many commits then share one transaction (and one fsync) instead of each commit
  // being followed by one of the runner's, which also holds LMDB's single writer lock. Zero
  // applies every commit as soon as it lands.
  std::chrono::milliseconds linger{20};
  std::function<void(const log::LogError&)> on_error;  // a batch failed (it is retried)
};

class Runner {
 public:
  // `log` must outlive the runner and have `projection` registered in Options::async_projections.
  Runner(log::Log& log, std::string projection, RunnerOptions options = {});
  ~Runner();  // stops
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Starts the feeding thread; an error when the projection is unknown.
  log::LogResult<void> start();
  // Stops after the batch in flight; idempotent.
  void stop();
  // The projection's checkpoint as this runner last saw it.
  std::uint64_t position() const noexcept { return position_.load(); }
  // Blocks until the checkpoint reaches `position` or `timeout` passes; true when reached.
  bool wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const;

 private:
  void run(log::Subscription subscription);

  log::Log& log_;
  std::string projection_;
  RunnerOptions options_;
  std::atomic<std::uint64_t> position_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace portico::projections
