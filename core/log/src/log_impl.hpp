// The implementation behind portico::log::Log (private to core/log): class LogImpl, the structures
// its parts share, and the constants of the projection host.
//
// LogImpl is one class whose members are defined in one file per concern; the groups below name
// the file. They stand on environment.hpp (the LMDB environment and its map lock) and layout.hpp
// (the databases' keys and lookups), which know nothing of LogImpl. The calls between the parts
// run one way: append.cpp and verify.cpp call into projection_host.cpp, which calls read.cpp
// (head); subscription.cpp calls read.cpp and publish (append.cpp); read.cpp calls no other part.
#pragma once

#include <lmdb.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <portico/log/log.hpp>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "environment.hpp"
#include "layout.hpp"
#include "lmdb.hpp"
#include "tables.hpp"

namespace portico::log::detail {

using lmdb::Cursor;
using lmdb::Status;
using lmdb::Txn;

struct PreparedEvent {
  Uuid id;
  bool generated = false;  // a fresh id from this process: it cannot be stored already
  std::string bytes;       // encoded by the caller's thread; sealed by the writer
};

struct PreparedStream {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::any();
  std::vector<PreparedEvent> events;
};

struct Prepared {
  std::vector<PreparedStream> streams;
  std::size_t events = 0;
  std::size_t bytes = 0;
};

// One append waiting in the commit queue.
struct Pending {
  Prepared prepared;
  AppendCallback done;
  std::optional<LogResult<AppendResult>> result;
};

// Why a projection refused an event.
struct Refusal {
  std::string projection;
  std::uint64_t position = 0;
  std::string message;
};
// The inline projections are too far behind to catch up inside this append: run_batch catches
// them up in chunks of their own first.
struct Backlog {};
// The events were projected.
struct Projected {};
// The outcome of projecting a range of events: done, an LMDB failure (never an ok Status; it dooms
// the transaction), a refusal, or a backlog.
using ProjectionStep = std::variant<Projected, Status, Refusal, Backlog>;

// Events applied per transaction when a projection is rebuilt or catches up.
constexpr std::uint64_t kProjectionChunk = 8192;

// A registered projection and the handles of its tables in both slots.
struct ProjectionHandle {
  std::shared_ptr<Projection> projection;
  std::string name;
  bool is_inline = true;
  bool available = true;    // false in a read-only log where its tables were never created
  std::string meta_key;     // "projection/{name}"
  std::string build_key;    // "projection/{name}/build"
  std::string stalled_key;  // "projection/{name}/stalled": be64(position) and why
  std::vector<std::string> tables;
  std::array<std::vector<MDB_dbi>, 2> dbis;
};

class LogImpl {
 public:
  // ---- log.cpp ----
  LogImpl(std::filesystem::path dir, Options options);
  // Answers every queued append, stops the threads, closes the environment.
  ~LogImpl();
  LogResult<void> open();
  Stats stats() const;
  const std::filesystem::path& directory() const noexcept { return dir_; }
  // Options::on_warning.
  void warn(std::string_view line) const { options_.on_warning(line); }

  // ---- append.cpp ----
  LogResult<AppendResult> append(std::span<const StreamWrite> writes);
  void append_async(std::span<const StreamWrite> writes, AppendCallback done);

  // ---- read.cpp ----
  LogResult<std::vector<Record>> read_stream(std::string_view stream, std::uint64_t from,
                                             Direction direction, std::size_t max_count);
  LogResult<std::vector<Record>> read_all(std::uint64_t from, std::size_t max_count);
  LogResult<std::uint64_t> stream_version(std::string_view stream);
  LogResult<std::optional<Record>> find(const Uuid& id);
  LogResult<std::uint64_t> head();

  // ---- verify.cpp ----
  LogResult<VerifyReport> verify(const Progress& progress);
  LogResult<void> backup(const std::filesystem::path& dest, const Progress& progress);
  LogResult<std::vector<ProjectionCheck>> check_projections(const Progress& progress);

  // ---- projection_host.cpp ----
  LogResult<void> read_projection(std::string_view name,
                                  const std::function<void(const TableReader&)>& fn);
  LogResult<std::uint64_t> apply_projection(std::string_view name, std::span<const Record> records);
  LogResult<void> write_projection(std::string_view name,
                                   const std::function<Result<void>(TableWriter&)>& fn);
  LogResult<ProjectionInfo> projection_info(std::string_view name);
  LogResult<void> rebuild_projections(std::span<const std::string> names, const Progress& progress);

