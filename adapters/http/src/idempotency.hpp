// The Idempotency-Key cache of the HTTP adapter (private). It replaces the first cut in
// limits.hpp (security review L1): bounded in bytes as well as entries, a quota per caller so
// strangers cannot evict anyone else's keys, O(1) removal, waits with an absolute deadline, and a
// claim that forgets its key when the handler throws.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <portico/http/app.hpp>
#include <string>
#include <unordered_map>
#include <variant>

namespace portico::http::detail {

// Thread-safe. Keys are (owner, scope); `owner` is who is calling ("customer:{id}",
// "address:{ip}"), `scope` the method, path and Idempotency-Key.
class IdempotencyStore {
 public:
  explicit IdempotencyStore(IdempotencyLimits limits = {});

  class Claim;
  struct Begun {
    std::optional<Response> stored;  // the first answer, to give again
    bool mismatch = false;           // the key was used with another request body
    bool busy = false;               // the first request is still being answered (past the wait)
  };
  // Either a claim to act (the caller is first: answer, then Claim::keep or drop) or what to
  // answer instead (Begun).
  std::variant<Claim, Begun> begin(const std::string& owner, const std::string& scope,
                                   const std::string& body_hash);

  // The right to answer a key first. Move-only; a claim neither kept nor dropped is dropped when
  // destroyed (a handler that threw: a retry may act).
  class Claim {
   public:
    Claim(Claim&& other) noexcept;
    Claim& operator=(Claim&&) = delete;
    ~Claim();
    // Keeps `response` as the answer to every retry (unless it is too large to keep: then the key
    // is forgotten, and a retry acts again).
    void keep(const Response& response);
    void drop();

   private:
    friend class IdempotencyStore;
    Claim(IdempotencyStore* store, std::string key) : store_(store), key_(std::move(key)) {}
    IdempotencyStore* store_;
    std::string key_;
  };

  std::size_t bytes() const;    // of the answers kept
  std::size_t entries() const;  // kept and in flight

 private:
  struct Entry {
    std::string owner;
    std::string body_hash;
    std::optional<Response> response;  // empty while the first request is under way
    std::size_t bytes = 0;
    std::chrono::steady_clock::time_point at;
    std::list<std::string>::iterator in_order;  // in order_
    std::list<std::string>::iterator in_owner;  // in by_owner_[owner]
  };
  void finish(const std::string& key, const Response* response);
  void erase(std::unordered_map<std::string, Entry>::iterator it);  // mu_ held
  void make_room(const std::string& owner);                         // mu_ held

  IdempotencyLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable done_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;                                      // oldest first
  std::unordered_map<std::string, std::list<std::string>> by_owner_;  // oldest first
  std::size_t bytes_ = 0;
};

}  // namespace portico::http::detail
