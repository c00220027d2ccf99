// The LMDB environment of one log and the lock around its memory map (private to core/log).
//
// LMDB maps the whole file into memory. A resize (mdb_env_set_mapsize) unmaps it and maps it
// again, and LMDB requires that no transaction of the process is active meanwhile; reading the
// environment (mdb_env_info, mdb_env_stat, mdb_env_copy2) reads the map too. So every transaction
// and every read of the environment holds the map lock shared, and a resize holds it exclusively.
// The MDB_env is private to Environment: no code outside environment.cpp can reach it, and so none
// can read it without the lock (backup once did, while the commit thread grew the map).
#pragma once

#include <lmdb.h>
#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <portico/log/error.hpp>
#include <portico/log/log.hpp>
#include <shared_mutex>
#include <type_traits>
#include <utility>

#include "lmdb.hpp"

namespace portico::log::detail {

// The LogError for a failed LMDB call: corrupt, storage_full (a full map or disk) or io_error.
LogError error_from(const lmdb::Status& s);

// The error of work inside a write transaction (Environment::with_write): what to report, and for
// a failed LMDB call its return code, by which with_write tells a full or resized map (grow or
// adopt it, and run the work again) from a failure to report.
struct TxnError {
  TxnError() = default;
  // Implicit, so that the work returns either as its error: `return log_error(...)`, or
  // `return txn_failed(status)`.
  TxnError(LogError e) : error(std::move(e)) {}
  TxnError(const lmdb::Status& s) : error(error_from(s)), rc(s.rc) {}

  LogError error;
  int rc = MDB_SUCCESS;  // the LMDB return code when an LMDB call failed
};

template <class T>
using TxnResult = Result<T, TxnError>;

// `return txn_failed(status);` from work inside a write transaction.
inline Unexpected<TxnError> txn_failed(const lmdb::Status& s) { return Unexpected(TxnError(s)); }

// A reader-writer lock that lets a waiting writer in ahead of new readers (glibc's default, and so
// std::shared_mutex, prefers readers: steady reads could hold off a map resize for ever).
class RwLock {
 public:
  RwLock();
  ~RwLock();
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() {
    if (pthread_rwlock_tryrdlock(&lock_) == 0) return;
    waiting_readers_.fetch_add(1, std::memory_order_relaxed);
    pthread_rwlock_rdlock(&lock_);
    waiting_readers_.fetch_sub(1, std::memory_order_relaxed);
  }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }
  // Threads blocked in lock_shared (counted only when the lock is contended, so it costs nothing
  // otherwise).
  int waiting_readers() const noexcept { return waiting_readers_.load(std::memory_order_relaxed); }

 private:
  pthread_rwlock_t lock_;
  std::atomic<int> waiting_readers_{0};
};

// What Environment::info() reads, under the map lock.
struct EnvInfo {
  std::uint64_t map_size = 0;    // bytes mapped
  std::uint64_t used_bytes = 0;  // pages in use × page size: at most what a compact copy writes
  std::size_t last_txn_id = 0;   // of the last commit by any process
};

class Environment {
 public:
  Environment() = default;
  // Closes the environment; the directory may then be opened again in this process.
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  // Opens the environment in `dir` (creating the directory and the files with Options::create),
  // with room for `max_dbs` named databases and the map at least Options::initial_map_size.
  // A directory is open at most once per process: a second open answers Errc::already_open.
  LogResult<void> open(const std::filesystem::path& dir, const Options& options, unsigned max_dbs);

  bool read_only() const noexcept { return read_only_; }

  // Begins a transaction holding `lock` (the map lock, shared), adopting a map another process
  // grew.
  lmdb::Status begin(unsigned flags, std::shared_lock<RwLock>& lock, lmdb::Txn& txn);

