// The layout of a log's databases: key encodings and the shared lookups (layout.hpp).
#include "layout.hpp"

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "record_codec.hpp"

namespace portico::log::detail {

using lmdb::Cursor;
using lmdb::Status;
using lmdb::Txn;

std::string_view uuid_key(const Uuid& id) {
  return {reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size()};
}

std::string le64(std::uint64_t v) {
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::uint64_t read_le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

Status read_tail(const Txn& txn, const Databases& db, Tail& tail) {
  Status s;
  Cursor c;
  if (s = Cursor::open(txn, db.events, c); !s.ok()) return s;
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
  if (s = Cursor::open(txn, db.stream_index, idx); !s.ok()) return s;
  if (idx.seek(MDB_LAST, k, v, s)) {
    tail.last_stream_no = lmdb::read_be64(static_cast<const char*>(k.mv_data));
  }
  return s;
}

std::optional<std::uint64_t> stream_no(const Txn& txn, const Databases& db, std::string_view stream,
                                       Status& status) {
  auto v = txn.get(db.streams, stream, status);
  if (!v) return std::nullopt;
  if (v->size() != 8) {
    status = {MDB_CORRUPTED, "streams: a stream number is not 8 bytes"};
    return std::nullopt;
  }
  return read_le64(v->data());
}

std::uint64_t current_version(const Txn& txn, const Databases& db, std::uint64_t no,
                              Status& status) {
  Cursor c;
  if (status = Cursor::open(txn, db.stream_index, c); !status.ok()) return 0;
  const std::string key = lmdb::be64(no);
  MDB_val k = lmdb::as_val(key), v{};
  if (!c.seek(MDB_SET, k, v, status)) return 0;
  if (!c.seek(MDB_LAST_DUP, k, v, status)) return 0;
  return lmdb::read_be64(static_cast<const char*>(v.mv_data));
}

std::uint64_t last_position(const Txn& txn, const Databases& db, Status& s) {
  Cursor c;
  if (s = Cursor::open(txn, db.events, c); !s.ok()) return 0;
  MDB_val k{}, v{};
  if (!c.seek(MDB_LAST, k, v, s) || k.mv_size != 8) return 0;
  return lmdb::read_be64(static_cast<const char*>(k.mv_data));
}

Status clear_slot(const Txn& txn, const std::vector<MDB_dbi>& dbis) {
  for (MDB_dbi dbi : dbis) {
    if (int rc = mdb_drop(txn.get(), dbi, 0); rc) return {rc, "mdb_drop"};
  }
  return {};
}

LogResult<Record> to_record(std::string_view bytes, std::uint64_t position,
                            const Upcasters& upcasters) {
  auto rec = codec::decode(bytes);
  if (!rec || rec->position != position) {
    return Unexpected(
        LogError{Errc::corrupt,
                 fmt::format("record at position {} does not decode: {}", position,
                             rec ? "it names another position" : *codec::well_formed(bytes)),
                 std::nullopt, position});
  }
  if (!upcasters.empty() && upcasters.handles(rec->type, rec->schema_version)) {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(rec->payload, ec);
    if (ec || !parsed.is_object()) {
      return Unexpected(LogError{
          Errc::corrupt, fmt::format("the payload at position {} is not a JSON object", position),
          std::nullopt, position});
    }
    boost::json::object payload = std::move(parsed.as_object());
    rec->schema_version = upcasters.apply(rec->type, rec->schema_version, payload);
    rec->payload = boost::json::serialize(payload);
  }
  return std::move(*rec);
}

}  // namespace portico::log::detail