  // ---- subscription.cpp ----
  // Subscriptions wait here for commits.
  bool wait_for_commit(std::uint64_t after, const std::atomic<bool>& closed,
                       std::chrono::steady_clock::time_point deadline);
  void wake_all() {
    std::lock_guard lock(notify_mu_);
    notify_cv_.notify_all();
  }
  void subscription_opened() { ++live_subscriptions_; }
  void subscription_closed() { --live_subscriptions_; }
  int live_subscriptions() const { return live_subscriptions_.load(); }

 private:
  // ---- append.cpp ----
  LogResult<void> prepare(std::span<const StreamWrite> writes, Prepared& out) const;
  // The commit thread: takes what is queued into one transaction, commits, answers, repeats.
  void commit_loop();
  void run_batch(std::span<const std::unique_ptr<Pending>> batch);
  // Applies one append inside the batch's transaction. A refused append (conflict) writes nothing
  // and comes back as a result; a failing LMDB call is reported in `failure` and dooms the batch.
  LogResult<AppendResult> apply(Txn& txn, Tail& tail, Prepared& prepared, Status& failure);
  // Wakes the subscriptions waiting for commits up to `head`.
  void publish(std::uint64_t head);

  // ---- projection_host.cpp ----
  LogResult<void> open_projections(const Txn& txn);
  LogResult<void> prepare_projections();
  const ProjectionHandle* find_projection(std::string_view name) const;
  std::optional<ProjectionMeta> read_meta(const Txn& txn, const ProjectionHandle& h,
                                          Status& status) const;
  // An async projection's meta for a write (a new one when none is stored), or why it may not be
  // written: storage trouble, or a stored version other than this program's.
  TxnResult<ProjectionMeta> async_meta(const Txn& txn, const ProjectionHandle& h,
                                       std::string_view name) const;
  // Applies the events after `from` up to `to` (read through `events_txn`) to `h`, writing into
  // `tables`: Projected, an LMDB failure, or a Refusal (never a Backlog).
  ProjectionStep apply_range(const Txn& events_txn, std::uint64_t from, std::uint64_t to,
                             const ProjectionHandle& h, LmdbTables& tables) const;
  // Brings every inline projection up to `head` inside the append transaction `txn` (at most
  // `limit` events each). Stalled projections are skipped. Events up to `backlog_end` were
  // appended before this transaction (by another process without the projections, or while one
  // was stalled): more than a chunk of them answers a Backlog.
  ProjectionStep project_inline(Txn& txn, std::uint64_t head,
                                std::uint64_t limit = ~std::uint64_t{0},
                                std::uint64_t backlog_end = 0);
  // Marks an inline projection stalled at an event it refused that no append of ours carried:
  // appends go on without it, and reads of it answer Errc::projection_failed until it is rebuilt.
  LogResult<void> mark_stalled(const Refusal& refusal);
  // Brings every inline projection up to the head, a chunk per transaction.
  LogResult<void> catch_up_all();
  // Waits while another process rebuilds `h` (its marker advances); false when there is no such
  // rebuild or it stopped advancing.
  bool wait_for_other_rebuild(const ProjectionHandle& h);
  LogResult<void> rebuild_inline(const ProjectionHandle& h, const Progress& progress);
  LogResult<void> reset_async(const ProjectionHandle& h);

  // ---- subscription.cpp ----
  void start_watcher();
  void stop_watcher();

  const std::filesystem::path dir_;
  Options options_;
  Environment env_;
  Databases db_;
  std::vector<std::unique_ptr<ProjectionHandle>> projections_;
  bool has_inline_ = false;

  // The commit queue (append.cpp).
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;
  std::thread committer_;

  // The head subscribers have been told of (append.cpp publishes, subscription.cpp waits).
  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::uint64_t published_head_ = 0;

  // The watcher of other processes' commits (subscription.cpp).
  std::mutex watcher_mu_;
  std::thread watcher_;
  int stop_fd_ = -1;
  bool watcher_failed_ = false;
  // The LMDB transaction id of this process's last commit of appends: the watcher of other
  // processes' commits has nothing to do while the environment's last id is this one.
  std::atomic<std::size_t> own_txn_id_{0};
  std::atomic<int> live_subscriptions_{0};

  struct AtomicStats {
    std::atomic<std::uint64_t> appends{0}, events{0}, conflicts{0}, commits{0}, batched_appends{0},
        max_batch{0}, commit_ns{0}, projection_ns{0};
  };
  mutable AtomicStats stats_;
};

}  // namespace portico::log::detail
