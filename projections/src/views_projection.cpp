// The "views" projection: events in, table writes out. Deterministic: a function of the record
// and the tables alone, so a rebuild writes the same bytes.
#include <algorithm>
#include <portico/domain/customer.hpp>
#include <portico/domain/inbox.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/errc.hpp>
#include <portico/projections/views.hpp>
#include <portico/utf8.hpp>
#include <set>

#include "keys.hpp"
#include "records.hpp"

namespace portico::projections {
namespace detail {

bool TicketRecord::has_participant(std::string_view customer) const {
  return std::binary_search(participants.begin(), participants.end(), customer);
}

const domain::project::Organization* ProjectRecord::organization_of(std::string_view d) const {
  if (d.empty()) return nullptr;
  for (const auto& org : organizations) {
    if (std::find(org.domains.begin(), org.domains.end(), d) != org.domains.end()) return &org;
  }
  return nullptr;
}

namespace {

namespace ticket = domain::ticket;
namespace project = domain::project;
namespace customer = domain::customer;
namespace inbox = domain::inbox;
using log::TableWriter;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

constexpr std::size_t kPreviewChars = 140;

// The first kPreviewChars characters of a message, on a code point boundary.
std::string preview_of(std::string_view body) {
  std::size_t chars = 0, cut = body.size();
  for (std::size_t i = 0; i < body.size(); ++i) {
    if ((static_cast<unsigned char>(body[i]) & 0xc0) != 0x80) {
      if (chars == kPreviewChars) {
        cut = i;
        break;
      }
      ++chars;
    }
  }
  std::string out(body.substr(0, cut));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (cut < body.size()) out += "\u2026";
  return out;
}

std::uint64_t read_count(const TableWriter& t, std::string_view key) {
  auto v = t.get(kCounts, key);
  return v && v->size() == 8 ? get_be64(*v) : 0;
}

void add_count(TableWriter& t, const std::string& key, int delta) {
  const std::uint64_t n = read_count(t, key);
  const std::uint64_t next = delta < 0 ? (n > 0 ? n - 1 : 0) : n + 1;
  if (next == 0) {
    t.erase(kCounts, key);
  } else {
    std::string v;
    put_be64(v, next);
    t.put(kCounts, key, v);
  }
}

// Every index entry and counter a ticket contributes, from its record alone.
struct Footprint {
  std::vector<std::pair<Table, std::string>> entries;
  std::vector<std::string> counts;
};

Footprint footprint(const TicketRecord& r) {
  Footprint f;
  const std::string status(domain::to_string(r.status));
  // Customers' lists go by the activity they can see; the staff queue by every activity.
  auto sorted = [&](Key k) { return std::move(k.sort(r.public_updated_at, r.number)).str(); };
  auto queued = [&](Key k) { return std::move(k.sort(r.updated_at, r.number)).str(); };
  for (const std::string& who : r.participants) {
    const std::string_view rel = who == r.creator ? "c" : "p";
    for (std::string_view s : {std::string_view(status), kAnyStatus}) {
      f.entries.emplace_back(kMine, sorted(Key().part(who).part(r.project).part(rel).part(s)));
    }
    f.counts.push_back(Key().part("m").part(who).part(r.project).part(r.domain).part(status).str());
  }
  if (!r.domain.empty()) {
    for (std::string_view s : {std::string_view(status), kAnyStatus}) {
      f.entries.emplace_back(kOrg, sorted(Key().part(r.project).part(r.domain).part(s)));
    }
    f.counts.push_back(Key().part("o").part(r.project).part(r.domain).part(status).str());
  }
  // The queue: unfiltered, by status, by status and team (what a team's desk looks at). A
  // priority filter is applied while reading; an index per filter subset would cost every reply
  // eight random-page deletes and inserts instead of three.
  for (std::string_view mask : kQueueIndexes) {
    Key k;
    k.part(r.project).part(mask);
    if (mask != kQueueAll) k.part(status);
    if (mask == kQueueByStatusTeam) k.part(r.team);
    f.entries.emplace_back(kQueue, queued(std::move(k)));
  }
  std::sort(f.entries.begin(), f.entries.end());
  std::sort(f.counts.begin(), f.counts.end());
  return f;
}

// Moves a ticket's entries and counters from what `before` contributed to what `after` does.
void reindex(TableWriter& t, const std::optional<TicketRecord>& before, const TicketRecord& after) {
  const Footprint old = before ? footprint(*before) : Footprint{};
  const Footprint now = footprint(after);
  std::vector<std::pair<Table, std::string>> gone, added;
  std::set_difference(old.entries.begin(), old.entries.end(), now.entries.begin(),
                      now.entries.end(), std::back_inserter(gone));
  std::set_difference(now.entries.begin(), now.entries.end(), old.entries.begin(),
                      old.entries.end(), std::back_inserter(added));
  for (const auto& [table, key] : gone) t.erase(table, key);
  for (const auto& [table, key] : added) t.put(table, key, {});
  std::vector<std::string> dec, inc;
  std::set_difference(old.counts.begin(), old.counts.end(), now.counts.begin(), now.counts.end(),
                      std::back_inserter(dec));
  std::set_difference(now.counts.begin(), now.counts.end(), old.counts.begin(), old.counts.end(),
                      std::back_inserter(inc));
  for (const auto& k : dec) add_count(t, k, -1);
  for (const auto& k : inc) add_count(t, k, +1);
}

void notify(TableWriter& t, const std::string& who, std::uint64_t position, NotificationRecord n) {
  // Only members hear from a project: someone who left it is told nothing new of its tickets.
  if (!t.get(kMembers, Key().part(who).part(n.project))) return;
  const std::string key = Key().part(who).num(position).str();
  t.put(kInbox, key, encode(n));
  t.put(kUnread, key, {});
  add_count(t, Key().part("u").part(who).str(), +1);
}

void mark_read(TableWriter& t, const std::string& key, std::string_view who) {
  if (!t.get(kUnread, key)) return;
  auto stored = t.get(kInbox, key);
  auto n = stored ? decode<NotificationRecord>(*stored) : std::nullopt;
  t.erase(kUnread, key);
  if (n) {
    n->read = true;
    t.put(kInbox, key, encode(*n));
  }
  add_count(t, Key().part("u").part(who).str(), -1);
}

Result<void> apply_ticket(TableWriter& t, const log::Record& r, const ticket::Event& event) {
  auto ticket_ref = ticket::parse_stream_id(r.stream);
  if (!ticket_ref) return fail(errc::kInvalidRequest, "not a ticket stream: " + r.stream);
  TicketRecord rec;
  rec.project = std::move(ticket_ref->project);
  const std::uint64_t number = ticket_ref->number;
  const std::string key = Key().part(rec.project).num(number).str();
  std::optional<TicketRecord> before;
  if (auto stored = t.get(kTickets, key)) {
    before = decode<TicketRecord>(*stored);
    if (!before) return fail(errc::kInvalidRequest, "stored ticket record does not decode");
    rec = *before;
  } else if (!std::holds_alternative<ticket::TicketOpened>(event)) {
    return {};  // events of a ticket never opened: nothing to show
  }
  const domain::TimeUs at = std::visit([](const auto& e) { return e.at; }, event);
  auto notify_mentions = [&](const std::vector<std::string>& mentions, std::string_view author,
                             std::string_view body, std::set<std::string>& told) {
    for (const std::string& who : mentions) {
      if (who == author || !told.insert(who).second) continue;
      notify(t, who, r.position,
             {"mention", rec.project, rec.number, rec.subject, preview_of(body), at, false});
    }
  };

  std::visit(
      Overloaded{
          [&](const ticket::TicketOpened& e) {
            rec.number = e.number;
            rec.subject = e.subject;
            rec.status = domain::Status::open;
            rec.priority = e.priority;
            rec.team = e.team;
            rec.created_at = e.at;
            rec.creator = e.creator;
            if (auto c = t.get(kCustomers, Key().part(e.creator))) {
              if (auto cr = decode<CustomerRecord>(*c)) rec.domain = cr->domain;
            }
            rec.participants = {e.creator};
            rec.waiting_on = domain::Realm::staff;
            std::set<std::string> told;
            notify_mentions(e.mentions, e.creator, e.body, told);
          },
          [&](const ticket::MessagePosted& e) {
            if (e.internal) {
              // Customers never hear of internal notes, nor of their later edits.
              t.put(kRefs, Key().part("n").part(rec.project).num(number).part(e.message_id), {});
              return;
            }
            if (e.author.realm != domain::Realm::system) {
              // A customer's reply waits on staff; a staff reply waits on the customer.
              rec.waiting_on = e.author.realm == domain::Realm::customer ? domain::Realm::staff
                                                                         : domain::Realm::customer;
            }
            std::set<std::string> told;
            notify_mentions(e.mentions,
                            e.author.realm == domain::Realm::customer ? e.author.id : "", e.body,
                            told);
            if (e.author.realm == domain::Realm::staff) {
              for (const std::string& who : rec.participants) {
                if (!told.insert(who).second) continue;
                notify(t, who, r.position,
                       {"staff_reply", rec.project, rec.number, rec.subject, preview_of(e.body), at,
                        false});
              }
            }
          },
          [&](const ticket::StatusChanged& e) { rec.status = e.to; },
          [&](const ticket::TicketReopened& e) { rec.status = e.to; },
          [&](const ticket::ClosureRequested&) { rec.status = domain::Status::pending_closure; },
          [&](const ticket::ClosureScheduled&) { rec.status = domain::Status::closure_scheduled; },
          [&](const ticket::ClosureCancelled& e) { rec.status = e.restored; },
          [&](const ticket::TicketClosed&) { rec.status = domain::Status::closed; },
          [&](const ticket::SurveyOffered& e) {
            notify(t, e.customer, r.position,
                   {"survey", rec.project, rec.number, rec.subject,
                    "How did we do? Rate the help you got on #" + std::to_string(rec.number), at,
                    false});
            t.put(kRefs, Key().part("s").part(e.survey_id),
                  Key().part(e.customer).num(r.position).str());
          },
          [&](const auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, ticket::SurveyAnswered> ||
                          std::is_same_v<E, ticket::SurveyWithdrawn> ||
                          std::is_same_v<E, ticket::SurveyExpired>) {
              // No longer pending: the bell stops asking.
              const std::string ref = Key().part("s").part(e.survey_id).str();
              if (auto inbox_key = t.get(kRefs, ref)) {
                const std::string k(*inbox_key);
                const std::string who(k.substr(0, k.find('\0')));
                mark_read(t, k, who);
              }
            } else if constexpr (std::is_same_v<E, ticket::InviteCreated>) {
              // Invite links are looked up by the hash of their token (the token is never stored).
              t.put(kRefs, Key().part("i").part(e.token_hash),
                    Key().part(rec.project).num(rec.number).part(e.invite_id).str());
            } else if constexpr (std::is_same_v<E, ticket::FavoriteAdded>) {
              std::string v;
              put_be64(v, static_cast<std::uint64_t>(e.at));
              t.put(kFavorites, Key().part(e.customer).part(rec.project).num(rec.number), v);
              t.put(kFavList, Key().part(e.customer).part(rec.project).sort(e.at, rec.number), {});
            } else if constexpr (std::is_same_v<E, ticket::FavoriteRemoved>) {
              const std::string k = Key().part(e.customer).part(rec.project).num(rec.number).str();
              if (auto v = t.get(kFavorites, k); v && v->size() == 8) {
                const auto marked = static_cast<domain::TimeUs>(get_be64(*v));
                t.erase(kFavList,
                        Key().part(e.customer).part(rec.project).sort(marked, rec.number));
                t.erase(kFavorites, k);
              }
            } else if constexpr (std::is_same_v<E, ticket::ParticipantJoined>) {
              if (!rec.has_participant(e.customer)) {
                rec.participants.insert(
                    std::upper_bound(rec.participants.begin(), rec.participants.end(), e.customer),
                    e.customer);
              }
            } else if constexpr (std::is_same_v<E, ticket::ParticipantLeft> ||
                                 std::is_same_v<E, ticket::ParticipantRemoved>) {
              std::erase(rec.participants, e.customer);
            } else if constexpr (std::is_same_v<E, ticket::TicketUpdated>) {
              if (e.priority) rec.priority = *e.priority;
              if (e.team) rec.team = *e.team;
            }
          },
      },
      event);
  bool internal_note = false;
  if (const auto* posted = std::get_if<ticket::MessagePosted>(&event)) {
    internal_note = posted->internal;
  }
  const std::string* touched = nullptr;
  if (const auto* edited = std::get_if<ticket::MessageEdited>(&event))
    touched = &edited->message_id;
  if (const auto* deleted = std::get_if<ticket::MessageDeleted>(&event)) {
    touched = &deleted->message_id;
  }
  if (touched) {
    internal_note =
        t.get(kRefs, Key().part("n").part(rec.project).num(number).part(*touched)).has_value();
  }
  if (ticket::is_activity(event)) rec.updated_at = at;
  if (ticket::is_public_activity(event, internal_note)) rec.public_updated_at = at;
  if (before && *before == rec) return {};
  t.put(kTickets, key, encode(rec));
  reindex(t, before, rec);
  return {};
}

class ViewsProjection final : public log::Projection {
 public:
  std::string name() const override { return std::string(Views::kName); }
  // 2: invite links in `refs`; 3: three queue indexes instead of eight, binary ticket records;
  // 4: customers' lists by public_updated_at (internal notes and staff edits do not move them)
  std::uint32_t version() const override { return 4; }
  std::vector<std::string> tables() const override { return kTableNames; }

