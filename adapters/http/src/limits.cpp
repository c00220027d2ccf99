#include "limits.hpp"

#include <algorithm>
#include <cmath>

namespace portico::http::detail {

RateLimiter::Bucket& RateLimiter::refill(const std::string& key, const RateLimit& limit,
                                         Clock::time_point now) {
  auto [it, fresh] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (fresh) {
    if (buckets_.size() > max_keys_) {
      prune(now);
      return refill(key, limit, now);
    }
    b.tokens = limit.burst;
    b.at = now;
    return b;
  }
  const double minutes = std::chrono::duration<double>(now - b.at).count() / 60.0;
  b.tokens = std::min(limit.burst, b.tokens + minutes * limit.per_minute);
  b.at = now;
  return b;
}

std::chrono::seconds RateLimiter::wait(const Bucket& b, const RateLimit& limit) {
  const double missing = 1.0 - b.tokens;
  const double seconds = limit.per_minute > 0 ? missing * 60.0 / limit.per_minute : 3600.0;
  return std::chrono::seconds(std::max<long>(1, static_cast<long>(std::ceil(seconds))));
}

std::optional<std::chrono::seconds> RateLimiter::check(const std::string& key,
                                                       const RateLimit& limit,
                                                       Clock::time_point now) {
  std::lock_guard lock(mu_);
  Bucket& b = refill(key, limit, now);
  if (b.tokens >= 1.0) return std::nullopt;
  return wait(b, limit);
}

std::optional<std::chrono::seconds> RateLimiter::take(const std::string& key,
                                                      const RateLimit& limit,
                                                      Clock::time_point now) {
  std::lock_guard lock(mu_);
  Bucket& b = refill(key, limit, now);
  if (b.tokens < 1.0) return wait(b, limit);
  b.tokens -= 1.0;
  return std::nullopt;
}

void RateLimiter::prune(Clock::time_point now) {
  // Buckets untouched for an hour are full again under any limit that refills at least once an
  // hour: forgetting them changes nothing. If that frees too little, forget the stalest half.
  std::erase_if(buckets_,
                [&](const auto& kv) { return now - kv.second.at > std::chrono::hours(1); });
  if (buckets_.size() * 2 > max_keys_) {
    std::vector<Clock::time_point> ages;
    ages.reserve(buckets_.size());
    for (const auto& [k, b] : buckets_) ages.push_back(b.at);
    auto middle = ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2);
    std::nth_element(ages.begin(), middle, ages.end());
    const auto cut = *middle;
    std::erase_if(buckets_, [&](const auto& kv) { return kv.second.at <= cut; });
  }
}

IdempotencyCache::Begun IdempotencyCache::begin(const std::string& key,
                                                const std::string& body_hash) {
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = Clock::now();
    auto it = entries_.find(key);
    if (it != entries_.end() && now - it->second.at > std::chrono::hours(24)) {
      order_.remove(key);
      entries_.erase(it);
      it = entries_.end();
    }
    if (it == entries_.end()) {
      while (entries_.size() >= capacity_ && !order_.empty()) {
        entries_.erase(order_.front());
        order_.pop_front();
      }
      entries_.emplace(key, Entry{body_hash, std::nullopt, now});
      order_.push_back(key);
      return {true, std::nullopt, false};
    }
    if (it->second.body_hash != body_hash) return {false, std::nullopt, true};
    if (it->second.response) return {false, it->second.response, false};
    // The first request with this key is still being answered: its answer is ours too.
    if (done_.wait_for(lock, std::chrono::seconds(30)) == std::cv_status::timeout) {
      return {false, std::nullopt, false};
    }
  }
}

void IdempotencyCache::finish(const std::string& key, const Response* response) {
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (response) {
        it->second.response = *response;
      } else {
        order_.remove(key);
        entries_.erase(it);
      }
    }
  }
  done_.notify_all();
}

}  // namespace portico::http::detail
