// The outbox: an async projection whose rows are deliveries to make.
//   pending   be64(next_attempt_at) id  -> delivery (JSON)     due order
//   ids       id                         -> its key in pending
//   dead      id                         -> delivery (JSON)     gave up after kMaxAttempts
//   counts    "pending"                  -> be64
#include <algorithm>
#include <boost/describe/class.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/projections/outbox.hpp>

#include "keys.hpp"
#include "records.hpp"

namespace portico::projections {

BOOST_DESCRIBE_STRUCT(Delivery, (),
                      (id, kind, channel, recipient, project, ticket, position, created_at,
                       next_attempt_at, attempts, last_error))

namespace {

namespace ticket = domain::ticket;
using detail::get_be64;
using detail::put_be64;
using log::TableReader;
using log::TableWriter;

enum Table : std::size_t { kPending, kIds, kDead, kCounts };

std::string pending_key(const Delivery& d) {
  std::string k;
  put_be64(k, static_cast<std::uint64_t>(d.next_attempt_at));
  return k + d.id;
}

void bump_pending(TableWriter& t, int delta) {
  auto v = t.get(kCounts, "pending");
  std::uint64_t n = v && v->size() == 8 ? get_be64(*v) : 0;
  n = delta < 0 ? (n > 0 ? n - 1 : 0) : n + 1;
  std::string out;
  put_be64(out, n);
  t.put(kCounts, "pending", out);
}

void enqueue(TableWriter& t, Delivery d) {
  const std::string key = pending_key(d);
  if (t.get(kIds, d.id)) return;  // one delivery per (event, recipient)
  t.put(kPending, key, detail::encode(d));
  t.put(kIds, d.id, key);
  bump_pending(t, +1);
}

// "ticket:{project}:{number}"
bool ticket_of(std::string_view stream, std::string& project, std::uint64_t& number) {
  const auto colon = stream.rfind(':');
  if (!stream.starts_with("ticket:") || colon <= 7) return false;
  project = std::string(stream.substr(7, colon - 7));
  number = std::strtoull(std::string(stream.substr(colon + 1)).c_str(), nullptr, 10);
  return number > 0;
}

class OutboxProjection final : public log::Projection {
 public:
  std::string name() const override { return std::string(Outbox::kName); }
  std::uint32_t version() const override { return 1; }
  std::vector<std::string> tables() const override { return {"pending", "ids", "dead", "counts"}; }
  // Deliveries of past events were made already: a reset starts from the log's head.
  bool replays_history() const override { return false; }

  Result<void> apply(TableWriter& t, const log::Record& r) override {
    std::string project;
    std::uint64_t number = 0;
    if (!ticket_of(r.stream, project, number)) return {};
    auto event = ticket::from_payload(r.type, r.payload_object());
    if (!event) return Unexpected(event.error());
    // The people a ticket's e-mails go to: its creator, and for staff replies every participant.
    // Participants are followed from the events themselves (kept in the "counts" table).
    const std::string members_key = "participants/" + project + "/" + std::to_string(number);
    std::vector<std::string> participants;
    if (auto v = t.get(kCounts, members_key)) {
      std::string_view s = *v;
      while (!s.empty()) {
        const auto cut = s.find('\n');
        participants.emplace_back(s.substr(0, cut));
        s = cut == std::string_view::npos ? std::string_view() : s.substr(cut + 1);
      }
    }
    auto save_participants = [&] {
      std::string joined;
      for (const auto& p : participants) joined += (joined.empty() ? "" : "\n") + p;
      t.put(kCounts, members_key, joined);
    };
    auto tell = [&](const std::string& kind, const std::vector<std::string>& to) {
      for (const std::string& who : to) {
        enqueue(t, Delivery{std::to_string(r.position) + ":" + who,
                            kind,
                            "email",
                            who,
                            project,
                            number,
                            r.position,
                            r.recorded_at_us,
                            r.recorded_at_us,
                            0,
                            {}});
      }
    };
    const std::vector<std::string> creator =
        participants.empty() ? std::vector<std::string>{} : std::vector{participants.front()};
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, ticket::TicketOpened>) {
            participants = {e.creator};  // the creator first, always
            save_participants();
            tell("ticket_created", participants);
          } else if constexpr (std::is_same_v<E, ticket::ParticipantJoined>) {
            if (std::find(participants.begin(), participants.end(), e.customer) ==
                participants.end()) {
              participants.push_back(e.customer);
              save_participants();
            }
          } else if constexpr (std::is_same_v<E, ticket::ParticipantLeft> ||
                               std::is_same_v<E, ticket::ParticipantRemoved>) {
            if (!participants.empty() && participants.front() != e.customer) {
              std::erase(participants, e.customer);
              save_participants();
            }
          } else if constexpr (std::is_same_v<E, ticket::MessagePosted>) {
            if (!e.internal && e.author.realm == domain::Realm::staff) {
              tell("staff_replied", participants);
            }
          } else if constexpr (std::is_same_v<E, ticket::StatusChanged> ||
                               std::is_same_v<E, ticket::TicketReopened>) {
            tell("status_changed", creator);
          } else if constexpr (std::is_same_v<E, ticket::TicketClosed>) {
            tell("closed", creator);
          } else if constexpr (std::is_same_v<E, ticket::SurveyOffered>) {
            tell("feedback_requested", {e.customer});
          }
        },
        *event);
    return {};
  }
};

