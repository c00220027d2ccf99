// Work done after the answer (private to adapters/http): sign-in e-mails whose answer must not
// depend on whether an account exists (password reset, registration) are queued here, so the
// request answers in the same way and the same time whatever the address (security review M3).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace portico::http::detail {

// One worker thread running jobs in order. Thread-safe. The destructor runs what is queued, then
// joins. A job must not throw (one that does is dropped: its exception is swallowed).
class Background {
 public:
  explicit Background(std::size_t max_jobs = 10'000);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // Queues `job`; false (and nothing queued) when `max_jobs` are waiting already.
  bool post(std::function<void()> job);
  // Blocks until every job queued before the call has run.
  void flush();

 private:
  void run();

  std::mutex mu_;
  std::condition_variable work_, idle_;
  std::deque<std::function<void()>> jobs_;
  std::size_t max_jobs_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace portico::http::detail
