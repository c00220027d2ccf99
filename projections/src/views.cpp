// The questions the portal asks of the "views" tables. Every list is a merge of a few key ranges
// that all end in the same 16-byte sort key; a page reads each range from the cursor on.
#include <algorithm>
#include <boost/describe/enumerators.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cctype>
#include <map>
#include <portico/errc.hpp>
#include <portico/projections/views.hpp>

#include "keys.hpp"
#include "records.hpp"

namespace portico::projections {

using detail::Key;
using detail::kSortKeyBytes;
using log::Direction;
using log::TableReader;

std::optional<Scope> parse_scope(std::string_view text) noexcept {
  if (text.empty() || text == "all") return Scope::all;
  if (text == "mine") return Scope::mine;
  if (text == "participating") return Scope::participating;
  if (text == "organization") return Scope::organization;
  return std::nullopt;
}

std::string_view to_string(NotificationKind kind) noexcept {
  switch (kind) {
    case NotificationKind::mention:
      return "mention";
    case NotificationKind::survey:
      return "survey";
    case NotificationKind::staff_reply:
      return "staff_reply";
  }
  return "mention";
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string to_hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view text, std::size_t bytes) {
  if (text.size() != bytes * 2) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

Result<void> check_limit(std::size_t limit) {
  if (limit < 1 || limit > kMaxLimit) {
    return fail(errc::kInvalidRequest, "limit is 1 to 100", "limit");
  }
  return {};
}

// The sort key after which a page starts ("" for the first page).
Result<std::string> parse_cursor(const std::string& cursor, std::size_t bytes) {
  if (cursor.empty()) return std::string();
  auto raw = from_hex(cursor, bytes);
  if (!raw) return fail(errc::kInvalidRequest, "not a cursor this list gave out", "cursor");
  return std::move(*raw);
}

Error from_log(const log::LogError& e) {
  return {std::string(errc::kUnavailable), "the read models are unavailable: " + e.message, {}};
}

// `value`, read in a snapshot that `read` says went well.
template <class T>
Result<T> answer(const log::LogResult<void>& read, T value) {
  if (!read) return Unexpected(from_log(read.error()));
  return value;
}

// A list position: the entry's sort key (its last 16 bytes).
struct Candidate {
  std::string sort_key;
  std::uint64_t number = 0;
};

// Reads every range after `after` (a sort key) and merges them, newest activity first, without
// duplicates. Each range gives at most `per_range` entries; the merge is only complete up to the
// last entry of a range that was cut short, so the answer stops there (the next call goes on).
// A key range of one table: every entry whose key is `prefix` followed by a sort key.
struct Range {
  detail::Table table;
  std::string prefix;
};

std::vector<Candidate> merge_ranges(const TableReader& t, const std::vector<Range>& ranges,
                                    const std::string& after, std::size_t per_range) {
  std::vector<Candidate> all;
  std::optional<std::string> complete_up_to;  // the smallest last key of a cut range
  for (const auto& [table, prefix] : ranges) {
    std::string from = prefix + after;
    if (!after.empty()) from.push_back('\0');  // strictly after the cursor's entry
    std::size_t taken = 0;
    std::string last;
    t.scan(table, from, Direction::forward, [&](std::string_view k, std::string_view) {
      if (!k.starts_with(prefix)) return false;
      // Not of this range (a longer key that merely starts alike): not ours, but read on.
      if (k.size() != prefix.size() + kSortKeyBytes) return true;
      const std::string_view sort = k.substr(prefix.size());
      all.push_back({std::string(sort), detail::number_of(sort)});
      last = sort;
      return ++taken < per_range;
    });
    if (taken == per_range && (!complete_up_to || last < *complete_up_to)) complete_up_to = last;
  }
  std::sort(all.begin(), all.end(),
            [](const Candidate& a, const Candidate& b) { return a.sort_key < b.sort_key; });
  all.erase(
      std::unique(all.begin(), all.end(),
                  [](const Candidate& a, const Candidate& b) { return a.sort_key == b.sort_key; }),
      all.end());
  if (complete_up_to) {
    std::erase_if(all, [&](const Candidate& c) { return c.sort_key > *complete_up_to; });
  }
  return all;
}

std::optional<detail::TicketRecord> ticket_record(const TableReader& t, std::string_view project,
                                                  std::uint64_t number) {
  auto v = t.get(detail::kTickets, Key().part(project).num(number));
  if (!v) return std::nullopt;
  return detail::decode<detail::TicketRecord>(*v);
}

// A summary for staff (`updated_at`: any activity) or for a customer (only what they can see).
TicketSummary to_summary(const detail::TicketRecord& r, bool for_customer) {
  return {r.project,
          r.number,
          r.subject,
          r.status,
          r.priority,
          r.team,
          r.created_at,
          for_customer ? r.public_updated_at : r.updated_at,
          r.creator,
          r.participants,
          r.waiting_on,
          false,
          domain::ticket::Role::none};
}

// Pages through merged ranges, keeping the candidates `keep` accepts. Without a filter a page
// reads limit + 1 entries per range; with one it reads on, up to `budget` candidates.
Page<TicketSummary> page_of(
    const TableReader& t, const std::vector<Range>& ranges, std::string after, std::size_t limit,
    std::size_t budget, const std::function<std::optional<TicketSummary>(std::uint64_t)>& keep) {
  Page<TicketSummary> page;
  std::string last_item_key;
  std::size_t scanned = 0;
  for (;;) {
    auto batch = merge_ranges(t, ranges, after, limit + 1);
    if (batch.empty()) return page;  // the end of every range
    for (const Candidate& c : batch) {
      if (page.items.size() == limit) {
        page.next_cursor = to_hex(last_item_key);  // something follows the last item
        return page;
      }
      if (scanned == budget) {
        page.next_cursor = to_hex(after);  // out of budget: go on from here next time
        return page;
      }
      ++scanned;
      after = c.sort_key;
      if (auto s = keep(c.number)) {
        page.items.push_back(std::move(*s));
        last_item_key = c.sort_key;
      }
    }
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The customer's standing in a project, as the tables know it.
struct Viewer {
  bool member = false;
  detail::ProjectRecord project;
  const domain::project::Organization* organization = nullptr;  // with visibility on only
};

Viewer viewer_of(const TableReader& t, const std::string& customer, const std::string& project,
                 detail::CustomerRecord& customer_record) {
  Viewer v;
  v.member = t.get(detail::kMembers, Key().part(customer).part(project)).has_value();
  if (auto p = t.get(detail::kProjects, Key().part(project))) {
    if (auto pr = detail::decode<detail::ProjectRecord>(*p)) v.project = std::move(*pr);
  }
  if (auto c = t.get(detail::kCustomers, Key().part(customer))) {
    if (auto cr = detail::decode<detail::CustomerRecord>(*c)) customer_record = std::move(*cr);
  }
  if (v.project.organization_visibility) {
    v.organization = v.project.organization_of(customer_record.domain);
  }
  return v;
}

domain::ticket::Role role_of(const detail::TicketRecord& r, const std::string& customer,
                             const Viewer& v) {
  using domain::ticket::Role;
  if (!v.member) return Role::none;
  if (r.creator == customer) return Role::creator;
  if (r.has_participant(customer)) return Role::participant;
  if (v.organization && v.project.organization_of(r.domain) == v.organization) {
    return Role::organization;
  }
  return Role::none;
}

std::vector<std::string> status_parts(const std::vector<domain::Status>& statuses) {
  std::vector<std::string> out;
  if (statuses.empty()) return {std::string(detail::kAnyStatus)};
  for (auto s : statuses) out.emplace_back(domain::to_string(s));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The ranges of a customer's list.
// The ranges of a customer's list: their own (created, joined) and, with organisation visibility,
// their organisation's, one per status asked for.
std::vector<Range> customer_ranges(const std::string& customer, const std::string& project,
                                   Scope scope, const Viewer& v,
                                   const std::vector<domain::Status>& statuses) {
  std::vector<Range> ranges;
  for (const std::string& s : status_parts(statuses)) {
    if (scope == Scope::all || scope == Scope::mine) {
      ranges.push_back({detail::kMine, Key().part(customer).part(project).part("c").part(s).str()});
    }
    if (scope == Scope::all || scope == Scope::participating) {
      ranges.push_back({detail::kMine, Key().part(customer).part(project).part("p").part(s).str()});
    }
    if (v.organization && (scope == Scope::all || scope == Scope::organization)) {
      for (const std::string& d : v.organization->domains) {
        ranges.push_back({detail::kOrg, Key().part(project).part(d).part(s).str()});
      }
    }
  }
  return ranges;
}

bool matches(const detail::TicketRecord& r, const std::string& q_lower) {
  if (q_lower.empty()) return true;
  std::string_view q = q_lower;
  if (q.starts_with('#')) q.remove_prefix(1);
  if (!q.empty() && std::all_of(q.begin(), q.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      std::to_string(r.number) == q) {
    return true;
  }
  return lower(r.subject).find(q_lower) != std::string::npos;
}

// A customer's list: their own ranges and their organisation's merged into one page.
Page<TicketSummary> customer_page(const TableReader& t, const std::string& customer,
                                  const std::string& project, const ListQuery& query,
                                  const std::string& after) {
  detail::CustomerRecord me;
  const Viewer v = viewer_of(t, customer, project, me);
  if (!v.member) return {};
  const auto ranges = customer_ranges(customer, project, query.scope, v, query.statuses);
  const std::string q = lower(query.q);
  auto keep = [&](std::uint64_t number) -> std::optional<TicketSummary> {
    auto r = ticket_record(t, project, number);
    if (!r || !matches(*r, q)) return std::nullopt;
    TicketSummary s = to_summary(*r, true);
    s.role = role_of(*r, customer, v);
    if (s.role == domain::ticket::Role::none) return std::nullopt;
    s.favorite =
        t.get(detail::kFavorites, Key().part(customer).part(project).num(number)).has_value();
    return s;
  };
  // One merge over every range: a ticket that is both the customer's and their organisation's
  // has the same sort key in both and comes out once.
  return page_of(t, ranges, after, query.limit, q.empty() ? ~std::size_t{0} : kSearchBudget, keep);
}

// Whether a customer may still read the tickets their notifications are about: the bell shows
// nothing of a ticket they lost access to (removed, left it, left the project), exactly as if it
// did not exist, and shows it again if access comes back. Remembers what it looked up.
class Access {
 public:
  Access(const TableReader& t, const std::string& customer) : t_(t), customer_(customer) {}
  bool readable(const detail::NotificationRecord& n) {
    const auto key = std::make_pair(n.project, n.ticket);
    if (auto it = tickets_.find(key); it != tickets_.end()) return it->second;
    auto v = viewers_.find(n.project);
    if (v == viewers_.end()) {
      detail::CustomerRecord me;
      v = viewers_.emplace(n.project, viewer_of(t_, customer_, n.project, me)).first;
      // The organisation points into the record just stored (viewer_of's copy is gone).
      if (v->second.project.organization_visibility) {
        v->second.organization = v->second.project.organization_of(me.domain);
      }
    }
    bool ok = false;
    if (v->second.member) {
      if (auto r = ticket_record(t_, n.project, n.ticket)) {
        ok = role_of(*r, customer_, v->second) != domain::ticket::Role::none;
      }
    }
    tickets_.emplace(key, ok);
    return ok;
  }

 private:
  const TableReader& t_;
  const std::string& customer_;
  std::map<std::string, Viewer> viewers_;
  std::map<std::pair<std::string, std::uint64_t>, bool> tickets_;
};

Notification to_notification(std::uint64_t id, const detail::NotificationRecord& r) {
  NotificationKind kind = NotificationKind::mention;
  if (r.kind == "survey") kind = NotificationKind::survey;
  if (r.kind == "staff_reply") kind = NotificationKind::staff_reply;
  return {id, kind, r.project, r.ticket, r.subject, r.preview, r.created_at, r.read};
}

}  // namespace

Result<Page<TicketSummary>> Views::customer_tickets(const std::string& customer,
                                                    const std::string& project,
                                                    const ListQuery& query) const {
  if (auto ok = check_limit(query.limit); !ok) return Unexpected(ok.error());
  auto after = parse_cursor(query.cursor, kSortKeyBytes);
  if (!after) return Unexpected(after.error());
  Page<TicketSummary> page;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    page = customer_page(t, customer, project, query, *after);
  });
  return answer(ok, std::move(page));
}

Result<Overview> Views::overview(const std::string& customer, const std::string& project) const {
  Overview out;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    detail::CustomerRecord me;
    const Viewer v = viewer_of(t, customer, project, me);
    if (!v.member) return;
    // The customer's own tickets (created or participating) by the creator's domain and status,
    // plus — with organisation visibility — the organisation's, minus those counted twice.
    std::map<std::string, std::map<std::string, std::int64_t>> mine;  // domain -> status -> n
    const std::string prefix = Key().part("m").part(customer).part(project).str();
    t.scan(detail::kCounts, prefix, Direction::forward,
           [&](std::string_view k, std::string_view n) {
             if (!k.starts_with(prefix)) return false;
             std::string_view rest = k.substr(prefix.size());
             const std::string domain(rest.substr(0, rest.find('\0')));
             rest.remove_prefix(domain.size() + 1);
             const std::string status(rest.substr(0, rest.find('\0')));
             mine[domain][status] += static_cast<std::int64_t>(detail::get_be64(n));
             return true;
           });
    std::map<std::string, std::int64_t> total;
    for (const auto& [d, by] : mine) {
      for (const auto& [s, n] : by) total[s] += n;
    }
    if (v.organization) {
      for (const std::string& d : v.organization->domains) {
        const std::string op = Key().part("o").part(project).part(d).str();
        t.scan(detail::kCounts, op, Direction::forward,
               [&](std::string_view k, std::string_view n) {
                 if (!k.starts_with(op)) return false;
                 std::string_view rest = k.substr(op.size());
                 const std::string status(rest.substr(0, rest.find('\0')));
                 total[status] += static_cast<std::int64_t>(detail::get_be64(n));
                 return true;
               });
        if (auto it = mine.find(d); it != mine.end()) {
          for (const auto& [s, n] : it->second) total[s] -= n;
        }
      }
    }
    for (domain::Status s : domain::kAllStatuses) {
      const auto n = total[std::string(domain::to_string(s))];
      out.by_status[s] = n > 0 ? static_cast<std::uint64_t>(n) : 0;
      if (domain::is_active(s)) out.active += out.by_status[s];
    }
    ListQuery recent;
    recent.limit = 5;
    out.recent = customer_page(t, customer, project, recent, {}).items;
  });
  return answer(ok, std::move(out));
}

Result<Page<TicketSummary>> Views::favorites(const std::string& customer,
                                             const std::string& project, std::size_t limit,
                                             const std::string& cursor) const {
  if (auto ok = check_limit(limit); !ok) return Unexpected(ok.error());
  auto after = parse_cursor(cursor, kSortKeyBytes);
  if (!after) return Unexpected(after.error());
  Page<TicketSummary> page;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    detail::CustomerRecord me;
    const Viewer v = viewer_of(t, customer, project, me);
    if (!v.member) return;
    auto keep = [&](std::uint64_t number) -> std::optional<TicketSummary> {
      auto r = ticket_record(t, project, number);
      if (!r) return std::nullopt;
      TicketSummary s = to_summary(*r, true);
      s.role = role_of(*r, customer, v);
      if (s.role == domain::ticket::Role::none) return std::nullopt;  // lost access since
      s.favorite = true;
      return s;
    };
    page = page_of(t, {{detail::kFavList, Key().part(customer).part(project).str()}}, *after, limit,
                   kSearchBudget, keep);
  });
  return answer(ok, std::move(page));
}

