#include <algorithm>
#include <portico/projections/runner.hpp>

namespace portico::projections {

Runner::Runner(log::Log& log, std::string projection, RunnerOptions options)
    : log_(log), projection_(std::move(projection)), options_(std::move(options)) {}

Runner::~Runner() { stop(); }

log::LogResult<void> Runner::start() {
  if (thread_.joinable()) return {};
  auto info = log_.projection_info(projection_);
  if (!info) return Unexpected(std::move(info).error());
  if (info->is_inline) {
    return log::log_error(log::Errc::invalid_argument,
                          "'" + projection_ + "' is inline: the log itself keeps it up to date");
  }
  position_ = info->position;
  stopping_ = false;
  thread_ = std::thread(
      [this, sub = log_.subscribe(info->position + 1)]() mutable { run(std::move(sub)); });
  return {};
}

void Runner::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

bool Runner::wait_for(std::uint64_t position, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (position_.load() < position) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void Runner::run(log::Subscription subscription) {
  std::vector<log::Record> pending;  // read but not yet applied (a failed batch is kept)
  while (!stopping_) {
    if (pending.empty()) {
      auto next = subscription.next(options_.batch, options_.poll);
      if (!next) {
        if (options_.on_error) options_.on_error(next.error());
        std::this_thread::sleep_for(options_.retry);
        continue;
      }
      pending = std::move(*next);
      if (pending.empty()) continue;
    }
    auto applied = log_.apply_projection(projection_, pending);
    if (!applied && applied.error().code == log::Errc::invalid_argument) {
      // A gap: the projection was reset beneath us (rebuild_projections, perhaps from another
      // process). Follow its checkpoint from where it now stands.
      auto info = log_.projection_info(projection_);
      if (info) {
        subscription = log_.subscribe(info->position + 1);
        position_ = info->position;
        pending.clear();
        continue;
      }
    }
    if (!applied) {
      if (options_.on_error) options_.on_error(applied.error());
      // Storage trouble passes; a refusal does not, but retrying it costs little and keeps the
      // order (nothing after a refused event may be applied before it).
      const auto until = std::chrono::steady_clock::now() + options_.retry;
      while (!stopping_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    position_ = *applied;
    const bool full = pending.size() >= options_.batch;
    pending.clear();
    if (!full && options_.linger.count() > 0) {
      const auto until = std::chrono::steady_clock::now() + options_.linger;
      while (!stopping_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            until - std::chrono::steady_clock::now(), std::chrono::milliseconds(10)));
      }
    }
  }
}

}  // namespace portico::projections
