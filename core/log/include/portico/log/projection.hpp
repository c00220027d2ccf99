// Projections: read models kept in the log's own LMDB environment, derived from its events.
//
// A projection owns a few key-value tables (keys sort bytewise) and turns each event into writes
// to them. Two kinds (docs/projections.md):
//   - inline (Options::projections): applied inside the very write transaction that appends the
//     events, so the tables and the log commit together: a reader never sees one without the
//     other, and a crash loses neither alone.
//   - async (Options::async_projections): applied later, in their own transactions, by whoever
//     feeds them (portico::projections::Runner follows a subscription); each keeps its own
//     checkpoint, written in the same transaction as the effects of the events it covers.
// Each projection stores its version and checkpoint (the position of the last event applied). A
// projection whose stored version differs from version() is rebuilt when the log opens; an inline
// projection behind the log (events appended by a process that did not register it) catches up at
// open and at every commit.
//
// Tables live in two slots so that a rebuild can fill fresh tables beside the live ones while
// appends go on, then swap them in with one transaction (Log::rebuild_projections).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <portico/log/types.hpp>
#include <portico/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::log {

// Called with each entry of a scan; return false to stop.
using ScanFn = std::function<bool(std::string_view key, std::string_view value)>;

// Read access to one projection's tables in one consistent snapshot. Tables are named by their
// index in Projection::tables(). Views returned point into the snapshot and stay valid until the
// call that received the reader returns, or (for a TableWriter) until its next put or erase.
// A storage failure during a read makes it answer "nothing"; the log reports the failure when the
// call that received the reader returns.
class TableReader {
 public:
  virtual ~TableReader() = default;
  // Every event up to this position is reflected in the tables, none after it.
  virtual std::uint64_t position() const = 0;
  // For a work queue (Projection::is_work_queue): events at or before this position were acted
  // on before the queue was last reset; apply() rebuilds its state from them but queues no work.
  virtual std::uint64_t acted_until() const { return 0; }
  virtual std::optional<std::string_view> get(std::size_t table, std::string_view key) const = 0;
  // Visits entries in key order until `fn` returns false: forward, the keys >= `from`; backward,
  // the keys <= `from`, largest first (an empty `from` backward starts at the last key).
  virtual void scan(std::size_t table, std::string_view from, Direction direction,
                    const ScanFn& fn) const = 0;
};

// Read and write access to one projection's tables inside a write transaction. Keys are 1 to 511
// bytes, values up to 1 MiB; a failure (full map, say) is remembered and ends the transaction.
class TableWriter : public TableReader {
 public:
  virtual void put(std::size_t table, std::string_view key, std::string_view value) = 0;
  // Erasing a missing key is not an error.
  virtual void erase(std::size_t table, std::string_view key) = 0;
};

class Projection {
 public:
  virtual ~Projection() = default;
  // 1 to 32 characters of [a-z0-9_], unique within a log.
  virtual std::string name() const = 0;
  // Bump it whenever what apply() writes changes: the projection is then rebuilt at open.
  virtual std::uint32_t version() const = 0;
  // The tables' names (1 to 32 characters of [a-z0-9_]), at most 16; their order gives the
  // indexes used with TableReader and TableWriter.
  virtual std::vector<std::string> tables() const = 0;
  // Applies one event. It must be deterministic, a function of the record and the tables alone
  // (no clock, no randomness, no outside state), so that a rebuild writes the same bytes. It is
  // called from the log's commit thread (inline), the feeding thread (async), and the thread of
  // Log::check_projections (a replay into scratch tables), so it must not keep state of its own. An
  // error refuses the append that carried the event (inline, Errc::projection_failed; the other
  // appends of its group still commit) or stops the feed (async); a projection should refuse only
  // what it cannot represent.
  virtual Result<void> apply(TableWriter& tables, const Record& record) = 0;
  // Async projections only. A work queue (an outbox) acts on the world: when it is reset (a
  // version change at open, rebuild_projections, or its first registration on a log with
  // history) it still replays the log from the first event to rebuild its state, but
  // TableReader::acted_until() tells apply() which events were acted on already.
  virtual bool is_work_queue() const { return false; }
};

// Where a projection stands (Log::projection_info).
struct ProjectionInfo {
  std::string name;
  bool is_inline = true;
  std::uint32_t version = 0;
  std::uint64_t position = 0;     // checkpoint: the last event applied
  std::uint8_t slot = 0;          // which of the two table sets is live
  std::uint64_t acted_until = 0;  // a work queue's reset point (TableReader::acted_until)
  // An inline projection that refused an event no append of this process carried (written by
  // another program) stops there; appends go on without it and reads of it answer
  // Errc::projection_failed with `problem`, until a rebuild succeeds.
  std::uint64_t stalled_at = 0;
  std::string problem;
};

// What Log::check_projections found for one inline projection.
struct ProjectionCheck {
  std::string name;
  std::uint64_t position = 0;         // the live tables' checkpoint, which the rebuild was taken to
  std::uint64_t entries = 0;          // entries compared (live and rebuilt, all tables)
  std::uint64_t differences = 0;      // keys missing on one side or with different values
  std::vector<std::string> examples;  // the first few differences, for people
};

}  // namespace portico::log