Result<Page<TicketSummary>> Views::staff_queue(const std::string& project,
                                               const QueueQuery& query) const {
  if (auto ok = check_limit(query.limit); !ok) return Unexpected(ok.error());
  auto after = parse_cursor(query.cursor, kSortKeyBytes);
  if (!after) return Unexpected(after.error());
  // Status and team come from an index (one range per combination of their values); a priority
  // filter is applied to the candidates, within the search budget.
  auto values = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  std::vector<std::string> statuses;
  for (auto s : query.statuses) statuses.emplace_back(domain::to_string(s));
  if (!query.teams.empty() && statuses.empty()) {
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<domain::Status>>(
        [&](auto d) { statuses.emplace_back(domain::to_string(d.value)); });  // every status
  }
  const auto ss = values(std::move(statuses)), ts = values(query.teams);
  const auto ps = values(query.priorities);
  if (std::max<std::size_t>(ss.size(), 1) * std::max<std::size_t>(ts.size(), 1) > 256) {
    return fail(errc::kInvalidRequest, "too many filter combinations (at most 256)", "status");
  }
  std::vector<Range> ranges;
  if (ss.empty()) {
    ranges.push_back({detail::kQueue, Key().part(project).part(detail::kQueueAll).str()});
  }
  for (const auto& s : ss) {
    if (ts.empty()) {
      ranges.push_back(
          {detail::kQueue, Key().part(project).part(detail::kQueueByStatus).part(s).str()});
    }
    for (const auto& tm : ts) {
      ranges.push_back(
          {detail::kQueue,
           Key().part(project).part(detail::kQueueByStatusTeam).part(s).part(tm).str()});
    }
  }
  Page<TicketSummary> page;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    auto keep = [&](std::uint64_t number) -> std::optional<TicketSummary> {
      auto r = ticket_record(t, project, number);
      if (!r || (!ps.empty() && !std::binary_search(ps.begin(), ps.end(), r->priority))) {
        return std::nullopt;
      }
      return to_summary(*r, false);
    };
    page =
        page_of(t, ranges, *after, query.limit, ps.empty() ? ~std::size_t{0} : kSearchBudget, keep);
  });
  return answer(ok, std::move(page));
}