std::vector<Delivery> scan_rows(const TableReader& t, std::size_t table, std::size_t limit,
                                std::optional<domain::TimeUs> due_by) {
  std::vector<Delivery> out;
  t.scan(table, {}, log::Direction::forward, [&](std::string_view k, std::string_view v) {
    if (out.size() == limit) return false;
    if (due_by && k.size() >= 8 && static_cast<domain::TimeUs>(get_be64(k)) > *due_by) {
      return false;
    }
    if (auto d = detail::decode<Delivery>(v)) out.push_back(std::move(*d));
    return true;
  });
  return out;
}

Error from_log(const log::LogError& e) { return {"unavailable", e.message, {}}; }

}  // namespace

std::shared_ptr<log::Projection> Outbox::projection() {
  return std::make_shared<OutboxProjection>();
}

Result<std::vector<Delivery>> Outbox::due(domain::TimeUs now, std::size_t limit) const {
  std::vector<Delivery> out;
  auto ok = log_.read_projection(
      kName, [&](const TableReader& t) { out = scan_rows(t, kPending, limit, now); });
  if (!ok) return Unexpected(from_log(ok.error()));
  return out;
}

Result<std::vector<Delivery>> Outbox::pending(std::size_t limit) const {
  std::vector<Delivery> out;
  auto ok = log_.read_projection(
      kName, [&](const TableReader& t) { out = scan_rows(t, kPending, limit, std::nullopt); });
  if (!ok) return Unexpected(from_log(ok.error()));
  return out;
}

Result<std::uint64_t> Outbox::pending_count() const {
  std::uint64_t n = 0;
  auto ok = log_.read_projection(kName, [&](const TableReader& t) {
    if (auto v = t.get(kCounts, "pending"); v && v->size() == 8) n = get_be64(*v);
  });
  if (!ok) return Unexpected(from_log(ok.error()));
  return n;
}

Result<std::vector<Delivery>> Outbox::dead(std::size_t limit) const {
  std::vector<Delivery> out;
  auto ok = log_.read_projection(
      kName, [&](const TableReader& t) { out = scan_rows(t, kDead, limit, std::nullopt); });
  if (!ok) return Unexpected(from_log(ok.error()));
  return out;
}

Result<void> Outbox::delivered(const std::string& id) {
  auto ok = log_.write_projection(kName, [&](TableWriter& t) -> Result<void> {
    auto key = t.get(kIds, id);
    if (!key) return fail("not_found", "no pending delivery " + id);
    const std::string k(*key);
    t.erase(kPending, k);
    t.erase(kIds, id);
    bump_pending(t, -1);
    return {};
  });
  if (!ok) {
    if (ok.error().code == log::Errc::projection_failed)
      return fail("not_found", ok.error().message);
    return Unexpected(from_log(ok.error()));
  }
  return {};
}

Result<void> Outbox::failed(const std::string& id, domain::TimeUs now, const std::string& error) {
  auto ok = log_.write_projection(kName, [&](TableWriter& t) -> Result<void> {
    auto key = t.get(kIds, id);
    if (!key) return fail("not_found", "no pending delivery " + id);
    const std::string k(*key);
    auto stored = t.get(kPending, k);
    auto d = stored ? detail::decode<Delivery>(*stored) : std::nullopt;
    if (!d) return fail("not_found", "no pending delivery " + id);
    t.erase(kPending, k);
    ++d->attempts;
    d->last_error = error.substr(0, 500);
    if (d->attempts >= kMaxAttempts) {
      t.erase(kIds, id);
      t.put(kDead, id, detail::encode(*d));
      bump_pending(t, -1);
      return {};
    }
    const domain::TimeUs backoff =
        std::min<domain::TimeUs>(30 * domain::kSecond << (d->attempts - 1), 6 * domain::kHour);
    d->next_attempt_at = now + backoff;
    const std::string next = pending_key(*d);
    t.put(kPending, next, detail::encode(*d));
    t.put(kIds, id, next);
    return {};
  });
  if (!ok) {
    if (ok.error().code == log::Errc::projection_failed)
      return fail("not_found", ok.error().message);
    return Unexpected(from_log(ok.error()));
  }
  return {};
}

}  // namespace portico::projections
