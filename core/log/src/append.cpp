// The writer: validating and encoding appends on the caller's thread (prepare), the commit queue,
// and the commit thread's group commit (commit_loop, run_batch, apply), which also runs the
// inline projections in the append's transaction and wakes subscribers (publish).
#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <portico/log/log.hpp>
#include <portico/utf8.hpp>
#include <thread>
#include <unordered_set>
#include <variant>

#include "log_impl.hpp"
#include "record_codec.hpp"

namespace portico::log::detail {
namespace {

bool valid_utf8_printable(std::string_view s) { return utf8::valid_printable(s); }

// Boost.JSON serializes strings byte for byte; text that is not UTF-8 would make the stored
// payload unreadable JSON. Control characters are fine inside JSON strings (they are escaped).
bool valid_utf8(std::string_view s) { return utf8::valid(s); }

bool valid_json_text(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string:
      return valid_utf8(v.get_string());
    case boost::json::kind::array:
      return std::all_of(v.get_array().begin(), v.get_array().end(), valid_json_text);
    case boost::json::kind::object:
      return std::all_of(v.get_object().begin(), v.get_object().end(), [](const auto& kv) {
        return valid_utf8(kv.key()) && valid_json_text(kv.value());
      });
    default:
      return true;
  }
}

bool valid_type(std::string_view t) {
  return !t.empty() && t.size() <= kMaxTypeBytes && std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == ':';
  });
}

}  // namespace

LogResult<void> LogImpl::prepare(std::span<const StreamWrite> writes, Prepared& out) const {
  auto invalid = [](std::string message) {
    return log_error(Errc::invalid_argument, std::move(message));
  };
  if (options_.read_only) return log_error(Errc::read_only, "the log was opened read-only");
  if (writes.empty()) return invalid("an append needs at least one stream write");
  std::unordered_set<std::string_view> streams;
  std::unordered_set<std::string_view> ids;
  out.streams.reserve(writes.size());
  for (const StreamWrite& w : writes) {
    if (w.stream.empty() || w.stream.size() > kMaxStreamIdBytes) {
      return invalid(fmt::format("stream id must be 1 to {} bytes", kMaxStreamIdBytes));
    }
    if (!valid_utf8_printable(w.stream)) {
      return invalid("stream id must be UTF-8 without control characters");
    }
    if (!streams.insert(w.stream).second) {
      return invalid(fmt::format("stream '{}' appears twice in one append", w.stream));
    }
    if (w.events.empty()) return invalid(fmt::format("no events for stream '{}'", w.stream));
    out.events += w.events.size();
    if (out.events > kMaxEventsPerAppend) {
      return invalid(fmt::format("an append holds at most {} events", kMaxEventsPerAppend));
    }
    PreparedStream& ps = out.streams.emplace_back();
    ps.stream = w.stream;
    ps.expected = w.expected;
    ps.events.reserve(w.events.size());
    for (const EventData& e : w.events) {
      if (!valid_type(e.type)) {
        return invalid(
            fmt::format("event type '{}' must be 1 to {} characters of A-Z a-z 0-9 _ . : -", e.type,
                        kMaxTypeBytes));
      }
      if (e.schema_version == 0) return invalid("schema version starts at 1");
      if (e.actor.realm > Realm::staff) return invalid("unknown actor realm");
      if (e.actor.id.size() > kMaxActorIdBytes || !valid_utf8_printable(e.actor.id)) {
        return invalid(
            fmt::format("actor id must be at most {} bytes of UTF-8 text", kMaxActorIdBytes));
      }
      if (e.actor.realm != Realm::system && e.actor.id.empty()) {
        return invalid("a customer or staff actor needs an id");
      }
      if (e.sealed.size() > kMaxSealedBytes) {
        return invalid(fmt::format("sealed fields are limited to {} bytes", kMaxSealedBytes));
      }
      if (!valid_json_text(e.payload)) {
        return invalid("payload holds text that is not valid UTF-8");
      }
      const std::string payload = boost::json::serialize(e.payload);
      if (payload.size() > kMaxPayloadBytes) {
        return invalid(
            fmt::format("payload is {} bytes; the limit is {}", payload.size(), kMaxPayloadBytes));
      }
      PreparedEvent& pe = ps.events.emplace_back();
      pe.bytes = codec::encode_unsealed(w.stream, e, payload);
      pe.generated = e.id.is_nil();
      pe.id = pe.generated ? new_uuid_v7() : e.id;
      if (pe.generated) codec::set_event_id(pe.bytes, pe.id);
      out.bytes += pe.bytes.size();
      if (out.bytes > kMaxAppendBytes) {
        return invalid(fmt::format("an append holds at most {} bytes of records", kMaxAppendBytes));
      }
    }
  }
  for (const PreparedStream& ps : out.streams) {
    for (const PreparedEvent& pe : ps.events) {
      if (!pe.generated && !ids.insert(uuid_key(pe.id)).second) {
        return invalid(fmt::format("event id {} appears twice in one append", pe.id.to_string()));
      }
    }
  }
  return {};
}