Result<NotificationPage> Views::notifications(const std::string& customer, bool unread_only,
                                              std::size_t limit, const std::string& cursor) const {
  if (auto ok = check_limit(limit); !ok) return Unexpected(ok.error());
  auto before = parse_cursor(cursor, 8);
  if (!before) return Unexpected(before.error());
  NotificationPage page;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    Access access(t, customer);
    const std::string prefix = Key().part(customer).str();
    // The unread count covers only what the customer may still read (so not the counter).
    t.scan(detail::kUnread, prefix, Direction::forward, [&](std::string_view k, std::string_view) {
      if (!k.starts_with(prefix)) return false;
      if (k.size() != prefix.size() + 8) return true;
      if (auto v = t.get(detail::kInbox, k)) {
        auto n = detail::decode<detail::NotificationRecord>(*v);
        if (n && access.readable(*n)) ++page.unread;
      }
      return true;
    });
    // Newest first: backward from just before the cursor (or from the end of the prefix).
    std::string from = prefix;
    if (before->empty()) {
      from += std::string(8, '\xff');
    } else {
      const std::uint64_t at = detail::get_be64(*before);
      if (at == 0) return;
      from = Key().part(customer).num(at - 1).str();
    }
    std::string last_key;
    t.scan(unread_only ? detail::kUnread : detail::kInbox, from, Direction::backward,
           [&](std::string_view k, std::string_view value) {
             if (!k.starts_with(prefix) || k.size() != prefix.size() + 8) return false;
             const std::uint64_t id = detail::get_be64(k.substr(prefix.size()));
             std::optional<detail::NotificationRecord> n;
             if (unread_only) {
               if (auto v = t.get(detail::kInbox, k))
                 n = detail::decode<detail::NotificationRecord>(*v);
             } else {
               n = detail::decode<detail::NotificationRecord>(value);
             }
             if (n && !access.readable(*n)) return true;  // as if it did not exist
             if (page.items.size() == limit) {
               page.next_cursor = to_hex(last_key);
               return false;
             }
             if (n) page.items.push_back(to_notification(id, *n));
             last_key = k.substr(prefix.size());
             return true;
           });
  });
  return answer(ok, std::move(page));
}

