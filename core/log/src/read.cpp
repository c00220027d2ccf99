// Reads: the whole log by position, one stream by version, an event by id, stream versions and
// the head. Each runs in one read transaction (one snapshot).
#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <portico/log/log.hpp>

#include "log_impl.hpp"

namespace portico::log::detail {

LogResult<std::vector<Record>> LogImpl::read_all(std::uint64_t from, std::size_t max_count) {
  return env_.with_read([&](Txn& txn) -> LogResult<std::vector<Record>> {
    std::vector<Record> out;
    Status s;
    Cursor c;
    if (s = Cursor::open(txn, db_.events, c); !s.ok()) return Unexpected(error_from(s));
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
      auto rec = to_record(lmdb::as_view(v), position, options_.upcasters);
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
    auto no = stream_no(txn, db_, stream, s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!no || max_count == 0) return out;
    Cursor c;
    if (s = Cursor::open(txn, db_.stream_index, c); !s.ok()) return Unexpected(error_from(s));
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
      auto bytes = txn.get(db_.events, lmdb::be64(position), s);
      if (!s.ok()) return Unexpected(error_from(s));
      if (!bytes) {
        return Unexpected(LogError{
            Errc::corrupt,
            fmt::format("stream '{}' lists position {}, which is missing", stream, position),
            std::nullopt, position});
      }
      auto rec = to_record(*bytes, position, options_.upcasters);
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
    auto no = stream_no(txn, db_, stream, s);
    const std::uint64_t version = no && s.ok() ? current_version(txn, db_, *no, s) : 0;
    if (!s.ok()) return Unexpected(error_from(s));
    return version;
  });
}

LogResult<std::optional<Record>> LogImpl::find(const Uuid& id) {
  return env_.with_read([&](Txn& txn) -> LogResult<std::optional<Record>> {
    Status s;
    auto pos = txn.get(db_.event_ids, uuid_key(id), s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!pos) return std::optional<Record>();
    if (pos->size() != 8) return log_error(Errc::corrupt, "event_ids: a position is not 8 bytes");
    const std::uint64_t position = lmdb::read_be64(pos->data());
    auto bytes = txn.get(db_.events, lmdb::be64(position), s);
    if (!s.ok()) return Unexpected(error_from(s));
    if (!bytes) {
      return Unexpected(LogError{
          Errc::corrupt,
          fmt::format("event id {} points at missing position {}", id.to_string(), position),
          std::nullopt, position});
    }
    auto rec = to_record(*bytes, position, options_.upcasters);
    if (!rec) return Unexpected(std::move(rec).error());
    return std::optional<Record>(std::move(*rec));
  });
}

LogResult<std::uint64_t> LogImpl::head() {
  return env_.with_read([&](Txn& txn) -> LogResult<std::uint64_t> {
    Tail tail;
    if (Status s = read_tail(txn, db_, tail); !s.ok()) return Unexpected(error_from(s));
    return tail.position;
  });
}

}  // namespace portico::log::detail
