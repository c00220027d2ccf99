// A thin RAII layer over the dozen LMDB calls the log needs (private to core/log).
//
// Move-only transactions and cursors; a destructor aborts, commit() is explicit. Expected outcomes
// (MDB_NOTFOUND, MDB_KEYEXIST) become std::optional / bool; real failures come back as Status
// carrying their origin ("mdb_put: MDB_MAP_FULL: ..."). Views returned by get() point into the
// memory map and must not outlive their transaction.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace portico::log::lmdb {

// The outcome of an LMDB call: rc == MDB_SUCCESS, or an error with the call that produced it.
struct Status {
  int rc = MDB_SUCCESS;
  const char* origin = "";

  bool ok() const noexcept { return rc == MDB_SUCCESS; }
  std::string message() const;
};

inline MDB_val as_val(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view as_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

class Txn {
 public:
  Txn() = default;
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      abort();
      txn_ = std::exchange(o.txn_, nullptr);
    }
    return *this;
  }
  ~Txn() { abort(); }

  static Status begin(MDB_env* env, unsigned flags, Txn& out);
  Status commit();
  void abort() noexcept {
    if (txn_) mdb_txn_abort(std::exchange(txn_, nullptr));
  }
  MDB_txn* get() const noexcept { return txn_; }

  // MDB_NOTFOUND becomes std::nullopt; any other failure is reported in `status`.
  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key, Status& status) const;
  // With MDB_NOOVERWRITE, an existing key answers MDB_KEYEXIST in the status.
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);

 private:
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  Cursor() = default;
  Cursor(Cursor&& o) noexcept : cur_(std::exchange(o.cur_, nullptr)) {}
  Cursor& operator=(Cursor&& o) noexcept {
    if (this != &o) {
      close();
      cur_ = std::exchange(o.cur_, nullptr);
    }
    return *this;
  }
  ~Cursor() { close(); }

  static Status open(const Txn& txn, MDB_dbi dbi, Cursor& out);
  void close() noexcept {
    if (cur_) mdb_cursor_close(std::exchange(cur_, nullptr));
  }

  // Positions the cursor; false when there is no such entry (MDB_NOTFOUND).
  bool seek(MDB_cursor_op op, MDB_val& key, MDB_val& value, Status& status);
  bool seek(MDB_cursor_op op, Status& status) {
    MDB_val k{}, v{};
    return seek(op, k, v, status);
  }
  Status put(std::string_view key, std::string_view value, unsigned flags);

 private:
  MDB_cursor* cur_ = nullptr;
};

// Big-endian u64 keys sort by value under LMDB's default memcmp comparison.
inline std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}
inline std::uint64_t read_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace portico::log::lmdb