Result<std::optional<Notification>> Views::notification(const std::string& customer,
                                                        std::uint64_t id) const {
  std::optional<Notification> out;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    if (auto v = t.get(detail::kInbox, Key().part(customer).num(id))) {
      auto n = detail::decode<detail::NotificationRecord>(*v);
      if (n && Access(t, customer).readable(*n)) out = to_notification(id, *n);
    }
  });
  return answer(ok, std::move(out));
}

Result<std::uint64_t> Views::newest_notification(const std::string& customer) const {
  std::uint64_t out = 0;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    const std::string prefix = Key().part(customer).str();
    t.scan(detail::kInbox, prefix + std::string(8, '\xff'), Direction::backward,
           [&](std::string_view k, std::string_view) {
             if (k.starts_with(prefix) && k.size() == prefix.size() + 8) {
               out = detail::get_be64(k.substr(prefix.size()));
             }
             return false;
           });
  });
  return answer(ok, std::move(out));
}

Result<std::optional<Views::InviteRef>> Views::invite(const std::string& token_hash) const {
  std::optional<InviteRef> out;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    auto v = t.get(detail::kRefs, Key().part("i").part(token_hash));
    if (!v) return;
    // project\0 be64(number) invite_id\0
    const std::string_view ref = *v;
    const auto end = ref.find('\0');
    if (end == std::string_view::npos || ref.size() < end + 1 + 8 + 1) return;
    out = InviteRef{std::string(ref.substr(0, end)), detail::get_be64(ref.substr(end + 1, 8)),
                    std::string(ref.substr(end + 9, ref.size() - end - 10))};
  });
  return answer(ok, std::move(out));
}

Result<std::optional<TicketSummary>> Views::summary(const std::string& project,
                                                    std::uint64_t number) const {
  std::optional<TicketSummary> out;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    if (auto r = ticket_record(t, project, number)) out = to_summary(*r, false);
  });
  return answer(ok, std::move(out));
}

Result<std::vector<std::string>> Views::projects() const {
  std::vector<std::string> out;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) {
    t.scan(detail::kProjects, {}, Direction::forward, [&](std::string_view k, std::string_view) {
      if (!k.empty() && k.back() == '\0') out.emplace_back(k.substr(0, k.size() - 1));
      return true;
    });
  });
  return answer(ok, std::move(out));
}

Result<std::uint64_t> Views::position() const {
  std::uint64_t out = 0;
  auto ok = log_.read_projection(Views::kName, [&](const TableReader& t) { out = t.position(); });
  return answer(ok, std::move(out));
}

}  // namespace portico::projections
