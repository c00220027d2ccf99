#include "idempotency.hpp"

namespace portico::http::detail {

namespace {

using Clock = std::chrono::steady_clock;

// What an answer costs to keep: its body and headers, roughly.
std::size_t size_of(const Response& r) {
  std::size_t n = r.body().size() + 64;
  for (const auto& field : r) n += field.name_string().size() + field.value().size() + 4;
  return n;
}

}  // namespace

IdempotencyStore::IdempotencyStore(IdempotencyLimits limits) : limits_(limits) {}

std::variant<IdempotencyStore::Claim, IdempotencyStore::Begun> IdempotencyStore::begin(
    const std::string& owner, const std::string& scope, const std::string& body_hash) {
  const std::string key = owner + "\n" + scope;
  std::unique_lock lock(mu_);
  // One deadline for the whole wait, however often other keys' answers wake us.
  const auto deadline = Clock::now() + limits_.wait;
  for (;;) {
    const auto now = Clock::now();
    auto it = entries_.find(key);
    if (it != entries_.end() && now - it->second.at > limits_.keep_for) {
      erase(it);
      it = entries_.end();
    }
    if (it == entries_.end()) {
      make_room(owner);
      auto& owned = by_owner_[owner];
      order_.push_back(key);
      owned.push_back(key);
      entries_.emplace(key, Entry{owner, body_hash, std::nullopt, 0, now, std::prev(order_.end()),
                                  std::prev(owned.end())});
      return Claim(this, key);
    }
    if (it->second.body_hash != body_hash) return Begun{std::nullopt, true, false};
    if (it->second.response) return Begun{it->second.response, false, false};
    // The first request with this key is still being answered: its answer is ours too.
    if (done_.wait_until(lock, deadline) == std::cv_status::timeout && Clock::now() >= deadline) {
      return Begun{std::nullopt, false, true};
    }
  }
}

void IdempotencyStore::make_room(const std::string& owner) {
  // The caller's own oldest keys go first: nobody else's are evicted by one caller's many.
  if (auto mine = by_owner_.find(owner); mine != by_owner_.end()) {
    while (mine->second.size() >= limits_.per_owner) {
      auto victim = entries_.find(mine->second.front());
      if (victim == entries_.end()) {
        mine->second.pop_front();
        continue;
      }
      erase(victim);
      mine = by_owner_.find(owner);
      if (mine == by_owner_.end()) break;
    }
  }
  // Then the oldest of all (answers in flight included: they are dropped from the cache, the
  // request still answers).
  while ((entries_.size() >= limits_.max_entries || bytes_ > limits_.max_bytes) &&
         !order_.empty()) {
    erase(entries_.find(order_.front()));
  }
}

void IdempotencyStore::erase(std::unordered_map<std::string, Entry>::iterator it) {
  Entry& e = it->second;
  bytes_ -= e.bytes;
  order_.erase(e.in_order);
  auto owned = by_owner_.find(e.owner);
  owned->second.erase(e.in_owner);
  if (owned->second.empty()) by_owner_.erase(owned);
  entries_.erase(it);
}

void IdempotencyStore::finish(const std::string& key, const Response* response) {
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && !it->second.response) {
      const std::size_t n = response ? size_of(*response) : 0;
      if (response && n <= limits_.max_answer_bytes) {
        it->second.response = *response;
        it->second.bytes = n;
        bytes_ += n;
        while (bytes_ > limits_.max_bytes && !order_.empty() && order_.front() != key) {
          erase(entries_.find(order_.front()));
        }
      } else {
        erase(it);
      }
    }
  }
  done_.notify_all();
}

std::size_t IdempotencyStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t IdempotencyStore::entries() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

IdempotencyStore::Claim::Claim(Claim&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)), key_(std::move(other.key_)) {}

IdempotencyStore::Claim::~Claim() { drop(); }

void IdempotencyStore::Claim::keep(const Response& response) {
  if (auto* s = std::exchange(store_, nullptr)) s->finish(key_, &response);
}

void IdempotencyStore::Claim::drop() {
  if (auto* s = std::exchange(store_, nullptr)) s->finish(key_, nullptr);
}

}  // namespace portico::http::detail
