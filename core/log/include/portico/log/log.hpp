// portico::log::Log — the append-only event log, stored in LMDB.
//
// Every event gets a dense global position (1, 2, …), a dense version within its stream, and a
// SHA-256 hash chaining it to the record before it (docs/log-format.md). An append returns only
// after its LMDB transaction committed with fsync. One commit thread per log takes every append
// queued while the previous transaction was being written into the next one (group commit); an
// append that conflicts fails alone and the rest commit.
//
// Thread safety: a Log is safe for concurrent use from any number of threads without external
// synchronisation. Several processes may open the same directory at once (a server and an admin
// tool); positions stay dense and the chain stays valid. One process may open a directory only
// once at a time (LMDB forbids more): a second open answers Errc::already_open.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <portico/clock.hpp>
#include <portico/log/error.hpp>
#include <portico/log/projection.hpp>
#include <portico/log/types.hpp>
#include <portico/log/upcasters.hpp>
#include <portico/warning.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portico::log {

// Documented limits, enforced on append with Errc::invalid_argument.
inline constexpr std::size_t kMaxStreamIdBytes = 255;
inline constexpr std::size_t kMaxTypeBytes = 128;
inline constexpr std::size_t kMaxActorIdBytes = 255;
inline constexpr std::size_t kMaxPayloadBytes = 1u << 20;  // serialized JSON
inline constexpr std::size_t kMaxSealedBytes = 1u << 20;
inline constexpr std::size_t kMaxEventsPerAppend = 10'000;
inline constexpr std::size_t kMaxAppendBytes = std::size_t{16} << 20;  // encoded records

// Read up to "the end" of a stream (see Log::read_stream).
inline constexpr std::uint64_t kEndOfStream = ~std::uint64_t{0};

struct Options {
  bool create = true;      // create the directory and an empty log when missing
  bool read_only = false;  // appends answer Errc::read_only
  // The memory map starts at this size (or the size the file already needs) and doubles when
  // full, up to max_map_size; past that, appends answer Errc::storage_full and write nothing.
  std::uint64_t initial_map_size = std::uint64_t{64} << 20;
  std::uint64_t max_map_size = std::uint64_t{1} << 40;
  // Bounds of one group commit.
  std::size_t max_batch_events = 8192;
  std::size_t max_batch_bytes = std::size_t{32} << 20;
  // When fewer appends are queued than the last commit carried, the commit thread waits up to
  // this long for the rest (their callers were just answered and usually come straight back).
  // Zero disables the wait. Under light load (the last commit carried one append) nobody waits;
  // right after a busy moment, a lone append may wait up to this long once.
  std::chrono::microseconds group_commit_window{200};
  Upcasters upcasters;
  // Microseconds since the Unix epoch (portico/clock.hpp); the system clock when empty.
  // Recorded-at times never go backwards along the log, whatever the clock does.
  Clock clock;
  // Read models kept in this log's environment (portico/log/projection.hpp). Every process that
  // appends to a directory should register the same inline projections; events appended by one
  // that does not are projected at the next open or commit of one that does.
  std::vector<std::shared_ptr<Projection>> projections;        // inline
  std::vector<std::shared_ptr<Projection>> async_projections;  // fed by Log::apply_projection
  // Told how a rebuild at open goes (a projection whose version changed): (done, total) events.
  std::function<void(std::string_view projection, std::uint64_t done, std::uint64_t total)>
      rebuild_progress;
  // Told what the log notices but cannot answer to a caller (a projection stalled, an
  // append_async callback threw, a Log destroyed before its subscriptions), one line without a
  // newline; called from the log's own threads, so it must be thread-safe (portico/warning.hpp).
  // By default, and when empty, the line goes to standard error after "portico: ".
  WarningSink on_warning = warn_on_stderr;
};

// Counters for metrics. All monotonic except map_size.
struct Stats {
  std::uint64_t appends = 0;          // successful append calls (duplicates included)
  std::uint64_t events = 0;           // events written
  std::uint64_t conflicts = 0;        // appends refused for a version or id conflict
  std::uint64_t commits = 0;          // write transactions committed
  std::uint64_t batched_appends = 0;  // appends carried by those commits (÷ commits = batch size)
  std::uint64_t max_batch = 0;        // largest number of appends in one commit
  std::uint64_t commit_ns = 0;        // time spent in mdb_txn_commit (write + fsync)
  std::uint64_t projection_ns = 0;    // time the commit thread spent applying inline projections
  std::uint64_t map_grows = 0;
  std::uint64_t map_size = 0;  // bytes
};

// Result of Log::verify.
struct VerifyReport {
  bool ok = true;
  std::uint64_t events = 0;   // records checked
  std::uint64_t streams = 0;  // distinct streams seen
  std::uint64_t first_bad_position = 0;
  std::string problem;  // what is wrong at first_bad_position (empty when ok)
};

// Receives the outcome of Log::append_async.
using AppendCallback = std::function<void(LogResult<AppendResult>)>;

// Called now and then during long work with (done, total).
using Progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

class Subscription;

namespace detail {
class LogImpl;
}

