// The outbox: an async projection whose rows are deliveries to make.
//   pending   be64(next_attempt_at) id  -> delivery (JSON)     due order
//   ids       id                         -> its key in pending
//   dead      id                         -> delivery (JSON)     gave up after kMaxAttempts
//   counts    "pending"                  -> be64
//             "ticket␟{project}␟{number}"  -> who is on the ticket (JSON)
//             "member␟{customer}␟{project}" -> ""  (the customer is a member of the project)
#include <algorithm>
#include <boost/describe/class.hpp>
#include <functional>
#include <portico/domain/customer.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/errc.hpp>
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

namespace customer = domain::customer;

// Who hears of a ticket: its creator, and for staff replies every participant.
struct TicketPeople {
  std::string creator;
  std::vector<std::string> participants;  // in the order they came, the creator first
  friend bool operator==(const TicketPeople&, const TicketPeople&) = default;
};
BOOST_DESCRIBE_STRUCT(TicketPeople, (), (creator, participants))

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

class OutboxProjection final : public log::Projection {
 public:
  std::string name() const override { return std::string(Outbox::kName); }
  std::uint32_t version() const override { return 1; }
  std::vector<std::string> tables() const override { return {"pending", "ids", "dead", "counts"}; }
  // It acts on the world: after a reset it rebuilds who is on each ticket from the whole log,
  // but queues deliveries only for what comes after.
  bool is_work_queue() const override { return true; }

  Result<void> apply(TableWriter& t, const log::Record& r) override {
    if (r.stream.starts_with("customer:")) return follow_membership(t, r);
    const auto ref = ticket::parse_stream_id(r.stream);
    if (!ref) return {};
    const std::string& project = ref->project;
    const std::uint64_t number = ref->number;
    if (!ticket::is_event_type(r.type)) return {};  // a newer program's event: not ours to tell
    auto event = ticket::from_payload(r.type, r.payload_object());
    if (!event) return Unexpected(event.error());
    // Who is on the ticket, followed from its events (kept in the "counts" table beside the
    // counter): its creator and its participants.
    const std::string state_key = "ticket\x1f" + project + "\x1f" + std::to_string(number);
    TicketPeople people;
    if (auto v = t.get(kCounts, state_key)) {
      if (auto decoded = detail::decode<TicketPeople>(*v)) people = std::move(*decoded);
    }
    const auto before = people;
    // Due at once: at the time the event was decided. Events the queue acted on before a reset
    // only rebuild who is on the ticket.
    const domain::TimeUs at = std::visit([](const auto& e) { return e.at; }, *event);
    const bool acting = r.position > t.acted_until();
    auto tell = [&](const std::string& kind, const std::vector<std::string>& to) {
      if (!acting) return;
      for (const std::string& who : to) {
        // Only members of the project hear from it (PRODUCT.md, "Who may see what").
        if (!t.get(kCounts, "member\x1f" + who + "\x1f" + project)) continue;
        enqueue(t, Delivery{std::to_string(r.position) + ":" + who,
                            kind,
                            "email",
                            who,
                            project,
                            number,
                            r.position,
                            at,
                            at,
                            0,
                            {}});
      }
    };
    std::visit(
        [&](const auto& e) {
          using E = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<E, ticket::TicketOpened>) {
            people = {e.creator, {e.creator}};
            tell("ticket_created", {e.creator});
          } else if constexpr (std::is_same_v<E, ticket::ParticipantJoined>) {
            if (std::find(people.participants.begin(), people.participants.end(), e.customer) ==
                people.participants.end()) {
              people.participants.push_back(e.customer);
            }
          } else if constexpr (std::is_same_v<E, ticket::ParticipantLeft> ||
                               std::is_same_v<E, ticket::ParticipantRemoved>) {
            if (e.customer != people.creator) std::erase(people.participants, e.customer);
          } else if constexpr (std::is_same_v<E, ticket::MessagePosted>) {
            if (!e.internal && e.author.realm == domain::Realm::staff) {
              tell("staff_replied", people.participants);
            }
          } else if constexpr (std::is_same_v<E, ticket::StatusChanged> ||
                               std::is_same_v<E, ticket::TicketReopened>) {
            tell("status_changed", {people.creator});
          } else if constexpr (std::is_same_v<E, ticket::TicketClosed>) {
            tell("closed", {people.creator});
          } else if constexpr (std::is_same_v<E, ticket::SurveyOffered>) {
            tell("feedback_requested", {e.customer});
          }
        },
        *event);
    if (!(people == before)) t.put(kCounts, state_key, detail::encode(people));
    return {};
  }

 private:
  static Result<void> follow_membership(TableWriter& t, const log::Record& r) {
    const std::string who = r.stream.substr(9);
    if (r.type == "MembershipJoined" || r.type == "MembershipLeft") {
      auto e = customer::from_payload(r.type, r.payload_object());
      if (!e) return Unexpected(e.error());
      if (const auto* joined = std::get_if<customer::MembershipJoined>(&*e)) {
        t.put(kCounts, "member\x1f" + who + "\x1f" + joined->project, {});
      } else if (const auto* left = std::get_if<customer::MembershipLeft>(&*e)) {
        t.erase(kCounts, "member\x1f" + who + "\x1f" + left->project);
      }
    }
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

Error from_log(const log::LogError& e) { return {std::string(errc::kUnavailable), e.message, {}}; }

// Runs `fn` on the outbox's tables in one transaction; its own refusal (not_found) comes back as
// it is, the log's trouble as unavailable.
Result<void> write_outbox(log::Log& log, const std::function<Result<void>(TableWriter&)>& fn) {
  std::optional<Error> refused;
  auto ok = log.write_projection("outbox", [&](TableWriter& t) -> Result<void> {
    auto done = fn(t);
    if (!done) refused = done.error();
    return done;
  });
  if (refused) return Unexpected(*refused);
  if (!ok) return Unexpected(from_log(ok.error()));
  return {};
}

// What `fn` reads off the outbox's tables in one snapshot.
template <class Fn>
auto read_outbox(const log::Log& log, Fn&& fn)
    -> Result<decltype(fn(std::declval<const TableReader&>()))> {
  decltype(fn(std::declval<const TableReader&>())) out{};
  auto ok = log.read_projection("outbox", [&](const TableReader& t) { out = fn(t); });
  if (!ok) return Unexpected(from_log(ok.error()));
  return out;
}

}  // namespace

