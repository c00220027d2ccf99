// Subscriptions: waiting for commits (wait_for_commit, publish's other half), the watcher thread
// that sees other processes' commits, and portico::log::Subscription.
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <portico/log/log.hpp>
#include <thread>
#include <utility>

#include "log_impl.hpp"

namespace portico::log {
namespace detail {

bool LogImpl::wait_for_commit(std::uint64_t after, const std::atomic<bool>& closed,
                              std::chrono::steady_clock::time_point deadline) {
  start_watcher();
  std::unique_lock lock(notify_mu_);
  auto ready = [&] { return closed.load() || published_head_ > after; };
  if (!watcher_failed_) return notify_cv_.wait_until(lock, deadline, ready);
  // Without the watcher, commits of other processes are only seen by looking again now and then.
  const auto slice = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  notify_cv_.wait_until(lock, std::min(deadline, slice), ready);
  return std::chrono::steady_clock::now() < deadline || ready();
}

void LogImpl::start_watcher() {
  std::lock_guard lock(watcher_mu_);
  if (watcher_.joinable() || watcher_failed_) return;
  const int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    std::lock_guard notify_lock(notify_mu_);
    watcher_failed_ = true;
    return;
  }
  stop_fd_ = stop;
  // A commit that landed before the watcher started: look once now.
  if (auto h = head()) publish(*h);
  watcher_ = std::thread([this, stop] {
    pthread_setname_np(pthread_self(), "portico-watch");
    // Commits of this process wake their subscribers directly; this thread looks for those of
    // other processes (portico-admin beside a server) by reading LMDB's last transaction id from
    // the lock file's shared memory, which costs no system call. It looks every 2 ms after a
    // foreign commit, backing off to every 50 ms while there is none. (inotify on data.mdb
    // wakes sooner but charged every page this process writes with an event.)
    // A commit's id is in its meta page a moment before a new reader sees the commit, so after
    // a foreign one the head is read a few times over.
    constexpr int kFastMs = 2, kSlowMs = 50, kRereads = 3;
    int interval = kSlowMs, rereads = 0;
    std::size_t seen = 0;
    for (;;) {
      pollfd fd{stop, POLLIN, 0};
      const int ready = ::poll(&fd, 1, interval);
      if (ready < 0 && errno != EINTR) break;
      if (ready > 0) break;  // stopping
      // Environment::info takes the map lock: a growing log remaps the memory it reads.
      if (const std::size_t last = env_.info().last_txn_id; last != seen) {
        seen = last;
        // This process's own commit of appends published itself (and everything before it).
        if (seen != own_txn_id_.load(std::memory_order_relaxed)) rereads = kRereads;
      }
      if (rereads > 0) {
        --rereads;
        interval = kFastMs;
        if (auto h = head()) publish(*h);
      } else {
        interval = std::min(interval * 2, kSlowMs);
      }
    }
  });
}

void LogImpl::stop_watcher() {
  std::lock_guard lock(watcher_mu_);
  if (!watcher_.joinable()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  watcher_.join();
  ::close(stop_fd_);
  stop_fd_ = -1;
}

}  // namespace detail

// ---- Subscription ----

struct Subscription::State {
  std::atomic<bool> closed{false};
};

Subscription::Subscription(detail::LogImpl* log, std::uint64_t from_position)
    : log_(log),
      position_(from_position == 0 ? 0 : from_position - 1),
      state_(std::make_shared<State>()) {
  log_->subscription_opened();
}

Subscription::Subscription(Subscription&& o) noexcept
    : log_(std::exchange(o.log_, nullptr)), position_(o.position_), state_(std::move(o.state_)) {}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    if (log_) log_->subscription_closed();
    log_ = std::exchange(o.log_, nullptr);
    position_ = o.position_;
    state_ = std::move(o.state_);
  }
  return *this;
}

Subscription::~Subscription() {
  if (log_) log_->subscription_closed();
}

void Subscription::close() {
  if (!log_) return;
  state_->closed = true;
  log_->wake_all();
}

LogResult<std::vector<Record>> Subscription::next(std::size_t max_count,
                                                  std::chrono::milliseconds timeout) {
  if (!log_ || state_->closed) return log_error(Errc::closed, "the subscription is closed");
  // A year stands in for "for ever" without overflowing the clock.
  constexpr std::chrono::milliseconds kForever = std::chrono::hours(24 * 365);
  const auto deadline = std::chrono::steady_clock::now() + std::min(timeout, kForever);
  for (;;) {
    auto records = log_->read_all(position_ + 1, std::clamp<std::size_t>(max_count, 1, 4096));
    if (!records) return records;
    if (!records->empty()) {
      position_ = records->back().position;
      return records;
    }
    if (!log_->wait_for_commit(position_, state_->closed, deadline)) return records;
    if (state_->closed) return log_error(Errc::closed, "the subscription is closed");
  }
}

}  // namespace portico::log
