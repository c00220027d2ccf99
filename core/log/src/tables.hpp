// The LMDB side of projections (private to core/log): tables over a transaction, and the record
// of where each projection stands.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <portico/log/projection.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lmdb.hpp"

namespace portico::log::detail {

// TableReader and TableWriter over one LMDB transaction and the handles of one slot's tables.
// The first failing LMDB call is kept in failure(); every later call does nothing.
class LmdbTables final : public TableWriter {
 public:
  LmdbTables(const lmdb::Txn& txn, const std::vector<MDB_dbi>& dbis, std::uint64_t position,
             std::uint64_t acted_until = 0)
      : txn_(txn), dbis_(dbis), position_(position), acted_until_(acted_until) {}

  std::uint64_t position() const override { return position_; }
  std::uint64_t acted_until() const override { return acted_until_; }
  void set_position(std::uint64_t position) { position_ = position; }
  std::optional<std::string_view> get(std::size_t table, std::string_view key) const override;
  void scan(std::size_t table, std::string_view from, Direction direction,
            const ScanFn& fn) const override;
  void put(std::size_t table, std::string_view key, std::string_view value) override;
  void erase(std::size_t table, std::string_view key) override;

  const lmdb::Status& failure() const { return failure_; }

 private:
  bool usable(std::size_t table) const;

  const lmdb::Txn& txn_;
  const std::vector<MDB_dbi>& dbis_;
  std::uint64_t position_;
  std::uint64_t acted_until_;
  mutable lmdb::Status failure_;
};

// What the meta database holds for a projection, under "projection/{name}".
struct ProjectionMeta {
  std::uint32_t version = 0;
  std::uint8_t slot = 0;
  std::uint64_t position = 0;
  std::uint64_t acted_until = 0;  // a work queue's reset point (TableReader::acted_until)

  std::string encode() const;
  static std::optional<ProjectionMeta> decode(std::string_view bytes);
};

// A rebuild in progress, under "projection/{name}/build": who runs it and how far it got.
struct BuildMarker {
  std::array<std::uint8_t, 16> owner{};
  std::uint64_t position = 0;

  std::string encode() const;
  static std::optional<BuildMarker> decode(std::string_view bytes);
};

// The LMDB database name of one table in one slot: "p/{projection}/{table}/{slot}".
std::string table_db_name(std::string_view projection, std::string_view table, int slot);
// [a-z0-9_], 1 to 32 characters.
bool valid_projection_name(std::string_view name);

}  // namespace portico::log::detail