class Log {
 public:
  // Opens (and with Options::create, creates) the log in directory `dir`.
  static LogResult<std::unique_ptr<Log>> open(const std::filesystem::path& dir,
                                              Options options = {});
  // Precondition: every Subscription of this log has been destroyed.
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends the events of every write atomically: all of them or none. Each write's stream must
  // be at its expected version (else Errc::conflict with LogError::conflict set). When every
  // event id is already stored, nothing is written and the original positions come back with
  // AppendResult::duplicate set; when only some are, Errc::conflict. Blocks until durable.
  LogResult<AppendResult> append(std::span<const StreamWrite> writes);
  LogResult<AppendResult> append(const StreamWrite& write);

  // The same append without blocking: `writes` is validated and encoded before this returns (so
  // it may be discarded then), and `done` is called exactly once — on the calling thread, before
  // this returns, when the input is refused (Errc::invalid_argument, Errc::read_only); otherwise
  // on the log's commit thread once the events are durable or refused. Keep `done` short (hand
  // the result to your own executor): the next group commit waits for it. Appends are committed
  // in the order they were queued; destroying the Log answers every queued append first.
  void append_async(std::span<const StreamWrite> writes, AppendCallback done);

  // Up to `max_count` events of `stream`, from `from_version` on in `direction` (backward from
  // kEndOfStream reads the newest first). An unknown stream reads as empty. One snapshot.
  LogResult<std::vector<Record>> read_stream(std::string_view stream, std::uint64_t from_version,
                                             Direction direction, std::size_t max_count) const;
  // Up to `max_count` events of the whole log from `from_position` on (1 is the first). One
  // snapshot.
  LogResult<std::vector<Record>> read_all(std::uint64_t from_position, std::size_t max_count) const;
  // The event with id `id`, if stored.
  LogResult<std::optional<Record>> find(const Uuid& id) const;
  // The stream's current version; 0 when it has no events.
  LogResult<std::uint64_t> stream_version(std::string_view stream) const;
  // The position of the last committed event; 0 when the log is empty.
  LogResult<std::uint64_t> head() const;

  // A subscription that delivers every event from `from_position` on, in order, with no gap and
  // no duplicate: first those already stored, then new ones as they commit (in this process or
  // another one on the same directory).
  Subscription subscribe(std::uint64_t from_position);

  // Checks every record: it decodes, its hash matches its bytes, it chains to the one before, and
  // positions and stream versions are dense; then that the indexes count the same events. Reads in
  // bounded chunks, each in a fresh snapshot, so it may run beside appends (it checks the records
  // that were there when it started).
  LogResult<VerifyReport> verify(const Progress& progress = {}) const;

  // Writes a compacted, consistent copy of the log into directory `dest` (created if missing,
  // must not already hold a log) while the log stays in use.
  LogResult<void> backup(const std::filesystem::path& dest, const Progress& progress = {}) const;

  // ---- Projections (portico/log/projection.hpp); `name` must be registered in Options ----

  // Runs `fn` with the tables of projection `name` in one read snapshot.
  LogResult<void> read_projection(std::string_view name,
                                  const std::function<void(const TableReader&)>& fn) const;
  // Applies `records` to async projection `name` in one write transaction, with its checkpoint:
  // records at or before the checkpoint are skipped (so redelivery is harmless), the rest must
  // follow it without a gap (else Errc::invalid_argument). Returns the new checkpoint. An apply()
  // error comes back as Errc::projection_failed and writes nothing.
  LogResult<std::uint64_t> apply_projection(std::string_view name, std::span<const Record> records);
  // Runs `fn` with write access to the tables of async projection `name`, in one transaction
  // that commits when `fn` succeeds (for work beside the events: marking an outbox row done).
  LogResult<void> write_projection(std::string_view name,
                                   const std::function<Result<void>(TableWriter&)>& fn);
  LogResult<ProjectionInfo> projection_info(std::string_view name) const;
  // Replays the log into fresh tables of each inline projection named (all when `names` is
  // empty) while appends go on, then swaps them in atomically, in the transaction that applies
  // the last events. Async projections named are cleared and start over from the log's first
  // event (a work queue replays it without acting again, Projection::is_work_queue).
  LogResult<void> rebuild_projections(std::span<const std::string> names = {},
                                      const Progress& progress = {});
  // Rebuilds every inline projection into a scratch environment (a temporary directory) up to
  // its live checkpoint and compares the two, table by table and byte for byte. Writes nothing.
  LogResult<std::vector<ProjectionCheck>> check_projections(const Progress& progress = {}) const;

  Stats stats() const;
  const std::filesystem::path& directory() const noexcept;

 private:
  friend class Subscription;
  explicit Log(std::unique_ptr<detail::LogImpl> impl);
  std::unique_ptr<detail::LogImpl> impl_;
};

// A cursor over the log that follows new commits. Move-only. Not for concurrent use by several
// threads, except close(), which any thread may call to wake a blocked next().
class Subscription {
 public:
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  // Returns the next events (at most max_count, capped at 4096 per call so that each read stays
  // short; at least one) as soon as some are committed, or an empty vector when `timeout` passes
  // first. After close(), Errc::closed. A damaged log answers Errc::corrupt, never a gap.
  LogResult<std::vector<Record>> next(std::size_t max_count, std::chrono::milliseconds timeout);
  // The position of the last event delivered (from_position - 1 before the first).
  std::uint64_t position() const noexcept { return position_; }
  void close();

 private:
  friend class Log;
  struct State;
  Subscription(detail::LogImpl* log, std::uint64_t from_position);
  detail::LogImpl* log_ = nullptr;
  std::uint64_t position_ = 0;
  std::shared_ptr<State> state_;
};

}  // namespace portico::log
