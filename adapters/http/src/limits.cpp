#include "limits.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <portico/http/tokens.hpp>

namespace portico::http::detail {

namespace asio = boost::asio;

std::size_t RateLimiter::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

RateLimiter::Digest RateLimiter::digest(std::string_view key) {
  Digest d{};
  unsigned int length = 0;
  EVP_Digest(key.data(), key.size(), d.data(), &length, EVP_sha256(), nullptr);
  return d;
}

void RateLimiter::settle(Bucket& b, const RateLimit& limit) {
  if (b.tokens >= limit.burst) {
    b.full_at = b.at;
  } else if (limit.per_minute <= 0) {
    b.full_at = Clock::time_point::max();
  } else {
    const double minutes = (limit.burst - b.tokens) / limit.per_minute;
    b.full_at = b.at + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(minutes * 60.0 + 1.0));
  }
}

RateLimiter::Bucket* RateLimiter::refill(const Digest& key, const RateLimit& limit,
                                         Clock::time_point now, std::chrono::seconds* refused) {
  if (now - swept_ >= sweep_every_) sweep(now);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) sweep(now);
    if (buckets_.size() >= max_keys_) {
      // Full of buckets that still count: the new key waits until one of them is full again.
      auto first = Clock::time_point::max();
      for (const auto& [k, b] : buckets_) first = std::min(first, b.full_at);
      const auto left = first == Clock::time_point::max()
                            ? std::chrono::seconds(3600)
                            : std::chrono::duration_cast<std::chrono::seconds>(first - now) +
                                  std::chrono::seconds(1);
      if (refused) *refused = std::max(std::chrono::seconds(1), left);
      return nullptr;
    }
    it = buckets_.emplace(key, Bucket{limit.burst, now, now}).first;
    return &it->second;
  }
  Bucket& b = it->second;
  const double minutes = std::chrono::duration<double>(now - b.at).count() / 60.0;
  b.tokens = std::min(limit.burst, b.tokens + std::max(0.0, minutes) * limit.per_minute);
  b.at = std::max(b.at, now);
  return &b;
}

std::chrono::seconds RateLimiter::wait(const Bucket& b, const RateLimit& limit) {
  const double missing = 1.0 - b.tokens;
  const double seconds = limit.per_minute > 0 ? missing * 60.0 / limit.per_minute : 3600.0;
  return std::chrono::seconds(std::max<long>(1, static_cast<long>(std::ceil(seconds))));
}

std::optional<std::chrono::seconds> RateLimiter::take(std::string_view key, const RateLimit& limit,
                                                      Clock::time_point now) {
  std::lock_guard lock(mu_);
  std::chrono::seconds refused{};
  Bucket* b = refill(digest(key), limit, now, &refused);
  if (!b) return refused;
  if (b->tokens < 1.0) return wait(*b, limit);
  b->tokens -= 1.0;
  settle(*b, limit);
  return std::nullopt;
}

void RateLimiter::give_back(std::string_view key, const RateLimit& limit, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Bucket* b = refill(digest(key), limit, now, nullptr);
  if (!b) return;
  b->tokens = std::min(limit.burst, b->tokens + 1.0);
  settle(*b, limit);
}

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RateLimiter::sweep(Clock::time_point now) {
  swept_ = now;
  std::erase_if(buckets_, [&](const auto& kv) { return kv.second.full_at <= now; });
}

void RecentKeys::add(std::string_view key, Clock::time_point now) {
  const std::string k = token_hash(key);
  std::lock_guard lock(mu_);
  if (seen_.size() >= max_keys_ && !seen_.contains(k)) {
    std::erase_if(seen_, [&](const auto& kv) { return now - kv.second > ttl_; });
    if (seen_.size() >= max_keys_) {
      std::vector<Clock::time_point> ages;
      ages.reserve(seen_.size());
      for (const auto& [key_hash, at] : seen_) ages.push_back(at);
      auto middle = ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2);
      std::nth_element(ages.begin(), middle, ages.end());
      const auto cut = *middle;
      std::erase_if(seen_, [&](const auto& kv) { return kv.second <= cut; });
    }
  }
  seen_[k] = now;
}

bool RecentKeys::contains(std::string_view key, Clock::time_point now) const {
  const std::string k = token_hash(key);
  std::lock_guard lock(mu_);
  auto it = seen_.find(k);
  return it != seen_.end() && now - it->second <= ttl_;
}

namespace {

std::optional<asio::ip::address_v6> as_v6(std::string_view text) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  if (a.is_v4()) return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4());
  return a.to_v6();
}

}  // namespace

std::string address_key(std::string_view address) {
  auto a = as_v6(address);
  if (!a) return std::string(address);
  if (a->is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, *a).to_string();
  auto bytes = a->to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes).to_string() + "/64";
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  auto a = as_v6(text.substr(0, slash));
  if (!a) return std::nullopt;
  Cidr c;
  c.bytes = a->to_bytes();
  const bool v4 = a->is_v4_mapped();
  if (slash == std::string_view::npos) {
    c.prefix = 128;
  } else {
    const auto digits = text.substr(slash + 1);
    unsigned n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        n > (v4 ? 32u : 128u)) {
      return std::nullopt;
    }
    c.prefix = v4 ? 96 + n : n;
  }
  return c;
}

bool in_ranges(const std::vector<Cidr>& ranges, std::string_view address) {
  auto a = as_v6(address);
  if (!a) return false;
  const auto bytes = a->to_bytes();
  for (const Cidr& r : ranges) {
    bool match = true;
    for (unsigned bit = 0; bit < r.prefix && match; bit += 8) {
      const unsigned bits = std::min(8u, r.prefix - bit);
      const unsigned mask = (0xffu << (8 - bits)) & 0xffu;
      match = (bytes[bit / 8] & mask) == (r.bytes[bit / 8] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string forwarded_client(const std::string& peer, const std::vector<Cidr>& proxies,
                             const std::vector<std::string_view>& forwarded_for) {
  if (proxies.empty() || !in_ranges(proxies, peer)) return peer;
  std::vector<std::string_view> hops;
  for (std::string_view header : forwarded_for) {
    while (!header.empty()) {
      const auto comma = header.find(',');
      std::string_view hop = header.substr(0, comma);
      while (!hop.empty() && (hop.front() == ' ' || hop.front() == '\t')) hop.remove_prefix(1);
      while (!hop.empty() && (hop.back() == ' ' || hop.back() == '\t')) hop.remove_suffix(1);
      hops.push_back(hop);
      header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    }
  }
  std::string client = peer;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto a = as_v6(*it);
    if (!a) break;  // not an address: the hop that wrote it is the client we know
    client = a->is_v4_mapped() ? asio::ip::make_address_v4(asio::ip::v4_mapped, *a).to_string()
                               : a->to_string();
    if (!in_ranges(proxies, client)) break;
  }
  return client;
}

}  // namespace portico::http::detail
