// The projection host: registering projections and their tables, checkpoints and slots, the
// inline projections inside an append's transaction (project_inline), catching up, stalling,
// rebuilding into the other slot, and the API for async projections (apply, write, read, info).
#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <portico/log/log.hpp>
#include <set>
#include <string>
#include <thread>

#include "log_impl.hpp"

namespace portico::log::detail {

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
    auto ok = current ? catch_up_all() : rebuild_inline(*h, progress);
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
  auto bytes = txn.get(db_.meta, h.meta_key, status);
  if (!bytes) return std::nullopt;
  auto meta = ProjectionMeta::decode(*bytes);
  if (!meta) status = {MDB_CORRUPTED, "meta: a projection record does not decode"};
  return meta;
}

ProjectionStep LogImpl::apply_range(const Txn& events_txn, std::uint64_t from, std::uint64_t to,
                                    const ProjectionHandle& h, LmdbTables& tables) const {
  if (from >= to) return Projected{};
  Status s;
  Cursor c;
  if (s = Cursor::open(events_txn, db_.events, c); !s.ok()) return s;
  std::uint64_t expected = from + 1;
  const std::string key = lmdb::be64(expected);
  MDB_val k = lmdb::as_val(key), v{};
  for (bool found = c.seek(MDB_SET_RANGE, k, v, s); found && expected <= to;
       found = c.seek(MDB_NEXT, k, v, s), ++expected) {
    const std::uint64_t position =
        k.mv_size == 8 ? lmdb::read_be64(static_cast<const char*>(k.mv_data)) : 0;
    if (position != expected) break;
    auto rec = to_record(lmdb::as_view(v), position, options_.upcasters);
    if (!rec) {
      return Refusal{h.name, position,
                     fmt::format("projection '{}' cannot read position {}: {}", h.name, position,
                                 rec.error().message)};
    }
    auto applied = h.projection->apply(tables, *rec);
    if (!tables.failure().ok()) return tables.failure();
    if (!applied) {
      return Refusal{h.name, position,
                     fmt::format("projection '{}' refused event {} at position {} ({} on '{}'): {}",
                                 h.name, rec->id.to_string(), position, rec->type, rec->stream,
                                 applied.error().message)};
    }
    tables.set_position(position);
  }
  if (!s.ok()) return s;
  if (expected <= to) {
    return Refusal{
        h.name, expected,
        fmt::format("projection '{}': position {} is missing from the log", h.name, expected)};
  }
  return Projected{};
}

ProjectionStep LogImpl::project_inline(Txn& txn, std::uint64_t head, std::uint64_t limit,
                                       std::uint64_t backlog_end) {
  Status s;
  for (const auto& h : projections_) {
    if (!h->is_inline) continue;
    auto meta = read_meta(txn, *h, s);
    if (!s.ok()) return s;
    // Missing or of another version: set up by a process with other code; the next open here
    // rebuilds it rather than mixing two layouts.
    if (!meta || meta->version != h->projection->version() || meta->position >= head) continue;
    if (txn.get(db_.meta, h->stalled_key, s) || !s.ok()) {
      if (!s.ok()) return s;
      continue;  // stalled: reads of it say why; a rebuild starts it again
    }
    if (backlog_end > meta->position + kProjectionChunk) return Backlog{};
    const std::uint64_t to = head - meta->position > limit ? meta->position + limit : head;
    LmdbTables tables(txn, h->dbis[meta->slot], meta->position);
    if (auto step = apply_range(txn, meta->position, to, *h, tables);
        !std::holds_alternative<Projected>(step)) {
      return step;
    }
    meta->position = to;
    if (s = txn.put(db_.meta, h->meta_key, meta->encode()); !s.ok()) return s;
  }
  return Projected{};
}

