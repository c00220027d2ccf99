// Request guards of the HTTP adapter (private): rate limits and the Idempotency-Key cache.
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <portico/http/app.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::http::detail {

using Clock = std::chrono::steady_clock;

// Token buckets by key ("addr:192.0.2.7", "login:ann@example.com|addr:…"): each holds up to
// `burst` tokens and regains `per_minute` a minute. Keys are kept as their SHA-256 (32 bytes
// whatever the key's length), so memory is bounded by `max_keys` × a fixed entry size. A bucket
// that is full again carries no information and is forgotten: those are swept out by age at
// most every `sweep_every` and whenever the table is full. A bucket that is not full is never
// forgotten (that would hand a drained account its budget back); when the table holds `max_keys`
// of those, a new key is refused (its wait: until the first of them is full again).
//
// Thread safety: every member may be called from any number of threads at once.
class RateLimiter {
 public:
  explicit RateLimiter(std::size_t max_keys = 100'000,
                       std::chrono::seconds sweep_every = std::chrono::seconds(60))
      : max_keys_(max_keys), sweep_every_(sweep_every) {}
  // Takes a token (reserves it, before whatever it pays for is done); when there is none, how
  // long until there is one, and nothing is taken.
  std::optional<std::chrono::seconds> take(std::string_view key, const RateLimit& limit,
                                           Clock::time_point now);
  // Gives a token taken by take() back (what it paid for did not count: a right password).
  void give_back(std::string_view key, const RateLimit& limit, Clock::time_point now);
  // Buckets held now.
  std::size_t size() const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
    Clock::time_point full_at;  // when it holds `burst` again, if nothing is taken meanwhile
  };
  static Digest digest(std::string_view key);
  Bucket* refill(const Digest& key, const RateLimit& limit, Clock::time_point now,
                 std::chrono::seconds* refused);
  static std::chrono::seconds wait(const Bucket& b, const RateLimit& limit);
  static void settle(Bucket& b, const RateLimit& limit);
  void sweep(Clock::time_point now);

  mutable std::mutex mu_;
  std::size_t max_keys_;
  std::chrono::seconds sweep_every_;
  Clock::time_point swept_{};
  std::unordered_map<Digest, Bucket, DigestHash> buckets_;
};

// Keys seen recently (as their SHA-256), each forgotten `ttl` after it was last added; at most
// `max_keys` (past that the oldest half goes). Thread-safe.
class RecentKeys {
 public:
  RecentKeys(std::size_t max_keys, std::chrono::seconds ttl) : max_keys_(max_keys), ttl_(ttl) {}
  void add(std::string_view key, Clock::time_point now);
  bool contains(std::string_view key, Clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  std::size_t max_keys_;
  std::chrono::seconds ttl_;
  std::unordered_map<std::string, Clock::time_point> seen_;  // SHA-256 (raw bytes) -> when
};

// The part of a client address that rate limits and connection caps count: an IPv4 address
// as it is (an IPv4-mapped IPv6 one as IPv4), an IPv6 address by its /64 ("2001:db8:1:2::/64"),
// since whoever holds one address of a /64 usually holds all of them. Text that is no address
// is returned as it is.
std::string address_key(std::string_view address);

// An address range "192.0.2.0/24", "2001:db8::/32", or one address ("127.0.0.1", "::1").
struct Cidr {
  std::array<unsigned char, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
  unsigned prefix = 128;                  // over the 128 bits
};
std::optional<Cidr> parse_cidr(std::string_view text);
// Whether `address` (text) lies in one of `ranges`.
bool in_ranges(const std::vector<Cidr>& ranges, std::string_view address);
// The client of a request that came from `peer`: `peer` itself unless it is one of `proxies`;
// then the rightmost X-Forwarded-For entry (over every such header, in order) that is not a
// trusted proxy. An entry that is no address stops the walk: the hop that wrote it is the client.
std::string forwarded_client(const std::string& peer, const std::vector<Cidr>& proxies,
                             const std::vector<std::string_view>& forwarded_for);

}  // namespace portico::http::detail