  Result<void> apply(TableWriter& t, const log::Record& r) override {
    const std::string_view stream = r.stream;
    // Events of a type this program does not know (stored by a newer one) are not shown; the
    // projection is rebuilt when a program that knows them raises its version.
    if (stream.starts_with(ticket::kStreamPrefix)) {
      if (!ticket::is_event_type(r.type)) return {};
      auto e = ticket::from_payload(r.type, r.payload_object());
      if (!e) return Unexpected(e.error());
      return apply_ticket(t, r, *e);
    }
    if (stream.starts_with("project:")) {
      if (!project::is_event_type(r.type)) return {};
      auto e = project::from_payload(r.type, r.payload_object());
      if (!e) return Unexpected(e.error());
      const project::Settings* settings = nullptr;
      if (const auto* c = std::get_if<project::ProjectCreated>(&*e)) settings = &c->settings;
      if (const auto* c = std::get_if<project::ProjectConfigured>(&*e)) settings = &c->settings;
      if (settings) {
        t.put(kProjects, Key().part(stream.substr(8)),
              encode(ProjectRecord{settings->policies.organization_visibility,
                                   settings->organizations}));
      }
      return {};
    }
    if (stream.starts_with("customer:")) {
      if (!customer::is_event_type(r.type)) return {};
      auto e = customer::from_payload(r.type, r.payload_object());
      if (!e) return Unexpected(e.error());
      const std::string id(stream.substr(9));
      std::visit(Overloaded{
                     [&](const customer::CustomerRegistered& c) {
                       t.put(kCustomers, Key().part(id),
                             encode(CustomerRecord{project::email_domain(c.email), c.display_name,
                                                   c.handle}));
                     },
                     [&](const customer::MembershipJoined& c) {
                       t.put(kMembers, Key().part(id).part(c.project), {});
                     },
                     [&](const customer::MembershipLeft& c) {
                       t.erase(kMembers, Key().part(id).part(c.project));
                     },
                     [](const auto&) {},  // claims and credentials: not the views' business
                 },
                 *e);
      return {};
    }
    if (stream.starts_with("inbox:")) {
      if (!inbox::is_event_type(r.type)) return {};
      auto e = inbox::from_payload(r.type, r.payload_object());
      if (!e) return Unexpected(e.error());
      const std::string who(stream.substr(6));
      std::visit(Overloaded{
                     [&](const inbox::NotificationsRead& c) {
                       for (std::uint64_t id : c.ids)
                         mark_read(t, Key().part(who).num(id).str(), who);
                     },
                     [&](const inbox::AllNotificationsRead& c) {
                       const std::string prefix = Key().part(who).str();
                       std::vector<std::string> keys;
                       t.scan(kUnread, prefix, log::Direction::forward,
                              [&](std::string_view k, std::string_view) {
                                if (!k.starts_with(prefix) ||
                                    get_be64(k.substr(prefix.size())) > c.up_to) {
                                  return false;
                                }
                                keys.emplace_back(k);
                                return true;
                              });
                       for (const auto& k : keys) mark_read(t, k, who);
                     },
                 },
                 *e);
      return {};
    }
    return {};  // other streams (handles, tests' own) are not shown anywhere
  }
};

}  // namespace
}  // namespace detail

std::shared_ptr<log::Projection> Views::projection() {
  return std::make_shared<detail::ViewsProjection>();
}

}  // namespace portico::projections
