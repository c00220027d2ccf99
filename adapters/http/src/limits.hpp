// Request guards of the HTTP adapter (private): rate limits and the Idempotency-Key cache.
#pragma once

#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <portico/http/app.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portico::http::detail {

using Clock = std::chrono::steady_clock;

// Token buckets by key ("addr:127.0.0.1", "login:ann@example.com"): each holds up to `burst`
// tokens and regains `per_minute` a minute. Bounded: past `max_keys` buckets, those that are
// full again are forgotten (they carry no information), then the oldest.
class RateLimiter {
 public:
  explicit RateLimiter(std::size_t max_keys = 100'000) : max_keys_(max_keys) {}
  // Whether `key` has a token left, without taking it; when not, how long until it has.
  std::optional<std::chrono::seconds> check(const std::string& key, const RateLimit& limit,
                                            Clock::time_point now);
  // Takes a token (the bucket may go empty); answers like check() did before taking.
  std::optional<std::chrono::seconds> take(const std::string& key, const RateLimit& limit,
                                           Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  Bucket& refill(const std::string& key, const RateLimit& limit, Clock::time_point now);
  static std::chrono::seconds wait(const Bucket& b, const RateLimit& limit);
  void prune(Clock::time_point now);

  std::mutex mu_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// The first answer to each (caller, route, Idempotency-Key), kept for a day in memory (ticket
// commands are also idempotent on the log itself, across restarts: their command ids carry the
// key). A retry with another body is refused; one while the first is still being answered waits
// for it.
class IdempotencyCache {
 public:
  explicit IdempotencyCache(std::size_t capacity = 20'000) : capacity_(capacity) {}

  struct Begun {
    bool first = false;              // act: nobody holds this key yet
    std::optional<Response> stored;  // the first answer, to give again
    bool mismatch = false;           // the key was used with another request body
  };
  Begun begin(const std::string& key, const std::string& body_hash);
  // Records the first answer (or forgets the key when `response` is null: it may be retried).
  void finish(const std::string& key, const Response* response);

 private:
  struct Entry {
    std::string body_hash;
    std::optional<Response> response;  // empty while the first request is under way
    Clock::time_point at;
  };
  std::mutex mu_;
  std::condition_variable done_;
  std::size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // oldest first
};

}  // namespace portico::http::detail
