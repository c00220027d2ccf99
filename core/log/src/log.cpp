// The LMDB-backed event log: layout of the databases, group commit, reads, subscriptions.
//
// Databases in one LMDB environment (docs/log-format.md):
//   events        be64(position) -> record bytes                   (appended with MDB_APPEND)
//   streams       stream id -> le64(stream number)                 (written when a stream starts)
//   stream_index  be64(stream number) -> be64(version) be64(position)  (DUPSORT | DUPFIXED)
//   event_ids     uuid (16 bytes) -> be64(position)
//   meta          "format" -> "1", "log_id" -> uuid,
//                 "projection/{name}" -> version, live slot, checkpoint (tables.hpp)
//   p/{projection}/{table}/{slot}  the tables of each projection, two slots each
// Stream numbers are handed out in creation order, so recently active streams sit next to each
// other in stream_index and a group commit dirties few of its pages.
#include <fcntl.h>
#include <fmt/format.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <portico/log/log.hpp>
#include <portico/utf8.hpp>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "lmdb.hpp"
#include "log_impl.hpp"
#include "record_codec.hpp"
#include "tables.hpp"

namespace portico::log {
namespace detail {
namespace {

std::int64_t system_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

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

std::string_view uuid_key(const Uuid& id) {
  return {reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size()};
}

}  // namespace

LogImpl::LogImpl(std::filesystem::path dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = system_now_us;
}

LogImpl::~LogImpl() {
  if (committer_.joinable()) {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    committer_.join();  // answers everything queued first
  }
  stop_watcher();
}

LogResult<void> LogImpl::open() {
  // The log's five databases and up to 16 tables × 2 slots for each projection.
  const auto max_dbs = static_cast<unsigned>(
      8 + 32 * (options_.projections.size() + options_.async_projections.size()));
  if (auto ok = env_.open(dir_, options_, max_dbs); !ok) return ok;
  auto fail = [&](int rc, const char* origin) {
    return Unexpected(error_from(Status{rc, origin}));
  };
  std::shared_lock<RwLock> lock;
  Txn txn;
  if (Status s = env_.begin(options_.read_only ? MDB_RDONLY : 0u, lock, txn); !s.ok()) {
    return Unexpected(error_from(s));
  }
  const unsigned create = options_.read_only ? 0u : MDB_CREATE;
  struct Db {
    const char* name;
    unsigned flags;
    MDB_dbi* dbi;
  } dbs[] = {{"events", 0, &events_},
             {"streams", 0, &streams_},
             {"stream_index", MDB_DUPSORT | MDB_DUPFIXED, &stream_index_},
             {"event_ids", 0, &event_ids_},
             {"meta", 0, &meta_}};
  for (const Db& db : dbs) {
    if (int rc = mdb_dbi_open(txn.get(), db.name, db.flags | create, db.dbi); rc) {
      if (rc == MDB_NOTFOUND) {
        return log_error(Errc::corrupt,
                         fmt::format("{} holds an LMDB file but not a Portico log (no '{}')",
                                     dir_.string(), db.name));
      }
      return fail(rc, "mdb_dbi_open");
    }
  }
  Status s;
  auto format = txn.get(meta_, "format", s);
  if (!s.ok()) return Unexpected(error_from(s));
  if (!format) {
    if (options_.read_only) return log_error(Errc::corrupt, "log has no format marker");
    const Uuid log_id = new_uuid_v4();
    if (s = txn.put(meta_, "format", "1"); !s.ok()) return Unexpected(error_from(s));
    if (s = txn.put(meta_, "log_id", uuid_key(log_id)); !s.ok()) return Unexpected(error_from(s));
  } else if (*format != "1") {
    return log_error(Errc::corrupt,
                     fmt::format("log format {} is not supported by this build", *format));
  }
  if (auto ok = open_projections(txn); !ok) return ok;
  if (s = txn.commit(); !s.ok()) return Unexpected(error_from(s));
  lock.unlock();

  if (auto ok = prepare_projections(); !ok) return ok;
  auto h = head();
  if (!h) return Unexpected(std::move(h).error());
  published_head_ = *h;
  if (!options_.read_only) {
    committer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "portico-commit");  // for top -H, perf and gdb
      commit_loop();
    });
  }
  return {};
}

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
        std::fprintf(stderr, "portico: an append_async callback threw (ignored): %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "portico: an append_async callback threw (ignored)\n");
      }
    }
    last_batch = batch.size();
    batch.clear();
  }
}

Status LogImpl::read_tail(const Txn& txn, Tail& tail) const {
  Status s;
  Cursor c;
  if (s = Cursor::open(txn, events_, c); !s.ok()) return s;
  MDB_val k{}, v{};
  if (c.seek(MDB_LAST, k, v, s)) {
    const auto bytes = lmdb::as_view(v);
    if (k.mv_size != 8) {
      tail.damaged = true;
      return s;
    }
    tail.position = lmdb::read_be64(static_cast<const char*>(k.mv_data));
    if (codec::well_formed(bytes) || codec::position_of(bytes) != tail.position) {
      tail.damaged = true;  // never chain onto bytes that are not a record
      return s;
    }
    tail.hash = codec::hash_of(bytes);
    tail.recorded_at_us = codec::recorded_at_of(bytes);
  } else if (!s.ok()) {
    return s;
  }
  Cursor idx;
  if (s = Cursor::open(txn, stream_index_, idx); !s.ok()) return s;
  if (idx.seek(MDB_LAST, k, v, s)) {
    tail.last_stream_no = lmdb::read_be64(static_cast<const char*>(k.mv_data));
  }
  return s;
}

std::optional<std::uint64_t> LogImpl::stream_no(const Txn& txn, std::string_view stream,
                                                Status& status) const {
  auto v = txn.get(streams_, stream, status);
  if (!v) return std::nullopt;
  if (v->size() != 8) {
    status = {MDB_CORRUPTED, "streams: a stream number is not 8 bytes"};
    return std::nullopt;
  }
  std::uint64_t no = 0;
  for (int i = 7; i >= 0; --i) no = no << 8 | static_cast<unsigned char>((*v)[i]);
  return no;
}

std::uint64_t LogImpl::current_version(const Txn& txn, std::uint64_t no, Status& status) const {
  Cursor c;
  if (status = Cursor::open(txn, stream_index_, c); !status.ok()) return 0;
  const std::string key = lmdb::be64(no);
  MDB_val k = lmdb::as_val(key), v{};
  if (!c.seek(MDB_SET, k, v, status)) return 0;
  if (!c.seek(MDB_LAST_DUP, k, v, status)) return 0;
  return lmdb::read_be64(static_cast<const char*>(v.mv_data));
}