LogResult<void> LogImpl::catch_up_all() {
  for (;;) {
    std::optional<Refusal> refused;
    auto step = env_.with_write([&](Txn& txn) -> TxnResult<bool> {
      refused.reset();
      Status s;
      const std::uint64_t head = last_position(txn, db_, s);
      if (!s.ok()) return txn_failed(s);
      std::uint64_t behind = 0;
      for (const auto& h : projections_) {
        if (!h->is_inline) continue;
        auto meta = read_meta(txn, *h, s);
        if (!s.ok()) return txn_failed(s);
        if (meta && meta->position < head) behind = std::max(behind, head - meta->position);
      }
      if (behind == 0) return false;
      // project_inline covers every inline projection: each advances by at most a chunk. (No
      // backlog: that needs a backlog_end.)
      ProjectionStep projected = project_inline(txn, head, kProjectionChunk);
      if (const auto* failed = std::get_if<Status>(&projected)) return txn_failed(*failed);
      if (auto* refusal = std::get_if<Refusal>(&projected)) {
        refused = std::move(*refusal);
        return log_error(Errc::projection_failed, refused->message);  // commits nothing
      }
      return behind > kProjectionChunk;
    });
    if (refused) {
      // Nothing of ours is being appended: the projection stalls, the log goes on.
      if (auto ok = mark_stalled(*refused); !ok) return ok;
      continue;
    }
    if (!step) return Unexpected(std::move(step).error());
    if (!*step) return {};
  }
}

LogResult<void> LogImpl::mark_stalled(const Refusal& refusal) {
  const ProjectionHandle* h = find_projection(refusal.projection);
  if (!h) return log_error(Errc::projection_failed, refusal.message);
  warn(fmt::format("projection '{}' stalled: {}", h->name, refusal.message));
  return env_.with_write([&](Txn& txn) -> TxnResult<void> {
    const std::string stalled = lmdb::be64(refusal.position) + refusal.message;
    if (Status s = txn.put(db_.meta, h->stalled_key, stalled); !s.ok()) return txn_failed(s);
    return {};
  });
}

LogResult<void> LogImpl::reset_async(const ProjectionHandle& h) {
  return env_.with_write([&](Txn& txn) -> TxnResult<void> {
    Status s;
    if (s = clear_slot(txn, h.dbis[0]); !s.ok()) return txn_failed(s);
    if (s = clear_slot(txn, h.dbis[1]); !s.ok()) return txn_failed(s);
    // A work queue replays the history to rebuild its state, but acts only on what comes next.
    const std::uint64_t acted = h.projection->is_work_queue() ? last_position(txn, db_, s) : 0;
    if (!s.ok()) return txn_failed(s);
    s = txn.put(db_.meta, h.meta_key,
                ProjectionMeta{h.projection->version(), 0, 0, acted}.encode());
    if (!s.ok()) return txn_failed(s);
    return {};
  });
}

