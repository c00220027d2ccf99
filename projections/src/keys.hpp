// The layout of the "views" tables (private to projections/; docs/projections.md draws it).
//
// Keys are built of parts: strings end with a 0 byte (ids and slugs never hold one), numbers are
// 8 bytes big-endian so that they sort by value. Lists end in a 16-byte sort key,
// be64(~updated_at) be64(~number): newest activity first, then the newest ticket first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portico::projections::detail {

enum Table : std::size_t {
  kTickets,    // project|number                           -> ticket record (binary, records.hpp)
  kCustomers,  // customer|                                -> {domain, display_name, handle}
  kMembers,    // customer|project|                        -> ""
  kProjects,   // project|                                 -> {organization_visibility,
               // organizations}
  kMine,       // customer|project|rel|status| sortkey     -> ""   rel: c creator, p participant
  kOrg,        // project|domain|status| sortkey           -> ""   by the creator's e-mail domain
  kQueue,      // project|a| sortkey, project|s|status| sortkey, project|t|status|team| sortkey
  kCounts,     // m|customer|project|domain|status|, o|project|domain|status|, u|customer| -> be64
  kFavorites,  // customer|project|number                  -> be64(marked at)
  kFavList,    // customer|project| sortkey(marked_at, number) -> ""
  kInbox,      // customer| position                       -> notification (JSON)
  kUnread,     // customer| position                       -> ""
  kRefs,       // s|survey id|  -> the survey notification's inbox key
               // i|token hash| -> project|number invite id| (an invite link)
};
inline const std::vector<std::string> kTableNames = {
    "tickets", "customers", "members",  "projects", "mine",   "org", "queue",
    "counts",  "favorites", "fav_list", "inbox",    "unread", "refs"};

// "*" in the status part: an entry for every status (the unfiltered list).
inline constexpr std::string_view kAnyStatus = "*";

// The staff queue's indexes: every ticket, by status, by status and team.
inline constexpr std::string_view kQueueAll = "a";
inline constexpr std::string_view kQueueByStatus = "s";
inline constexpr std::string_view kQueueByStatusTeam = "t";
inline constexpr std::string_view kQueueIndexes[] = {kQueueAll, kQueueByStatus, kQueueByStatusTeam};

inline void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline std::uint64_t get_be64(std::string_view b) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < b.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

class Key {
 public:
  Key& part(std::string_view s) {
    bytes_ += s;
    bytes_.push_back('\0');
    return *this;
  }
  Key& num(std::uint64_t v) {
    put_be64(bytes_, v);
    return *this;
  }
  Key& sort(std::int64_t updated_at, std::uint64_t number) {
    return num(~static_cast<std::uint64_t>(updated_at)).num(~number);
  }
  Key& raw(std::string_view s) {
    bytes_ += s;
    return *this;
  }
  const std::string& str() const& { return bytes_; }
  std::string str() && { return std::move(bytes_); }
  operator std::string_view() const { return bytes_; }

 private:
  std::string bytes_;
};

inline constexpr std::size_t kSortKeyBytes = 16;
// The ticket number inside a sort key.
inline std::uint64_t number_of(std::string_view sort_key) { return ~get_be64(sort_key.substr(8)); }

}  // namespace portico::projections::detail
