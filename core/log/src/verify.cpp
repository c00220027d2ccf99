// The audit tools: verify (every record, the hash chain, the indexes), backup (a compact copy
// while the log is in use) and check_projections (each inline projection rebuilt in a scratch
// environment and compared with the live tables).
#include <fmt/format.h>
#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <portico/log/log.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

#include "log_impl.hpp"
#include "record_codec.hpp"

namespace portico::log::detail {
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

LogResult<VerifyReport> LogImpl::verify(const Progress& progress) {
  struct Snapshot {
    std::uint64_t head = 0, ids = 0, index = 0, streams = 0;
  };
  auto snap = env_.with_read([&](Txn& txn) -> LogResult<Snapshot> {
    Snapshot out;
    Tail tail;
    if (Status s = read_tail(txn, db_, tail); !s.ok()) return Unexpected(error_from(s));
    out.head = tail.position;
    MDB_stat st{};
    mdb_stat(txn.get(), db_.event_ids, &st);
    out.ids = st.ms_entries;
    mdb_stat(txn.get(), db_.stream_index, &st);
    out.index = st.ms_entries;
    mdb_stat(txn.get(), db_.streams, &st);
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
      if (s = Cursor::open(txn, db_.events, c); !s.ok()) return Unexpected(error_from(s));
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
        const ProjectionStep projected = apply_range(live, at, to, *h, tables);
        if (const auto* failed = std::get_if<Status>(&projected)) {
          return Unexpected(error_from(*failed));
        }
        if (const auto* refusal = std::get_if<Refusal>(&projected)) {
          return log_error(Errc::projection_failed, refusal->message);
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

}  // namespace portico::log::detail