LogResult<AppendResult> LogImpl::apply(Txn& txn, Tail& tail, Prepared& prepared, Status& failure) {
  // A retry of an append that already committed: every id is known. Answer as the first time.
  std::size_t known = 0;
  AppendResult result;
  result.events.reserve(prepared.events);
  for (const PreparedStream& ps : prepared.streams) {
    for (const PreparedEvent& pe : ps.events) {
      if (pe.generated) continue;
      auto pos = txn.get(event_ids_, uuid_key(pe.id), failure);
      if (!failure.ok()) return result;
      if (!pos) continue;
      if (pos->size() != 8) {
        failure = {MDB_CORRUPTED, "event_ids: a position is not 8 bytes"};
        return result;
      }
      ++known;
      const std::uint64_t position = lmdb::read_be64(pos->data());
      auto bytes = txn.get(events_, lmdb::be64(position), failure);
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
    Target t{stream_no(txn, ps.stream, failure), 0};
    if (!failure.ok()) return result;
    if (t.no) t.version = current_version(txn, *t.no, failure);
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
      std::string no_le(8, '\0');
      for (int b = 0; b < 8; ++b) {
        no_le[static_cast<std::size_t>(b)] = static_cast<char>((*t.no >> (8 * b)) & 0xff);
      }
      if (failure = txn.put(streams_, ps.stream, no_le, MDB_NOOVERWRITE); !failure.ok()) {
        return result;
      }
    }
    const std::string index_key = lmdb::be64(*t.no);
    for (PreparedEvent& pe : ps.events) {
      const std::uint64_t position = ++tail.position;
      const std::uint64_t version = ++t.version;
      tail.hash = codec::seal(pe.bytes, position, version, tail.recorded_at_us, tail.hash);
      const std::string pos_key = lmdb::be64(position);
      if (failure = txn.put(events_, pos_key, pe.bytes, MDB_APPEND); !failure.ok()) return result;
      const std::string entry = lmdb::be64(version) + pos_key;
      if (failure = txn.put(stream_index_, index_key, entry, MDB_APPENDDUP); !failure.ok()) {
        return result;
      }
      if (failure = txn.put(event_ids_, uuid_key(pe.id), pos_key, MDB_NOOVERWRITE); !failure.ok()) {
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
    if (s = read_tail(txn, tail); !s.ok()) return fail_all(error_from(s));
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
    Refusal refusal;
    if (failure.ok() && has_inline_) {
      const auto p0 = std::chrono::steady_clock::now();
      failure = project_inline(txn, tail.position, refusal, ~std::uint64_t{0}, before);
      stats_.projection_ns +=
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - p0)
                                         .count());
    }
    if (failure.ok()) {
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
    if (failure.rc == kProjectionBacklog) {
      // Events appended without the projections (another process): catch up in chunks of their
      // own, then this batch again.
      if (auto ok = catch_up_all(); !ok) return fail_all(ok.error());
      continue;
    }
    if (failure.rc == kProjectionRefused && refusal.position <= before) {
      // Refused an event none of these appends carried: theirs must not fail for it. The
      // projection stops (reads of it say why) and the appends go on.
      if (auto ok = mark_stalled(refusal); !ok) return fail_all(ok.error());
      continue;
    }
    if (batch.size() > 1) {
      // One append may be what failed (too large for the space left, or refused by a
      // projection): give each its own transaction, so that the others still commit and only the
      // culprit fails.
      for (std::size_t i = 0; i < batch.size(); ++i) run_batch(batch.subspan(i, 1));
      return;
    }
    if (failure.rc == kProjectionRefused) {
      return fail_all(LogError{Errc::projection_failed, refusal.message, std::nullopt, 0});
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

LogResult<Record> LogImpl::to_record(std::string_view bytes, std::uint64_t position) const {
  auto rec = codec::decode(bytes);
  if (!rec || rec->position != position) {
    return Unexpected(
        LogError{Errc::corrupt,
                 fmt::format("record at position {} does not decode: {}", position,
                             rec ? "it names another position" : *codec::well_formed(bytes)),
                 std::nullopt, position});
  }
  if (!options_.upcasters.empty() && options_.upcasters.handles(rec->type, rec->schema_version)) {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(rec->payload, ec);
    if (ec || !parsed.is_object()) {
      return Unexpected(LogError{
          Errc::corrupt, fmt::format("the payload at position {} is not a JSON object", position),
          std::nullopt, position});
    }
    boost::json::object payload = std::move(parsed.as_object());
    rec->schema_version = options_.upcasters.apply(rec->type, rec->schema_version, payload);
    rec->payload = boost::json::serialize(payload);
  }
  return std::move(*rec);
}

LogResult<std::vector<Record>> LogImpl::read_all(std::uint64_t from, std::size_t max_count) {
  return env_.with_read([&](Txn& txn) -> LogResult<std::vector<Record>> {
    std::vector<Record> out;
    Status s;
    Cursor c;
    if (s = Cursor::open(txn, events_, c); !s.ok()) return Unexpected(error_from(s));
    std::uint64_t expected = std::max<std::uint64_t>(from, 1);
    const std::string key = lmdb::be64(expected);
    MDB_val k = lmdb::as_val(key), v{};
    for (bool found = c.seek(MDB_SET_RANGE, k, v, s); found && out.size() < max_count;
         found = c.seek(MDB_NEXT, k, v, s), ++expected) {
      const std::uint64_t position =
          k.mv_size == 8 ? lmdb::read_be64(static_cast<const char*>(k.mv_data)) : 0;
      if (position != expected) {
        // Positions are dense: a gap means a record was removed behind the log's back.
        return Unexpected(LogError{Errc::corrupt,
                                   fmt::format("position {} is missing from the log", expected),
                                   std::nullopt, expected});
      }
      auto rec = to_record(lmdb::as_view(v), position);
      if (!rec) return Unexpected(std::move(rec).error());
      out.push_back(std::move(*rec));
    }
    if (!s.ok()) return Unexpected(error_from(s));
    return out;
  });
}

LogResult<std::vector<Record>> LogImpl::read_stream(std::string_view stream, std::uint64_t from,
                                                    Direction direction, std::size_t max_count) {
  return env_.with_read([&](Txn& txn) -> LogResult<std::vector<Record>> {
    std::vector<Record> out;
    Status s;
    auto no = stream_no(txn, stream, s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!no || max_count == 0) return out;
    Cursor c;
    if (s = Cursor::open(txn, stream_index_, c); !s.ok()) return Unexpected(error_from(s));
    const std::string key = lmdb::be64(*no);
    const std::string probe = lmdb::be64(std::max<std::uint64_t>(from, 1)) + lmdb::be64(0);
    MDB_val k = lmdb::as_val(key), v = lmdb::as_val(probe);
    bool found = c.seek(MDB_GET_BOTH_RANGE, k, v, s);
    if (direction == Direction::backward) {
      if (found && lmdb::read_be64(static_cast<const char*>(v.mv_data)) > from) {
        found = c.seek(MDB_PREV_DUP, k, v, s);
      } else if (!found && s.ok()) {
        // `from` is past the end: start from the newest.
        k = lmdb::as_val(key);
        found = c.seek(MDB_SET, k, v, s) && c.seek(MDB_LAST_DUP, k, v, s);
      }
    }
    const MDB_cursor_op step = direction == Direction::forward ? MDB_NEXT_DUP : MDB_PREV_DUP;
    for (; found && out.size() < max_count; found = c.seek(step, k, v, s)) {
      const std::uint64_t position = lmdb::read_be64(static_cast<const char*>(v.mv_data) + 8);
      auto bytes = txn.get(events_, lmdb::be64(position), s);
      if (!s.ok()) return Unexpected(error_from(s));
      if (!bytes) {
        return Unexpected(LogError{
            Errc::corrupt,
            fmt::format("stream '{}' lists position {}, which is missing", stream, position),
            std::nullopt, position});
      }
      auto rec = to_record(*bytes, position);
      if (!rec) return Unexpected(std::move(rec).error());
      if (rec->stream != stream ||
          rec->stream_version != lmdb::read_be64(static_cast<const char*>(v.mv_data))) {
        return Unexpected(LogError{
            Errc::corrupt,
            fmt::format("the index of stream '{}' points at position {}, which holds another "
                        "event",
                        stream, position),
            std::nullopt, position});
      }
      out.push_back(std::move(*rec));
    }
    if (!s.ok()) return Unexpected(error_from(s));
    return out;
  });
}

LogResult<std::uint64_t> LogImpl::stream_version(std::string_view stream) {
  return env_.with_read([&](Txn& txn) -> LogResult<std::uint64_t> {
    Status s;
    auto no = stream_no(txn, stream, s);
    const std::uint64_t version = no && s.ok() ? current_version(txn, *no, s) : 0;
    if (!s.ok()) return Unexpected(error_from(s));
    return version;
  });
}

LogResult<std::optional<Record>> LogImpl::find(const Uuid& id) {
  return env_.with_read([&](Txn& txn) -> LogResult<std::optional<Record>> {
    Status s;
    auto pos = txn.get(event_ids_, uuid_key(id), s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!pos) return std::optional<Record>();
    if (pos->size() != 8) return log_error(Errc::corrupt, "event_ids: a position is not 8 bytes");
    const std::uint64_t position = lmdb::read_be64(pos->data());
    auto bytes = txn.get(events_, lmdb::be64(position), s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!bytes) {
      return Unexpected(LogError{
          Errc::corrupt,
          fmt::format("event id {} points at missing position {}", id.to_string(), position),
          std::nullopt, position});
    }
    auto rec = to_record(*bytes, position);
    if (!rec) return Unexpected(std::move(rec).error());
    return std::optional<Record>(std::move(*rec));
  });
}

LogResult<std::uint64_t> LogImpl::head() {
  return env_.with_read([&](Txn& txn) -> LogResult<std::uint64_t> {
    Tail tail;
    if (Status s = read_tail(txn, tail); !s.ok()) return Unexpected(error_from(s));
    return tail.position;
  });
}

LogResult<VerifyReport> LogImpl::verify(const Progress& progress) {
  struct Snapshot {
    std::uint64_t head = 0, ids = 0, index = 0, streams = 0;
  };
  auto snap = env_.with_read([&](Txn& txn) -> LogResult<Snapshot> {
    Snapshot out;
    Tail tail;
    if (Status s = read_tail(txn, tail); !s.ok()) return Unexpected(error_from(s));
    out.head = tail.position;
    MDB_stat st{};
    mdb_stat(txn.get(), event_ids_, &st);
    out.ids = st.ms_entries;
    mdb_stat(txn.get(), stream_index_, &st);
    out.index = st.ms_entries;
    mdb_stat(txn.get(), streams_, &st);
    out.streams = st.ms_entries;
    return out;
  });
  if (!snap) return Unexpected(std::move(snap).error());

  VerifyReport report;
  struct ViewHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, std::uint64_t, ViewHash, std::equal_to<>> versions;
  versions.reserve(snap->streams);
  Hash prev{};
  std::uint64_t expected = 1;
  auto bad = [&](std::uint64_t position, std::string problem) {
    report.ok = false;
    report.first_bad_position = position;
    report.problem = std::move(problem);
  };
  constexpr std::size_t kChunk = 8192;  // records per read transaction
  while (report.ok && expected <= snap->head) {
    auto chunk = env_.with_read([&](Txn& txn) -> LogResult<bool> {
      Status s;
      Cursor c;
      if (s = Cursor::open(txn, events_, c); !s.ok()) return Unexpected(error_from(s));
      const std::string key = lmdb::be64(expected);
      MDB_val k = lmdb::as_val(key), v{};
      std::size_t n = 0;
      bool found = c.seek(MDB_SET_RANGE, k, v, s);
      for (; found && n < kChunk && expected <= snap->head; found = c.seek(MDB_NEXT, k, v, s)) {
        ++n;
        if (k.mv_size != 8) {
          bad(expected, "a key of the events database is not a position");
          return true;
        }
        const std::uint64_t position = lmdb::read_be64(static_cast<const char*>(k.mv_data));
        const std::string_view bytes = lmdb::as_view(v);
        if (position != expected) {
          bad(expected,
              fmt::format("position {} is missing (the next record is at {})", expected, position));
          return true;
        }
        if (auto problem = codec::well_formed(bytes)) {
          bad(position, "record does not decode: " + *problem);
          return true;
        }
        if (codec::position_of(bytes) != position) {
          bad(position, fmt::format("record claims position {}", codec::position_of(bytes)));
          return true;
        }
        if (codec::prev_hash_of(bytes) != prev) {
          bad(position, "record does not chain to the one before it (prev_hash differs)");
          return true;
        }
        if (!codec::hash_matches(bytes)) {
          bad(position, "hash does not match the record's bytes: the record was altered");
          return true;
        }
        auto known = versions.find(codec::stream_of(bytes));
        if (known == versions.end()) {
          known = versions.emplace(std::string(codec::stream_of(bytes)), 0).first;
        }
        std::uint64_t& version = known->second;
        if (codec::stream_version_of(bytes) != version + 1) {
          bad(position,
              fmt::format("stream '{}' jumps from version {} to {}", codec::stream_of(bytes),
                          version, codec::stream_version_of(bytes)));
          return true;
        }
        ++version;
        prev = codec::hash_of(bytes);
        ++report.events;
        ++expected;
      }
      if (!s.ok()) return Unexpected(error_from(s));
      if (!found && expected <= snap->head) {
        bad(expected,
            fmt::format("position {} is missing (the log ends before {})", expected, snap->head));
      }
      return true;
    });
    if (!chunk) return Unexpected(std::move(chunk).error());
    if (progress) progress(report.events, snap->head);
  }
  report.streams = versions.size();
  if (report.ok &&
      (snap->ids != snap->head || snap->index != snap->head || snap->streams != report.streams)) {
    bad(snap->head,
        fmt::format("indexes disagree with the records: {} records, {} event ids, {} stream "
                    "index entries, {} streams named (records name {})",
                    snap->head, snap->ids, snap->index, snap->streams, report.streams));
  }
  return report;
}

LogResult<void> LogImpl::backup(const std::filesystem::path& dest, const Progress& progress) {
  std::error_code ec;
  std::filesystem::create_directories(dest, ec);
  if (ec) {
    return log_error(Errc::io_error,
                     fmt::format("cannot create {}: {}", dest.string(), ec.message()));
  }
  if (std::filesystem::exists(dest / "data.mdb")) {
    return log_error(
        Errc::invalid_argument,
        fmt::format("{} already holds a log; back up into an empty directory", dest.string()));
  }
  const std::uint64_t total = env_.info().used_bytes;

  std::atomic<bool> done{false};
  std::thread watcher;
  if (progress) {
    watcher = std::thread([&] {
      while (!done.load()) {
        std::error_code size_ec;
        const auto size = std::filesystem::file_size(dest / "data.mdb", size_ec);
        progress(size_ec ? 0 : std::min<std::uint64_t>(size, total), total);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  // The copy holds a read transaction throughout, and LMDB cannot resize the map while one is
  // open: give the map room to double first, so appends meanwhile rarely need to grow it (if
  // they do, they wait for the copy to finish).
  env_.reserve_room(total * 2);
  const Status copied = env_.copy_compact(dest);
  done = true;
  if (watcher.joinable()) watcher.join();
  if (!copied.ok()) {
    std::filesystem::remove(dest / "data.mdb", ec);
    return Unexpected(error_from(copied));
  }
  if (progress) progress(total, total);
  return {};
}

// ---- Projections ----

LogResult<void> LogImpl::open_projections(const Txn& txn) {
  std::set<std::string> names;
  auto add = [&](const std::shared_ptr<Projection>& p, bool is_inline) -> LogResult<void> {
    if (!p) return log_error(Errc::invalid_argument, "a registered projection is null");
    auto h = std::make_unique<ProjectionHandle>();
    h->projection = p;
    h->name = p->name();
    h->is_inline = is_inline;
    h->tables = p->tables();
    if (!valid_projection_name(h->name) || !names.insert(h->name).second) {
      return log_error(Errc::invalid_argument,
                       fmt::format("projection name '{}' is not 1 to 32 characters of [a-z0-9_] "
                                   "or is registered twice",
                                   h->name));
    }
    if (h->tables.empty() || h->tables.size() > 16 ||
        !std::all_of(h->tables.begin(), h->tables.end(), valid_projection_name)) {
      return log_error(Errc::invalid_argument,
                       fmt::format("projection '{}' must have 1 to 16 tables named with 1 to 32 "
                                   "characters of [a-z0-9_]",
                                   h->name));
    }
    h->meta_key = "projection/" + h->name;
    h->build_key = h->meta_key + "/build";
    h->stalled_key = h->meta_key + "/stalled";
    for (int slot = 0; slot < 2; ++slot) {
      for (const std::string& table : h->tables) {
        MDB_dbi dbi = 0;
        const std::string db = table_db_name(h->name, table, slot);
        const int rc =
            mdb_dbi_open(txn.get(), db.c_str(), options_.read_only ? 0u : MDB_CREATE, &dbi);
        if (rc == MDB_NOTFOUND && options_.read_only) {
          h->available = false;
          break;
        }
        if (rc) return Unexpected(error_from(Status{rc, "mdb_dbi_open"}));
        h->dbis[static_cast<std::size_t>(slot)].push_back(dbi);
      }
    }
    has_inline_ = has_inline_ || is_inline;
    projections_.push_back(std::move(h));
    return {};
  };
  for (const auto& p : options_.projections) {
    if (auto ok = add(p, true); !ok) return ok;
  }
  for (const auto& p : options_.async_projections) {
    if (auto ok = add(p, false); !ok) return ok;
  }
  return {};
}

LogResult<void> LogImpl::prepare_projections() {
  if (options_.read_only) return {};
  for (const auto& h : projections_) {
    auto meta = env_.with_read([&](Txn& txn) -> LogResult<std::optional<ProjectionMeta>> {
      Status s;
      auto m = read_meta(txn, *h, s);
      if (!s.ok()) return Unexpected(error_from(s));
      return m;
    });
    if (!meta) return Unexpected(std::move(meta).error());
    const bool current = *meta && (*meta)->version == h->projection->version();
    if (!h->is_inline) {
      if (!current) {
        if (auto ok = reset_async(*h); !ok) return ok;
      }
      continue;
    }
    Progress progress;
    if (options_.rebuild_progress) {
      progress = [&](std::uint64_t done, std::uint64_t total) {
        options_.rebuild_progress(h->name, done, total);
      };
    }
    auto ok = current ? catch_up_inline(*h) : rebuild_inline(*h, progress);
    if (!ok) return ok;
  }
  return {};
}

const ProjectionHandle* LogImpl::find_projection(std::string_view name) const {
  for (const auto& h : projections_) {
    if (h->name == name) return h.get();
  }
  return nullptr;
}

std::optional<ProjectionMeta> LogImpl::read_meta(const Txn& txn, const ProjectionHandle& h,
                                                 Status& status) const {
  auto bytes = txn.get(meta_, h.meta_key, status);
  if (!bytes) return std::nullopt;
  auto meta = ProjectionMeta::decode(*bytes);
  if (!meta) status = {MDB_CORRUPTED, "meta: a projection record does not decode"};
  return meta;
}

Status LogImpl::apply_range(const Txn& events_txn, std::uint64_t from, std::uint64_t to,
                            const ProjectionHandle& h, LmdbTables& tables, Refusal& refusal) const {
  Status s;
  if (from >= to) return s;
  Cursor c;
  if (s = Cursor::open(events_txn, events_, c); !s.ok()) return s;
  std::uint64_t expected = from + 1;
  const std::string key = lmdb::be64(expected);
  MDB_val k = lmdb::as_val(key), v{};
  for (bool found = c.seek(MDB_SET_RANGE, k, v, s); found && expected <= to;
       found = c.seek(MDB_NEXT, k, v, s), ++expected) {
    const std::uint64_t position =
        k.mv_size == 8 ? lmdb::read_be64(static_cast<const char*>(k.mv_data)) : 0;
    if (position != expected) break;
    auto rec = to_record(lmdb::as_view(v), position);
    if (!rec) {
      refusal = {h.name, position,
                 fmt::format("projection '{}' cannot read position {}: {}", h.name, position,
                             rec.error().message)};
      return {kProjectionRefused, "projection"};
    }
    auto applied = h.projection->apply(tables, *rec);
    if (!tables.failure().ok()) return tables.failure();
    if (!applied) {
      refusal = {h.name, position,
                 fmt::format("projection '{}' refused event {} at position {} ({} on '{}'): {}",
                             h.name, rec->id.to_string(), position, rec->type, rec->stream,
                             applied.error().message)};
      return {kProjectionRefused, "projection"};
    }
    tables.set_position(position);
  }
  if (!s.ok()) return s;
  if (expected <= to) {
    refusal = {
        h.name, expected,
        fmt::format("projection '{}': position {} is missing from the log", h.name, expected)};
    return {kProjectionRefused, "projection"};
  }
  return s;
}

Status LogImpl::project_inline(Txn& txn, std::uint64_t head, Refusal& refusal, std::uint64_t limit,
                               std::uint64_t backlog_end) {
  Status s;
  for (const auto& h : projections_) {
    if (!h->is_inline) continue;
    auto meta = read_meta(txn, *h, s);
    if (!s.ok()) return s;
    // Missing or of another version: set up by a process with other code; the next open here
    // rebuilds it rather than mixing two layouts.
    if (!meta || meta->version != h->projection->version() || meta->position >= head) continue;
    if (txn.get(meta_, h->stalled_key, s) || !s.ok()) {
      if (!s.ok()) return s;
      continue;  // stalled: reads of it say why; a rebuild starts it again
    }
    if (backlog_end > meta->position + kProjectionChunk) return {kProjectionBacklog, "projection"};
    const std::uint64_t to = head - meta->position > limit ? meta->position + limit : head;
    LmdbTables tables(txn, h->dbis[meta->slot], meta->position);
    if (s = apply_range(txn, meta->position, to, *h, tables, refusal); !s.ok()) return s;
    meta->position = to;
    if (s = txn.put(meta_, h->meta_key, meta->encode()); !s.ok()) return s;
  }
  return s;
}

namespace {
Status clear_slot(const Txn& txn, const std::vector<MDB_dbi>& dbis) {
  for (MDB_dbi dbi : dbis) {
    if (int rc = mdb_drop(txn.get(), dbi, 0); rc) return {rc, "mdb_drop"};
  }
  return {};
}

std::uint64_t last_position(const Txn& txn, MDB_dbi events, Status& s) {
  Cursor c;
  if (s = Cursor::open(txn, events, c); !s.ok()) return 0;
  MDB_val k{}, v{};
  if (!c.seek(MDB_LAST, k, v, s) || k.mv_size != 8) return 0;
  return lmdb::read_be64(static_cast<const char*>(k.mv_data));
}
}  // namespace

LogResult<void> LogImpl::catch_up_inline(const ProjectionHandle&) { return catch_up_all(); }

LogResult<void> LogImpl::catch_up_all() {
  for (;;) {
    Refusal refusal;
    auto step = env_.with_write([&](Txn& txn, Status& failure) -> LogResult<bool> {
      const std::uint64_t head = last_position(txn, events_, failure);
      if (!failure.ok()) return false;
      std::uint64_t behind = 0;
      for (const auto& h : projections_) {
        if (!h->is_inline) continue;
        auto meta = read_meta(txn, *h, failure);
        if (!failure.ok()) return false;
        if (meta && meta->position < head) behind = std::max(behind, head - meta->position);
      }
      if (behind == 0) return false;
      // project_inline covers every inline projection: each advances by at most a chunk.
      failure = project_inline(txn, head, refusal, kProjectionChunk);
      if (failure.rc == kProjectionRefused) {
        failure = {};
        return log_error(Errc::projection_failed, refusal.message);
      }
      return behind > kProjectionChunk;
    });
    if (!step && step.error().code == Errc::projection_failed) {
      // Nothing of ours is being appended: the projection stalls, the log goes on.
      if (auto ok = mark_stalled(refusal); !ok) return ok;
      continue;
    }
    if (!step) return Unexpected(std::move(step).error());
    if (!*step) return {};
  }
}

LogResult<void> LogImpl::mark_stalled(const Refusal& refusal) {
  const ProjectionHandle* h = find_projection(refusal.projection);
  if (!h) return log_error(Errc::projection_failed, refusal.message);
  std::fprintf(stderr, "portico: projection '%s' stalled: %s\n", h->name.c_str(),
               refusal.message.c_str());
  return env_.with_write([&](Txn& txn, Status& failure) -> LogResult<void> {
    failure = txn.put(meta_, h->stalled_key, lmdb::be64(refusal.position) + refusal.message);
    return {};
  });
}

LogResult<void> LogImpl::reset_async(const ProjectionHandle& h) {
  return env_.with_write([&](Txn& txn, Status& failure) -> LogResult<void> {
    if (failure = clear_slot(txn, h.dbis[0]); !failure.ok()) return {};
    if (failure = clear_slot(txn, h.dbis[1]); !failure.ok()) return {};
    // A work queue replays the history to rebuild its state, but acts only on what comes next.
    const std::uint64_t acted =
        h.projection->is_work_queue() ? last_position(txn, events_, failure) : 0;
    if (!failure.ok()) return {};
    failure =
        txn.put(meta_, h.meta_key, ProjectionMeta{h.projection->version(), 0, 0, acted}.encode());
    return {};
  });
}

bool LogImpl::wait_for_other_rebuild(const ProjectionHandle& h) {
  auto marker = [&]() -> std::optional<std::string> {
    auto m = env_.with_read([&](Txn& txn) -> LogResult<std::optional<std::string>> {
      Status s;
      auto v = txn.get(meta_, h.build_key, s);
      if (!s.ok()) return Unexpected(error_from(s));
      return v ? std::optional<std::string>(*v) : std::nullopt;
    });
    return m ? *m : std::nullopt;
  };
  auto seen = marker();
  if (!seen) return false;
  // A rebuild commits a chunk at least every few seconds; one that does not for 10 s died.
  for (;;) {
    std::optional<std::string> now;
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      now = marker();
      if (now != seen) break;
    }
    if (!now) return true;          // finished
    if (now == seen) return false;  // stopped advancing: take it over
    seen = now;
  }
}

LogResult<void> LogImpl::rebuild_inline(const ProjectionHandle& h, const Progress& progress) {
  // Fill the slot that is not live, in chunks, while appends keep updating the live one; the
  // transaction that applies the last events also makes the new slot live. A marker names this
  // rebuild, so that two rebuilds of one projection (two processes) cannot mix their work.
  // Another process rebuilding it (two programs of a new version starting together): let it
  // finish rather than take its work over.
  if (wait_for_other_rebuild(h)) {
    auto meta = env_.with_read([&](Txn& txn) -> LogResult<std::optional<ProjectionMeta>> {
      Status s;
      auto m = read_meta(txn, h, s);
      if (!s.ok()) return Unexpected(error_from(s));
      return m;
    });
    if (meta && *meta && (*meta)->version == h.projection->version()) return {};
  }
  BuildMarker marker;
  marker.owner = new_uuid_v4().bytes;
  auto target = env_.with_write([&](Txn& txn, Status& failure) -> LogResult<std::uint8_t> {
    auto meta = read_meta(txn, h, failure);
    if (!failure.ok()) return 0;
    const std::uint8_t slot = meta ? static_cast<std::uint8_t>(1 - meta->slot) : 0;
    if (failure = clear_slot(txn, h.dbis[slot]); !failure.ok()) return 0;
    failure = txn.put(meta_, h.build_key, marker.encode());
    return slot;
  });
  if (!target) return Unexpected(std::move(target).error());
  for (;;) {
    auto step = env_.with_write(
        [&](Txn& txn, Status& failure) -> LogResult<std::pair<bool, std::uint64_t>> {
          auto stored = txn.get(meta_, h.build_key, failure);
          if (!failure.ok()) return std::pair{false, std::uint64_t{0}};
          auto current = stored ? BuildMarker::decode(*stored) : std::nullopt;
          if (!current || current->owner != marker.owner) {
            return log_error(Errc::conflict,
                             fmt::format("another rebuild of projection '{}' started; this one "
                                         "stopped",
                                         h.name));
          }
          const std::uint64_t head = last_position(txn, events_, failure);
          if (!failure.ok()) return std::pair{false, head};
          const std::uint64_t to = std::min(head, current->position + kProjectionChunk);
          LmdbTables tables(txn, h.dbis[*target], current->position);
          Refusal refusal;
          failure = apply_range(txn, current->position, to, h, tables, refusal);
          if (failure.rc == kProjectionRefused) {
            failure = {};
            return Unexpected(LogError{Errc::projection_failed, refusal.message, std::nullopt, 0});
          }
          if (!failure.ok()) return std::pair{false, head};
          if (to < head) {
            failure = txn.put(meta_, h.build_key, BuildMarker{marker.owner, to}.encode());
            return std::pair{false, to};
          }
          // Caught up, with the log's writer lock held: swap.
          auto old = read_meta(txn, h, failure);
          if (!failure.ok()) return std::pair{false, head};
          if (failure = txn.put(meta_, h.meta_key,
                                ProjectionMeta{h.projection->version(), *target, head}.encode());
              !failure.ok()) {
            return std::pair{false, head};
          }
          for (const std::string* key : {&h.build_key, &h.stalled_key}) {
            MDB_val k = lmdb::as_val(*key);
            if (int rc = mdb_del(txn.get(), meta_, &k, nullptr); rc && rc != MDB_NOTFOUND) {
              failure = {rc, "mdb_del"};
              return std::pair{false, head};
            }
          }
          if (old) failure = clear_slot(txn, h.dbis[old->slot]);
          return std::pair{true, head};
        });
    if (!step && step.error().code == Errc::conflict) {
      // Another process took the rebuild over: wait for it to finish.
      wait_for_other_rebuild(h);
      auto info = projection_info(h.name);
      if (info && info->version == h.projection->version()) return {};
    }
    if (!step) return Unexpected(std::move(step).error());
    auto total = head();
    if (progress) progress(step->second, total ? std::max(*total, step->second) : step->second);
    if (step->first) return {};
  }
}

LogResult<void> LogImpl::read_projection(std::string_view name,
                                         const std::function<void(const TableReader&)>& fn) {
  const ProjectionHandle* h = find_projection(name);
  if (!h || !h->available) {
    return log_error(Errc::invalid_argument,
                     fmt::format("projection '{}' is not registered or not built", name));
  }
  return env_.with_read([&](Txn& txn) -> LogResult<void> {
    Status s;
    auto meta = read_meta(txn, *h, s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!meta) {
      return log_error(Errc::invalid_argument, fmt::format("projection '{}' is not built", name));
    }
    if (meta->version != h->projection->version()) {
      return log_error(Errc::projection_failed,
                       fmt::format("projection '{}' is stored at version {} and this program's "
                                   "is {}: restart it (or let it rebuild the projection)",
                                   name, meta->version, h->projection->version()));
    }
    if (auto stalled = txn.get(meta_, h->stalled_key, s); stalled && stalled->size() >= 8) {
      return log_error(Errc::projection_failed,
                       fmt::format("projection '{}' stopped at position {}: {} (fix the cause, "
                                   "then portico-audit rebuild)",
                                   name, lmdb::read_be64(stalled->data()), stalled->substr(8)));
    }
    if (!s.ok()) return Unexpected(error_from(s));
    LmdbTables tables(txn, h->dbis[meta->slot], meta->position, meta->acted_until);
    fn(tables);
    if (!tables.failure().ok()) return Unexpected(error_from(tables.failure()));
    return {};
  });
}

LogResult<std::uint64_t> LogImpl::apply_projection(std::string_view name,
                                                   std::span<const Record> records) {
  const ProjectionHandle* h = find_projection(name);
  if (!h || h->is_inline) {
    return log_error(Errc::invalid_argument,
                     fmt::format("'{}' is not a registered async projection", name));
  }
  return env_.with_write([&](Txn& txn, Status& failure) -> LogResult<std::uint64_t> {
    auto meta = read_meta(txn, *h, failure);
    if (!failure.ok()) return 0;
    if (!meta) meta = ProjectionMeta{h->projection->version(), 0, 0, 0};
    if (meta->version != h->projection->version()) {
      return log_error(Errc::projection_failed,
                       fmt::format("projection '{}' is stored at version {} and this program's "
                                   "is {}: this feed stops",
                                   name, meta->version, h->projection->version()));
    }
    LmdbTables tables(txn, h->dbis[meta->slot], meta->position, meta->acted_until);
    for (const Record& r : records) {
      if (r.position <= meta->position) continue;  // delivered again: already applied
      if (r.position != meta->position + 1) {
        return log_error(Errc::invalid_argument,
                         fmt::format("projection '{}' is at position {}; position {} would leave "
                                     "a gap",
                                     name, meta->position, r.position));
      }
      auto applied = h->projection->apply(tables, r);
      if (!tables.failure().ok()) {
        failure = tables.failure();
        return 0;
      }
      if (!applied) {
        return log_error(
            Errc::projection_failed,
            fmt::format("projection '{}' refused event {} at position {} ({}): {}", name,
                        r.id.to_string(), r.position, r.type, applied.error().message));
      }
      meta->position = r.position;
      tables.set_position(r.position);
    }
    failure = txn.put(meta_, h->meta_key, meta->encode());
    return meta->position;
  });
}

LogResult<void> LogImpl::write_projection(std::string_view name,
                                          const std::function<Result<void>(TableWriter&)>& fn) {
  const ProjectionHandle* h = find_projection(name);
  if (!h || h->is_inline) {
    return log_error(Errc::invalid_argument,
                     fmt::format("'{}' is not a registered async projection (inline tables "
                                 "change only with the events they derive from)",
                                 name));
  }
  return env_.with_write([&](Txn& txn, Status& failure) -> LogResult<void> {
    auto meta = read_meta(txn, *h, failure);
    if (!failure.ok()) return {};
    if (!meta) meta = ProjectionMeta{h->projection->version(), 0, 0, 0};
    if (meta->version != h->projection->version()) {
      return log_error(Errc::projection_failed,
                       fmt::format("projection '{}' is stored at version {} and this program's "
                                   "is {}",
                                   name, meta->version, h->projection->version()));
    }
    LmdbTables tables(txn, h->dbis[meta->slot], meta->position, meta->acted_until);
    auto done = fn(tables);
    if (!tables.failure().ok()) {
      failure = tables.failure();
      return {};
    }
    if (!done) return log_error(Errc::projection_failed, done.error().message);
    return {};
  });
}

LogResult<ProjectionInfo> LogImpl::projection_info(std::string_view name) {
  const ProjectionHandle* h = find_projection(name);
  if (!h) {
    return log_error(Errc::invalid_argument,
                     fmt::format("projection '{}' is not registered", name));
  }
  return env_.with_read([&](Txn& txn) -> LogResult<ProjectionInfo> {
    Status s;
    auto meta = read_meta(txn, *h, s);
    if (!s.ok()) return Unexpected(error_from(s));
    ProjectionInfo info{h->name, h->is_inline, 0, 0, 0, 0, 0, {}};
    if (meta) {
      info.version = meta->version;
      info.position = meta->position;
      info.slot = meta->slot;
      info.acted_until = meta->acted_until;
    }
    if (auto stalled = txn.get(meta_, h->stalled_key, s); stalled && stalled->size() >= 8) {
      info.stalled_at = lmdb::read_be64(stalled->data());
      info.problem = std::string(stalled->substr(8));
    }
    if (!s.ok()) return Unexpected(error_from(s));
    return info;
  });
}

LogResult<void> LogImpl::rebuild_projections(std::span<const std::string> names,
                                             const Progress& progress) {
  std::vector<const ProjectionHandle*> chosen;
  for (const std::string& name : names) {
    const ProjectionHandle* h = find_projection(name);
    if (!h) {
      return log_error(Errc::invalid_argument,
                       fmt::format("projection '{}' is not registered", name));
    }
    chosen.push_back(h);
  }
  if (names.empty()) {
    for (const auto& h : projections_) {
      if (h->is_inline) chosen.push_back(h.get());
    }
  }
  for (const ProjectionHandle* h : chosen) {
    auto ok = h->is_inline ? rebuild_inline(*h, progress) : reset_async(*h);
    if (!ok) return ok;
  }
  return {};
}

namespace {
std::string printable_key(std::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}
}  // namespace

LogResult<std::vector<ProjectionCheck>> LogImpl::check_projections(const Progress& progress) {
  // The scratch environment: a temporary directory, written without syncs and removed after.
  std::string pattern = (std::filesystem::temp_directory_path() / "portico-check-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    return log_error(Errc::io_error, fmt::format("mkdtemp: {}", std::strerror(errno)));
  }
  const std::filesystem::path scratch_dir = pattern;
  MDB_env* scratch = nullptr;
  struct Cleanup {
    MDB_env*& env;
    std::filesystem::path dir;
    ~Cleanup() {
      if (env) mdb_env_close(env);
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{scratch, scratch_dir};
  if (int rc = mdb_env_create(&scratch); rc) {
    return Unexpected(error_from(Status{rc, "mdb_env_create"}));
  }
  std::size_t table_count = 0;
  for (const auto& h : projections_) table_count += h->tables.size();
  mdb_env_set_maxdbs(scratch, static_cast<MDB_dbi>(table_count + 1));
  mdb_env_set_mapsize(scratch, std::size_t{1} << 40);
  if (int rc = mdb_env_open(scratch, scratch_dir.c_str(), MDB_NOTLS | MDB_NOSYNC, 0600); rc) {
    return Unexpected(error_from(Status{rc, "mdb_env_open (scratch)"}));
  }

  // The check holds one read transaction throughout, and LMDB cannot resize the map while one is
  // open: give the map room to double first (as backup does), so appends meanwhile rarely need
  // to grow it.
  env_.reserve_room(env_.info().used_bytes * 2);
  // One snapshot of the live side for the whole check: the events replayed and the tables they
  // are compared with are of the same moment.
  return env_.with_read([&](Txn& live) -> LogResult<std::vector<ProjectionCheck>> {
    std::vector<ProjectionCheck> out;
    std::uint64_t total = 0, done = 0;
    Status s;
    std::vector<std::pair<const ProjectionHandle*, ProjectionMeta>> todo;
    for (const auto& h : projections_) {
      if (!h->is_inline || !h->available) continue;
      auto meta = read_meta(live, *h, s);
      if (!s.ok()) return Unexpected(error_from(s));
      if (!meta) continue;
      todo.emplace_back(h.get(), *meta);
      total += meta->position;
    }
    for (auto& [h, meta] : todo) {
      // Fresh tables in the scratch environment, named like the live ones.
      std::vector<MDB_dbi> dbis;
      {
        Txn txn;
        if (s = Txn::begin(scratch, 0, txn); !s.ok()) return Unexpected(error_from(s));
        for (const std::string& table : h->tables) {
          MDB_dbi dbi = 0;
          const std::string db = table_db_name(h->name, table, 0);
          if (int rc = mdb_dbi_open(txn.get(), db.c_str(), MDB_CREATE, &dbi); rc) {
            return Unexpected(error_from(Status{rc, "mdb_dbi_open (scratch)"}));
          }
          dbis.push_back(dbi);
        }
        if (s = txn.commit(); !s.ok()) return Unexpected(error_from(s));
      }
      for (std::uint64_t at = 0; at < meta.position;) {
        const std::uint64_t to = std::min(meta.position, at + kProjectionChunk);
        Txn txn;
        if (s = Txn::begin(scratch, 0, txn); !s.ok()) return Unexpected(error_from(s));
        LmdbTables tables(txn, dbis, at);
        Refusal refusal;
        if (s = apply_range(live, at, to, *h, tables, refusal); !s.ok()) {
          if (s.rc == kProjectionRefused) {
            return Unexpected(LogError{Errc::projection_failed, refusal.message, std::nullopt, 0});
          }
          return Unexpected(error_from(s));
        }
        if (s = txn.commit(); !s.ok()) return Unexpected(error_from(s));
        done += to - at;
        at = to;
        if (progress) progress(done, total);
      }
      ProjectionCheck check{h->name, meta.position, 0, 0, {}};
      Txn rebuilt;
      if (s = Txn::begin(scratch, MDB_RDONLY, rebuilt); !s.ok()) return Unexpected(error_from(s));
      for (std::size_t t = 0; t < h->tables.size(); ++t) {
        Cursor a, b;
        if (s = Cursor::open(live, h->dbis[meta.slot][t], a); !s.ok()) break;
        if (s = Cursor::open(rebuilt, dbis[t], b); !s.ok()) break;
        MDB_val ka{}, va{}, kb{}, vb{};
        bool has_a = a.seek(MDB_FIRST, ka, va, s);
        bool has_b = b.seek(MDB_FIRST, kb, vb, s);
        auto differ = [&](std::string what, std::string_view key) {
          ++check.differences;
          if (check.examples.size() < 10) {
            check.examples.push_back(
                fmt::format("table {}: key '{}' {}", h->tables[t], printable_key(key), what));
          }
        };
        while ((has_a || has_b) && s.ok()) {
          const auto key_a = lmdb::as_view(ka), key_b = lmdb::as_view(kb);
          const int order = !has_a ? 1 : !has_b ? -1 : key_a.compare(key_b);
          if (order < 0) {
            differ("is live but not in the rebuild", key_a);
            ++check.entries;
            has_a = a.seek(MDB_NEXT, ka, va, s);
          } else if (order > 0) {
            differ("is in the rebuild but not live", key_b);
            ++check.entries;
            has_b = b.seek(MDB_NEXT, kb, vb, s);
          } else {
            if (lmdb::as_view(va) != lmdb::as_view(vb)) differ("has another value live", key_a);
            check.entries += 2;
            has_a = a.seek(MDB_NEXT, ka, va, s);
            has_b = b.seek(MDB_NEXT, kb, vb, s);
          }
        }
        if (!s.ok()) break;
      }
      if (!s.ok()) return Unexpected(error_from(s));
      out.push_back(std::move(check));
    }
    return out;
  });
}

Stats LogImpl::stats() const {
  Stats s;
  s.appends = stats_.appends;
  s.events = stats_.events;
  s.conflicts = stats_.conflicts;
  s.commits = stats_.commits;
  s.batched_appends = stats_.batched_appends;
  s.max_batch = stats_.max_batch;
  s.commit_ns = stats_.commit_ns;
  s.projection_ns = stats_.projection_ns;
  s.map_grows = env_.map_grows();
  s.map_size = env_.map_size();
  return s;
}

bool LogImpl::wait_for_commit(std::uint64_t after, const std::atomic<bool>& closed,
                              std::chrono::steady_clock::time_point deadline) {
  start_watcher();
  std::unique_lock lock(notify_mu_);
  auto ready = [&] { return closed.load() || published_head_ > after; };
  if (!watcher_failed_) return notify_cv_.wait_until(lock, deadline, ready);
  // Without the watcher, commits of other processes are only seen by looking again now and then.
  const auto slice = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  notify_cv_.wait_until(lock, std::min(deadline, slice), ready);
  return std::chrono::steady_clock::now() < deadline || ready();
}

void LogImpl::start_watcher() {
  std::lock_guard lock(watcher_mu_);
  if (watcher_.joinable() || watcher_failed_) return;
  const int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    std::lock_guard notify_lock(notify_mu_);
    watcher_failed_ = true;
    return;
  }
  stop_fd_ = stop;
  // A commit that landed before the watcher started: look once now.
  if (auto h = head()) publish(*h);
  watcher_ = std::thread([this, stop] {
    pthread_setname_np(pthread_self(), "portico-watch");
    // Commits of this process wake their subscribers directly; this thread looks for those of
    // other processes (portico-admin beside a server) by reading LMDB's last transaction id from
    // the lock file's shared memory, which costs no system call. It looks every 2 ms after a
    // foreign commit, backing off to every 50 ms while there is none. (inotify on data.mdb
    // wakes sooner but charged every page this process writes with an event.)
    // A commit's id is in its meta page a moment before a new reader sees the commit, so after
    // a foreign one the head is read a few times over.
    constexpr int kFastMs = 2, kSlowMs = 50, kRereads = 3;
    int interval = kSlowMs, rereads = 0;
    std::size_t seen = 0;
    for (;;) {
      pollfd fd{stop, POLLIN, 0};
      const int ready = ::poll(&fd, 1, interval);
      if (ready < 0 && errno != EINTR) break;
      if (ready > 0) break;  // stopping
      // Environment::info takes the map lock: a growing log remaps the memory it reads.
      if (const std::size_t last = env_.info().last_txn_id; last != seen) {
        seen = last;
        // This process's own commit of appends published itself (and everything before it).
        if (seen != own_txn_id_.load(std::memory_order_relaxed)) rereads = kRereads;
      }
      if (rereads > 0) {
        --rereads;
        interval = kFastMs;
        if (auto h = head()) publish(*h);
      } else {
        interval = std::min(interval * 2, kSlowMs);
      }
    }
  });
}

void LogImpl::stop_watcher() {
  std::lock_guard lock(watcher_mu_);
  if (!watcher_.joinable()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  watcher_.join();
  ::close(stop_fd_);
  stop_fd_ = -1;
}

}  // namespace detail

// ---- Log ----

Log::Log(std::unique_ptr<detail::LogImpl> impl) : impl_(std::move(impl)) {}

Log::~Log() {
  if (impl_ && impl_->live_subscriptions() != 0) {
    std::fprintf(stderr, "portico: a Log was destroyed while %d subscription(s) still used it\n",
                 impl_->live_subscriptions());
    std::abort();
  }
}

LogResult<std::unique_ptr<Log>> Log::open(const std::filesystem::path& dir, Options options) {
  auto impl = std::make_unique<detail::LogImpl>(dir, std::move(options));
  if (auto ok = impl->open(); !ok) return Unexpected(std::move(ok).error());
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

LogResult<AppendResult> Log::append(std::span<const StreamWrite> writes) {
  return impl_->append(writes);
}
LogResult<AppendResult> Log::append(const StreamWrite& write) {
  return impl_->append(std::span<const StreamWrite>(&write, 1));
}
void Log::append_async(std::span<const StreamWrite> writes, AppendCallback done) {
  impl_->append_async(writes, std::move(done));
}
LogResult<std::vector<Record>> Log::read_stream(std::string_view stream, std::uint64_t from_version,
                                                Direction direction, std::size_t max_count) const {
  return impl_->read_stream(stream, from_version, direction, max_count);
}
LogResult<std::vector<Record>> Log::read_all(std::uint64_t from_position,
                                             std::size_t max_count) const {
  return impl_->read_all(from_position, max_count);
}
LogResult<std::uint64_t> Log::stream_version(std::string_view stream) const {
  return impl_->stream_version(stream);
}
LogResult<std::uint64_t> Log::head() const { return impl_->head(); }
LogResult<std::optional<Record>> Log::find(const Uuid& id) const { return impl_->find(id); }
LogResult<VerifyReport> Log::verify(const Progress& progress) const {
  return impl_->verify(progress);
}
LogResult<void> Log::backup(const std::filesystem::path& dest, const Progress& progress) const {
  return impl_->backup(dest, progress);
}
Stats Log::stats() const { return impl_->stats(); }
LogResult<void> Log::read_projection(std::string_view name,
                                     const std::function<void(const TableReader&)>& fn) const {
  return impl_->read_projection(name, fn);
}
LogResult<std::uint64_t> Log::apply_projection(std::string_view name,
                                               std::span<const Record> records) {
  return impl_->apply_projection(name, records);
}
LogResult<void> Log::write_projection(std::string_view name,
                                      const std::function<Result<void>(TableWriter&)>& fn) {
  return impl_->write_projection(name, fn);
}
LogResult<ProjectionInfo> Log::projection_info(std::string_view name) const {
  return impl_->projection_info(name);
}
LogResult<void> Log::rebuild_projections(std::span<const std::string> names,
                                         const Progress& progress) {
  return impl_->rebuild_projections(names, progress);
}
LogResult<std::vector<ProjectionCheck>> Log::check_projections(const Progress& progress) const {
  return impl_->check_projections(progress);
}
const std::filesystem::path& Log::directory() const noexcept { return impl_->dir_; }

Subscription Log::subscribe(std::uint64_t from_position) {
  return Subscription(impl_.get(), from_position);
}

// ---- Subscription ----

struct Subscription::State {
  std::atomic<bool> closed{false};
};

Subscription::Subscription(detail::LogImpl* log, std::uint64_t from_position)
    : log_(log),
      position_(from_position == 0 ? 0 : from_position - 1),
      state_(std::make_shared<State>()) {
  log_->subscription_opened();
}

Subscription::Subscription(Subscription&& o) noexcept
    : log_(std::exchange(o.log_, nullptr)), position_(o.position_), state_(std::move(o.state_)) {}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    if (log_) log_->subscription_closed();
    log_ = std::exchange(o.log_, nullptr);
    position_ = o.position_;
    state_ = std::move(o.state_);
  }
  return *this;
}

Subscription::~Subscription() {
  if (log_) log_->subscription_closed();
}

void Subscription::close() {
  if (!log_) return;
  state_->closed = true;
  log_->wake_all();
}

LogResult<std::vector<Record>> Subscription::next(std::size_t max_count,
                                                  std::chrono::milliseconds timeout) {
  if (!log_ || state_->closed) return log_error(Errc::closed, "the subscription is closed");
  // A year stands in for "for ever" without overflowing the clock.
  constexpr std::chrono::milliseconds kForever = std::chrono::hours(24 * 365);
  const auto deadline = std::chrono::steady_clock::now() + std::min(timeout, kForever);
  for (;;) {
    auto records = log_->read_all(position_ + 1, std::clamp<std::size_t>(max_count, 1, 4096));
    if (!records) return records;
    if (!records->empty()) {
      position_ = records->back().position;
      return records;
    }
    if (!log_->wait_for_commit(position_, state_->closed, deadline)) return records;
    if (state_->closed) return log_error(Errc::closed, "the subscription is closed");
  }
}

}  // namespace portico::log