void LogImpl::append_async(std::span<const StreamWrite> writes, AppendCallback done) {
  if (!done) done = [](LogResult<AppendResult>) {};  // fire and forget
  auto pending = std::make_unique<Pending>();
  if (auto ok = prepare(writes, pending->prepared); !ok) {
    done(Unexpected(std::move(ok).error()));
    return;
  }
  pending->done = std::move(done);
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(pending));
  }
  queue_cv_.notify_one();
}

LogResult<AppendResult> LogImpl::append(std::span<const StreamWrite> writes) {
  if (std::this_thread::get_id() == committer_.get_id()) {
    // An append_async callback runs on the commit thread, which would wait for itself.
    return log_error(Errc::invalid_argument,
                     "append() called from an append_async callback would wait for ever; call "
                     "append_async() there instead");
  }
  // Shared with the callback, so the commit thread never touches a dead caller's stack. A
  // mutex and condition variable rather than a semaphore: libstdc++'s semaphore spins with
  // sched_yield before sleeping, which many waiting threads on few cores pay for dearly.
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<LogResult<AppendResult>> result;
  };
  auto wait = std::make_shared<Wait>();
  append_async(writes, [wait](LogResult<AppendResult> r) {
    std::lock_guard lock(wait->mu);
    wait->result.emplace(std::move(r));
    wait->cv.notify_one();
  });
  std::unique_lock lock(wait->mu);
  wait->cv.wait(lock, [&] { return wait->result.has_value(); });
  return std::move(*wait->result);
}

void LogImpl::commit_loop() {
  std::vector<std::unique_ptr<Pending>> batch;
  std::size_t last_batch = 0;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is answered
      // The callers the last commit answered tend to come straight back. Waiting a moment for
      // them keeps them in one group instead of splitting into two that alternate, each waiting
      // out the other's fsync. Under light load (a batch of one) there is no wait at all.
      if (queue_.size() < last_batch && options_.group_commit_window.count() > 0) {
        queue_cv_.wait_for(lock, options_.group_commit_window,
                           [&] { return stopping_ || queue_.size() >= last_batch; });
      }
      // Whatever queued up during the last commit goes into this one, within the batch bounds.
      std::size_t events = 0, bytes = 0;
      while (!queue_.empty()) {
        const Prepared& p = queue_.front()->prepared;
        if (!batch.empty() && (events + p.events > options_.max_batch_events ||
                               bytes + p.bytes > options_.max_batch_bytes)) {
          break;
        }
        events += p.events;
        bytes += p.bytes;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
    for (auto& p : batch) {
      // A throwing callback is the caller's bug; it must not stop the commit thread for everyone.
      try {
        p->done(std::move(*p->result));
      } catch (const std::exception& e) {
        warn(fmt::format("an append_async callback threw (ignored): {}", e.what()));
      } catch (...) {
        warn("an append_async callback threw (ignored)");
      }
    }
    last_batch = batch.size();
    batch.clear();
  }
}