std::shared_ptr<log::Projection> Outbox::projection() {
  return std::make_shared<OutboxProjection>();
}

Result<std::vector<Delivery>> Outbox::due(domain::TimeUs now, std::size_t limit) const {
  return read_outbox(log_,
                     [&](const TableReader& t) { return scan_rows(t, kPending, limit, now); });
}

Result<std::vector<Delivery>> Outbox::pending(std::size_t limit) const {
  return read_outbox(
      log_, [&](const TableReader& t) { return scan_rows(t, kPending, limit, std::nullopt); });
}

Result<std::uint64_t> Outbox::pending_count() const {
  return read_outbox(log_, [](const TableReader& t) -> std::uint64_t {
    auto v = t.get(kCounts, "pending");
    return v && v->size() == 8 ? get_be64(*v) : 0;
  });
}

Result<std::vector<Delivery>> Outbox::dead(std::size_t limit) const {
  return read_outbox(
      log_, [&](const TableReader& t) { return scan_rows(t, kDead, limit, std::nullopt); });
}

Result<void> Outbox::delivered(const std::string& id) {
  return write_outbox(log_, [&](TableWriter& t) -> Result<void> {
    auto key = t.get(kIds, id);
    if (!key) return fail(errc::kNotFound, "no pending delivery " + id);
    const std::string k(*key);
    t.erase(kPending, k);
    t.erase(kIds, id);
    bump_pending(t, -1);
    return {};
  });
}

Result<void> Outbox::delivered(std::span<const std::string> ids) {
  if (ids.empty()) return {};
  return write_outbox(log_, [&](TableWriter& t) -> Result<void> {
    for (const std::string& id : ids) {
      auto key = t.get(kIds, id);
      if (!key) continue;
      const std::string k(*key);
      t.erase(kPending, k);
      t.erase(kIds, id);
      bump_pending(t, -1);
    }
    return {};
  });
}

Result<void> Outbox::failed(const std::string& id, domain::TimeUs now, const std::string& error,
                            Retry retry) {
  return write_outbox(log_, [&](TableWriter& t) -> Result<void> {
    auto key = t.get(kIds, id);
    if (!key) return fail(errc::kNotFound, "no pending delivery " + id);
    const std::string k(*key);
    auto stored = t.get(kPending, k);
    auto d = stored ? detail::decode<Delivery>(*stored) : std::nullopt;
    if (!d) return fail(errc::kNotFound, "no pending delivery " + id);
    t.erase(kPending, k);
    ++d->attempts;
    d->last_error = error.substr(0, 500);
    if (d->attempts >= kMaxAttempts || retry == Retry::never) {
      t.erase(kIds, id);
      t.put(kDead, id, detail::encode(*d));
      bump_pending(t, -1);
      return {};
    }
    const domain::TimeUs backoff = std::min<domain::TimeUs>(
        first_retry_ << std::min<std::uint32_t>(d->attempts - 1, 20), 6 * domain::kHour);
    d->next_attempt_at = now + backoff;
    const std::string next = pending_key(*d);
    t.put(kPending, next, detail::encode(*d));
    t.put(kIds, id, next);
    return {};
  });
}

Result<void> Outbox::retry(const std::string& id, domain::TimeUs now) {
  return write_outbox(log_, [&](TableWriter& t) -> Result<void> {
    auto stored = t.get(kDead, id);
    auto d = stored ? detail::decode<Delivery>(*stored) : std::nullopt;
    if (!d) return fail(errc::kNotFound, "no dead delivery " + id);
    t.erase(kDead, id);
    d->attempts = 0;
    d->next_attempt_at = now;
    const std::string key = pending_key(*d);
    t.put(kPending, key, detail::encode(*d));
    t.put(kIds, id, key);
    bump_pending(t, +1);
    return {};
  });
}

}  // namespace portico::projections
