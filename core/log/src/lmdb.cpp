#include "lmdb.hpp"

#include <fmt/format.h>

namespace portico::log::lmdb {

std::string Status::message() const { return fmt::format("{}: {}", origin, mdb_strerror(rc)); }

Status Txn::begin(MDB_env* env, unsigned flags, Txn& out) {
  out.abort();
  return {mdb_txn_begin(env, nullptr, flags, &out.txn_), "mdb_txn_begin"};
}

Status Txn::commit() {
  // mdb_txn_commit frees the transaction whatever it answers.
  return {mdb_txn_commit(std::exchange(txn_, nullptr)), "mdb_txn_commit"};
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key, Status& status) const {
  MDB_val k = as_val(key), v{};
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) {
    status = {rc, "mdb_get"};
    return std::nullopt;
  }
  return as_view(v);
}

Status Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = as_val(key), v = as_val(value);
  return {mdb_put(txn_, dbi, &k, &v, flags), "mdb_put"};
}

Status Cursor::open(const Txn& txn, MDB_dbi dbi, Cursor& out) {
  out.close();
  return {mdb_cursor_open(txn.get(), dbi, &out.cur_), "mdb_cursor_open"};
}

bool Cursor::seek(MDB_cursor_op op, MDB_val& key, MDB_val& value, Status& status) {
  const int rc = mdb_cursor_get(cur_, &key, &value, op);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) {
    status = {rc, "mdb_cursor_get"};
    return false;
  }
  return true;
}

Status Cursor::put(std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = as_val(key), v = as_val(value);
  return {mdb_cursor_put(cur_, &k, &v, flags), "mdb_cursor_put"};
}

}  // namespace portico::log::lmdb