LogResult<AppendResult> LogImpl::apply(Txn& txn, Tail& tail, Prepared& prepared, Status& failure) {
  // A retry of an append that already committed: every id is known. Answer as the first time.
  std::size_t known = 0;
  AppendResult result;
  result.events.reserve(prepared.events);
  for (const PreparedStream& ps : prepared.streams) {
    for (const PreparedEvent& pe : ps.events) {
      if (pe.generated) continue;
      auto pos = txn.get(db_.event_ids, uuid_key(pe.id), failure);
      if (!failure.ok()) return result;
      if (!pos) continue;
      if (pos->size() != 8) {
        failure = {MDB_CORRUPTED, "event_ids: a position is not 8 bytes"};
        return result;
      }
      ++known;
      const std::uint64_t position = lmdb::read_be64(pos->data());
      auto bytes = txn.get(db_.events, lmdb::be64(position), failure);
      if (!failure.ok()) return result;
      if (!bytes || codec::well_formed(*bytes)) {
        return Unexpected(LogError{Errc::corrupt,
                                   fmt::format("event id {} points at position {}, which does "
                                               "not hold a sound record",
                                               pe.id.to_string(), position),
                                   std::nullopt, position});
      }
      if (codec::stream_of(*bytes) != ps.stream) {
        ++stats_.conflicts;
        return log_error(
            Errc::conflict,
            fmt::format("event id {} is already stored in another stream", pe.id.to_string()));
      }
      result.events.push_back(
          {position, codec::stream_version_of(*bytes), pe.id, codec::hash_of(*bytes)});
    }
  }
  if (known == prepared.events) {
    result.duplicate = true;
    return result;
  }
  if (known > 0) {
    return log_error(Errc::conflict,
                     fmt::format("{} of the {} event ids are already stored: an append is "
                                 "retried whole or not at all",
                                 known, prepared.events));
  }
  result.events.clear();

  // Check every expected version before writing anything, so a refusal writes nothing.
  struct Target {
    std::optional<std::uint64_t> no;
    std::uint64_t version;
  };
  std::vector<Target> targets;
  targets.reserve(prepared.streams.size());
  for (const PreparedStream& ps : prepared.streams) {
    Target t{stream_no(txn, db_, ps.stream, failure), 0};
    if (!failure.ok()) return result;
    if (t.no) t.version = current_version(txn, db_, *t.no, failure);
    if (!failure.ok()) return result;
    if (!ps.expected.admits(t.version)) {
      return Unexpected(LogError{Errc::conflict,
                                 fmt::format("stream '{}' is at version {}, expected {}", ps.stream,
                                             t.version, ps.expected.to_string()),
                                 Conflict{ps.stream, ps.expected, t.version}, 0});
    }
    targets.push_back(t);
  }

  for (std::size_t i = 0; i < prepared.streams.size(); ++i) {
    PreparedStream& ps = prepared.streams[i];
    Target& t = targets[i];
    if (!t.no) {
      t.no = ++tail.last_stream_no;
      if (failure = txn.put(db_.streams, ps.stream, le64(*t.no), MDB_NOOVERWRITE); !failure.ok()) {
        return result;
      }
    }
    const std::string index_key = lmdb::be64(*t.no);
    for (PreparedEvent& pe : ps.events) {
      const std::uint64_t position = ++tail.position;
      const std::uint64_t version = ++t.version;
      tail.hash = codec::seal(pe.bytes, position, version, tail.recorded_at_us, tail.hash);
      const std::string pos_key = lmdb::be64(position);
      if (failure = txn.put(db_.events, pos_key, pe.bytes, MDB_APPEND); !failure.ok())
        return result;
      const std::string entry = lmdb::be64(version) + pos_key;
      if (failure = txn.put(db_.stream_index, index_key, entry, MDB_APPENDDUP); !failure.ok()) {
        return result;
      }
      if (failure = txn.put(db_.event_ids, uuid_key(pe.id), pos_key, MDB_NOOVERWRITE);
          !failure.ok()) {
        return result;
      }
      result.events.push_back({position, version, pe.id, tail.hash});
    }
  }
  return result;
}

