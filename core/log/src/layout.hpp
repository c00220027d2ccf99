// The layout of a log's databases (private to core/log): their handles, the encodings of their
// keys and values, and the lookups that the writer, the readers and the projection host share.
// It knows nothing of LogImpl: the other parts of the log stand on it, and it on lmdb.hpp and the
// record codec.
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
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <portico/log/error.hpp>
#include <portico/log/types.hpp>
#include <portico/log/upcasters.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lmdb.hpp"

namespace portico::log::detail {

// The handles of the log's five databases (opened by LogImpl::open).
struct Databases {
  MDB_dbi events = 0;
  MDB_dbi streams = 0;
  MDB_dbi stream_index = 0;
  MDB_dbi event_ids = 0;
  MDB_dbi meta = 0;
};

// The tail of the log as a transaction sees it.
struct Tail {
  bool damaged = false;  // the last record does not decode: appends are refused
  std::uint64_t position = 0;
  Hash hash{};
  std::int64_t recorded_at_us = 0;
  std::uint64_t last_stream_no = 0;
};

// The key of an event id in event_ids: its 16 bytes.
std::string_view uuid_key(const Uuid& id);

// Little-endian u64: a stream number in `streams` (big-endian be64 is for keys that must sort).
std::string le64(std::uint64_t v);
std::uint64_t read_le64(const char* p);

// Reads the last record and the last stream number into `tail`. A last record that does not
// decode, or names another position, marks the tail damaged rather than failing.
lmdb::Status read_tail(const lmdb::Txn& txn, const Databases& db, Tail& tail);
// The number of `stream`; std::nullopt when it has no events yet (or `status` says why not).
std::optional<std::uint64_t> stream_no(const lmdb::Txn& txn, const Databases& db,
                                       std::string_view stream, lmdb::Status& status);
// The version of stream number `no`: the newest entry of its index (0 when it has none).
std::uint64_t current_version(const lmdb::Txn& txn, const Databases& db, std::uint64_t no,
                              lmdb::Status& status);
// The position of the last record; 0 when the log is empty.
std::uint64_t last_position(const lmdb::Txn& txn, const Databases& db, lmdb::Status& status);
// Empties the tables of one projection slot.
lmdb::Status clear_slot(const lmdb::Txn& txn, const std::vector<MDB_dbi>& dbis);

// The record stored at `position` as read back, upcast: Errc::corrupt when the bytes do not
// decode, name another position, or hold a payload the upcasters cannot parse.
LogResult<Record> to_record(std::string_view bytes, std::uint64_t position,
                            const Upcasters& upcasters);

}  // namespace portico::log::detail