bool LogImpl::wait_for_other_rebuild(const ProjectionHandle& h) {
  auto marker = [&]() -> std::optional<std::string> {
    auto m = env_.with_read([&](Txn& txn) -> LogResult<std::optional<std::string>> {
      Status s;
      auto v = txn.get(db_.meta, h.build_key, s);
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
  auto target = env_.with_write([&](Txn& txn) -> TxnResult<std::uint8_t> {
    Status s;
    auto meta = read_meta(txn, h, s);
    if (!s.ok()) return txn_failed(s);
    const std::uint8_t slot = meta ? static_cast<std::uint8_t>(1 - meta->slot) : 0;
    if (s = clear_slot(txn, h.dbis[slot]); !s.ok()) return txn_failed(s);
    if (s = txn.put(db_.meta, h.build_key, marker.encode()); !s.ok()) return txn_failed(s);
    return slot;
  });
  if (!target) return Unexpected(std::move(target).error());
  for (;;) {
    // (done, position reached)
    auto step = env_.with_write([&](Txn& txn) -> TxnResult<std::pair<bool, std::uint64_t>> {
      Status s;
      auto stored = txn.get(db_.meta, h.build_key, s);
      if (!s.ok()) return txn_failed(s);
      auto current = stored ? BuildMarker::decode(*stored) : std::nullopt;
      if (!current || current->owner != marker.owner) {
        return log_error(
            Errc::conflict,
            fmt::format("another rebuild of projection '{}' started; this one stopped", h.name));
      }
      const std::uint64_t head = last_position(txn, db_, s);
      if (!s.ok()) return txn_failed(s);
      const std::uint64_t to = std::min(head, current->position + kProjectionChunk);
      LmdbTables tables(txn, h.dbis[*target], current->position);
      ProjectionStep projected = apply_range(txn, current->position, to, h, tables);
      if (const auto* failed = std::get_if<Status>(&projected)) return txn_failed(*failed);
      if (const auto* refusal = std::get_if<Refusal>(&projected)) {
        return log_error(Errc::projection_failed, refusal->message);
      }
      if (to < head) {
        s = txn.put(db_.meta, h.build_key, BuildMarker{marker.owner, to}.encode());
        if (!s.ok()) return txn_failed(s);
        return std::pair{false, to};
      }
      // Caught up, with the log's writer lock held: swap.
      auto old = read_meta(txn, h, s);
      if (!s.ok()) return txn_failed(s);
      s = txn.put(db_.meta, h.meta_key,
                  ProjectionMeta{h.projection->version(), *target, head}.encode());
      if (!s.ok()) return txn_failed(s);
      for (const std::string* key : {&h.build_key, &h.stalled_key}) {
        MDB_val k = lmdb::as_val(*key);
        if (int rc = mdb_del(txn.get(), db_.meta, &k, nullptr); rc && rc != MDB_NOTFOUND) {
          return txn_failed({rc, "mdb_del"});
        }
      }
      if (old) {
        if (s = clear_slot(txn, h.dbis[old->slot]); !s.ok()) return txn_failed(s);
      }
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
    if (auto stalled = txn.get(db_.meta, h->stalled_key, s); stalled && stalled->size() >= 8) {
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

TxnResult<ProjectionMeta> LogImpl::async_meta(const Txn& txn, const ProjectionHandle& h,
                                              std::string_view name) const {
  Status s;
  auto meta = read_meta(txn, h, s);
  if (!s.ok()) return txn_failed(s);
  if (!meta) meta = ProjectionMeta{h.projection->version(), 0, 0, 0};
  if (meta->version != h.projection->version()) {
    return log_error(Errc::projection_failed,
                     fmt::format("projection '{}' is stored at version {} and this program's is "
                                 "{}: this feed stops",
                                 name, meta->version, h.projection->version()));
  }
  return *meta;
}

LogResult<std::uint64_t> LogImpl::apply_projection(std::string_view name,
                                                   std::span<const Record> records) {
  const ProjectionHandle* h = find_projection(name);
  if (!h || h->is_inline) {
    return log_error(Errc::invalid_argument,
                     fmt::format("'{}' is not a registered async projection", name));
  }
  return env_.with_write([&](Txn& txn) -> TxnResult<std::uint64_t> {
    auto meta = async_meta(txn, *h, name);
    if (!meta) return Unexpected(meta.error());
    Status s;
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
      if (!tables.failure().ok()) return txn_failed(tables.failure());
      if (!applied) {
        return log_error(
            Errc::projection_failed,
            fmt::format("projection '{}' refused event {} at position {} ({}): {}", name,
                        r.id.to_string(), r.position, r.type, applied.error().message));
      }
      meta->position = r.position;
      tables.set_position(r.position);
    }
    if (s = txn.put(db_.meta, h->meta_key, meta->encode()); !s.ok()) return txn_failed(s);
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
  return env_.with_write([&](Txn& txn) -> TxnResult<void> {
    auto meta = async_meta(txn, *h, name);
    if (!meta) return Unexpected(meta.error());
    LmdbTables tables(txn, h->dbis[meta->slot], meta->position, meta->acted_until);
    auto done = fn(tables);
    if (!tables.failure().ok()) return txn_failed(tables.failure());
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
    if (auto stalled = txn.get(db_.meta, h->stalled_key, s); stalled && stalled->size() >= 8) {
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

}  // namespace portico::log::detail
