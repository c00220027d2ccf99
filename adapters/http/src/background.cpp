#include "background.hpp"

namespace portico::http::detail {

Background::Background(std::size_t max_jobs) : max_jobs_(max_jobs), thread_([this] { run(); }) {}

Background::~Background() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

bool Background::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (jobs_.size() >= max_jobs_) return false;
    jobs_.push_back(std::move(job));
  }
  work_.notify_one();
  return true;
}

void Background::flush() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return jobs_.empty() && running_ == 0; });
}

void Background::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and everything queued has run
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    lock.unlock();
    try {
      job();
    } catch (...) {
      // Nobody waits for a job's outcome: the request it came from was answered already.
    }
    lock.lock();
    --running_;
    if (jobs_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace portico::http::detail
