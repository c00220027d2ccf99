#include "tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <portico/log/types.hpp>

namespace portico::log::detail {

bool LmdbTables::usable(std::size_t table) const {
  if (!failure_.ok()) return false;
  if (table >= dbis_.size()) {
    failure_ = {MDB_BAD_DBI, "projection table index out of range"};
    return false;
  }
  return true;
}

std::optional<std::string_view> LmdbTables::get(std::size_t table, std::string_view key) const {
  if (!usable(table)) return std::nullopt;
  return txn_.get(dbis_[table], key, failure_);
}

void LmdbTables::scan(std::size_t table, std::string_view from, Direction direction,
                      const ScanFn& fn) const {
  if (!usable(table)) return;
  lmdb::Cursor c;
  if (failure_ = lmdb::Cursor::open(txn_, dbis_[table], c); !failure_.ok()) return;
  MDB_val k{}, v{};
  bool found = false;
  if (direction == Direction::forward) {
    if (from.empty()) {
      found = c.seek(MDB_FIRST, k, v, failure_);
    } else {
      k = lmdb::as_val(from);
      found = c.seek(MDB_SET_RANGE, k, v, failure_);
    }
  } else if (from.empty()) {
    found = c.seek(MDB_LAST, k, v, failure_);
  } else {
    // The last key <= from: the first key >= from, stepping back once if it is larger.
    k = lmdb::as_val(from);
    found = c.seek(MDB_SET_RANGE, k, v, failure_);
    if (found && lmdb::as_view(k) != from) {
      found = c.seek(MDB_PREV, k, v, failure_);
    } else if (!found && failure_.ok()) {
      found = c.seek(MDB_LAST, k, v, failure_);
    }
  }
  const MDB_cursor_op step = direction == Direction::forward ? MDB_NEXT : MDB_PREV;
  while (found && failure_.ok()) {
    if (!fn(lmdb::as_view(k), lmdb::as_view(v))) return;
    found = c.seek(step, k, v, failure_);
  }
}

void LmdbTables::put(std::size_t table, std::string_view key, std::string_view value) {
  if (!usable(table)) return;
  if (key.empty() || key.size() > 511) {
    failure_ = {MDB_BAD_VALSIZE, "projection key must be 1 to 511 bytes"};
    return;
  }
  failure_ = const_cast<lmdb::Txn&>(txn_).put(dbis_[table], key, value);
}

void LmdbTables::erase(std::size_t table, std::string_view key) {
  if (!usable(table)) return;
  MDB_val k = lmdb::as_val(key);
  const int rc = mdb_del(txn_.get(), dbis_[table], &k, nullptr);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) failure_ = {rc, "mdb_del"};
}

std::string ProjectionMeta::encode() const {
  std::string out = lmdb::be64(version).substr(4);
  out.push_back(static_cast<char>(slot));
  out += lmdb::be64(position);
  if (acted_until != 0) out += lmdb::be64(acted_until);
  return out;
}

std::optional<ProjectionMeta> ProjectionMeta::decode(std::string_view b) {
  if (b.size() != 13 && b.size() != 21) return std::nullopt;
  ProjectionMeta m;
  m.version =
      static_cast<std::uint32_t>(lmdb::read_be64((std::string(4, '\0') += b.substr(0, 4)).data()));
  m.slot = static_cast<std::uint8_t>(b[4]);
  if (m.slot > 1) return std::nullopt;
  m.position = lmdb::read_be64(b.data() + 5);
  if (b.size() == 21) m.acted_until = lmdb::read_be64(b.data() + 13);
  return m;
}

std::string BuildMarker::encode() const {
  std::string out(reinterpret_cast<const char*>(owner.data()), owner.size());
  out += lmdb::be64(position);
  return out;
}

std::optional<BuildMarker> BuildMarker::decode(std::string_view b) {
  if (b.size() != 24) return std::nullopt;
  BuildMarker m;
  std::copy_n(b.data(), 16, reinterpret_cast<char*>(m.owner.data()));
  m.position = lmdb::read_be64(b.data() + 16);
  return m;
}

std::string table_db_name(std::string_view projection, std::string_view table, int slot) {
  return fmt::format("p/{}/{}/{}", projection, table, slot);
}

bool valid_projection_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace portico::log::detail