  // Runs `fn(txn)` in a fresh read-only transaction; `fn` returns a LogResult.
  template <class Fn>
  auto with_read(Fn&& fn) -> decltype(fn(std::declval<lmdb::Txn&>())) {
    std::shared_lock<RwLock> lock;
    lmdb::Txn txn;
    if (lmdb::Status s = begin(MDB_RDONLY, lock, txn); !s.ok()) return Unexpected(error_from(s));
    return fn(txn);
  }

  // Runs `fn(txn)` in a write transaction and commits it when `fn` returns a value; `fn` returns a
  // TxnResult<T>, and this the LogResult<T>. When `fn` or the commit fails because the map is
  // full (or another process resized it), the map is grown (or adopted) and `fn` runs again in a
  // fresh transaction.
  template <class Fn>
  auto with_write(Fn&& fn)
      -> LogResult<typename std::invoke_result_t<Fn&, lmdb::Txn&>::value_type> {
    using T = typename std::invoke_result_t<Fn&, lmdb::Txn&>::value_type;
    if (read_only_) return log_error(Errc::read_only, "the log was opened read-only");
    for (;;) {
      std::shared_lock<RwLock> lock;
      lmdb::Txn txn;
      if (lmdb::Status s = begin(0, lock, txn); !s.ok()) return Unexpected(error_from(s));
      TxnResult<T> result = fn(txn);
      if (result) {
        if (lmdb::Status s = txn.commit(); !s.ok()) {
          result = Unexpected(TxnError(s));
        } else if constexpr (std::is_void_v<T>) {
          return {};
        } else {
          return std::move(*result);
        }
      }
      const int rc = result.error().rc;
      if (rc != MDB_MAP_FULL && rc != MDB_MAP_RESIZED) {
        return Unexpected(std::move(result).error().error);
      }
      txn.abort();
      lock.unlock();
      if (rc == MDB_MAP_FULL) {
        if (auto grown = grow_map(); !grown) return Unexpected(std::move(grown).error());
      } else {
        adopt_map();
      }
    }
  }

  // Doubles the map (up to Options::max_map_size; past it, Errc::storage_full). The caller holds
  // no transaction: this takes the map lock exclusively.
  LogResult<void> grow_map();
  // Takes the map size another process set (after MDB_MAP_RESIZED).
  void adopt_map();
  // Reads the environment under the map lock (shared).
  EnvInfo info() const;
  // Grows the map to `bytes` now (at most Options::max_map_size) unless it is that large already,
  // for work that will hold one read transaction for long (LMDB cannot resize the map while one
  // is open, so an append that needs more room would wait for it). Nothing when read-only.
  void reserve_room(std::uint64_t bytes);
  // Writes a compacted copy into directory `dest`, in one read transaction under the map lock;
  // a map another process grew meanwhile is adopted and the copy made again.
  lmdb::Status copy_compact(const std::filesystem::path& dest);

  std::uint64_t map_size() const noexcept { return map_size_.load(); }
  std::uint64_t map_grows() const noexcept { return map_grows_.load(); }
  // Threads of this process waiting for the map lock to read (while a resize holds it).
  int waiting_readers() const noexcept { return mu_.waiting_readers(); }

 private:
  MDB_env* env_ = nullptr;
  // Shared by every transaction and every read of env_, exclusive while the map is resized.
  mutable RwLock mu_;
  bool read_only_ = false;
  std::uint64_t max_map_size_ = 0;
  std::pair<dev_t, ino_t> dir_key_{};
  bool registered_ = false;
  std::atomic<std::uint64_t> map_size_{0};
  std::atomic<std::uint64_t> map_grows_{0};
};

// A seam for tests (tests/core/log/map_trap.hpp), never set by the library: when set, grow_map
// calls it with the map lock held exclusively, just before it resizes the map, on the thread that
// grows it. A test can hold the resize there and see who touches the map meanwhile.
namespace testing {
inline std::atomic<void (*)(const Environment&)> before_grow{nullptr};
}  // namespace testing

}  // namespace portico::log::detail