void LogImpl::run_batch(std::span<const std::unique_ptr<Pending>> batch) {
  auto fail_all = [&](const LogError& e) {
    for (const auto& p : batch) p->result.emplace(Unexpected(e));
  };
  for (;;) {
    std::shared_lock<RwLock> lock;
    Txn txn;
    Status s = env_.begin(0, lock, txn);
    if (!s.ok()) return fail_all(error_from(s));
    Tail tail;
    if (s = read_tail(txn, db_, tail); !s.ok()) return fail_all(error_from(s));
    if (tail.damaged) {
      return fail_all(LogError{Errc::corrupt,
                               fmt::format("the last record (position {}) is damaged; appends are "
                                           "refused until the log is repaired (portico-audit "
                                           "verify names the damage)",
                                           tail.position),
                               std::nullopt, tail.position});
    }
    // Recorded-at never goes backwards along the log, whatever the clock does.
    tail.recorded_at_us = std::max(tail.recorded_at_us, options_.clock());
    const std::uint64_t before = tail.position;

    Status failure;
    for (const auto& p : batch) {
      p->result.emplace(apply(txn, tail, p->prepared, failure));
      if (!failure.ok()) break;
    }
    // The read models commit with the events they derive from, or not at all.
    ProjectionStep projected = Projected{};
    if (failure.ok() && has_inline_) {
      const auto p0 = std::chrono::steady_clock::now();
      projected = project_inline(txn, tail.position, ~std::uint64_t{0}, before);
      if (const auto* failed = std::get_if<Status>(&projected)) failure = *failed;
      stats_.projection_ns +=
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - p0)
                                         .count());
    }
    if (failure.ok() && std::holds_alternative<Projected>(projected)) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::size_t txn_id = mdb_txn_id(txn.get());
      failure = txn.commit();
      if (failure.ok()) own_txn_id_.store(txn_id, std::memory_order_relaxed);
      stats_.commit_ns +=
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count());
      if (failure.ok()) {
        lock.unlock();
        ++stats_.commits;
        stats_.batched_appends += batch.size();
        std::uint64_t prev = stats_.max_batch.load();
        while (prev < batch.size() && !stats_.max_batch.compare_exchange_weak(prev, batch.size())) {
        }
        for (const auto& p : batch) {
          if (*p->result) {
            ++stats_.appends;
            if (!(*p->result)->duplicate) stats_.events += (*p->result)->events.size();
          } else if (p->result->error().code == Errc::conflict) {
            ++stats_.conflicts;
          }
        }
        publish(tail.position);
        return;
      }
    }
    txn.abort();
    lock.unlock();
    if (failure.rc == MDB_MAP_FULL) {
      auto grown = env_.grow_map();
      if (grown) continue;  // the whole batch again, in a larger map
      if (batch.size() == 1) return fail_all(grown.error());
    }
    if (failure.rc == MDB_MAP_RESIZED) {
      env_.adopt_map();
      continue;
    }
    if (std::holds_alternative<Backlog>(projected)) {
      // Events appended without the projections (another process): catch up in chunks of their
      // own, then this batch again.
      if (auto ok = catch_up_all(); !ok) return fail_all(ok.error());
      continue;
    }
    const Refusal* refusal = std::get_if<Refusal>(&projected);
    if (refusal && refusal->position <= before) {
      // Refused an event none of these appends carried: theirs must not fail for it. The
      // projection stops (reads of it say why) and the appends go on.
      if (auto ok = mark_stalled(*refusal); !ok) return fail_all(ok.error());
      continue;
    }
    if (batch.size() > 1) {
      // One append may be what failed (too large for the space left, or refused by a
      // projection): give each its own transaction, so that the others still commit and only the
      // culprit fails.
      for (std::size_t i = 0; i < batch.size(); ++i) run_batch(batch.subspan(i, 1));
      return;
    }
    if (refusal) {
      return fail_all(LogError{Errc::projection_failed, refusal->message, std::nullopt, 0});
    }
    LogError e = error_from(failure);
    if (e.code == Errc::storage_full && failure.rc != MDB_MAP_FULL) {
      e.message += " (the disk is full; nothing was written)";
    }
    return fail_all(e);
  }
}

void LogImpl::publish(std::uint64_t head) {
  std::lock_guard lock(notify_mu_);
  if (head > published_head_) {
    published_head_ = head;
    notify_cv_.notify_all();
  }
}

}  // namespace portico::log::detail
