// portico::projections::Views — the portal's read models, kept inline with the log.
//
// One inline projection ("views", docs/projections.md) turns ticket, project, customer and inbox
// events into tables laid out for the questions the portal asks: a customer's tickets by scope
// and status, newest activity first; the overview; favorites; the notification bell; the staff
// queue by status, team and priority. It is updated in the transaction that appends the events,
// so a caller sees the effect of its own command on its next read, and it is rebuilt from the log
// alone, byte for byte (Log::rebuild_projections, Log::check_projections).
//
// Lists are pages of at most 100 items with an opaque cursor. Every list is one or a few key
// ranges sorted by (activity time descending, number): a page seeks to the cursor and reads on,
// so its cost does not grow with the number of tickets, and tickets created during a walk (they
// sort before the cursor) never make an existing ticket appear twice or be skipped. A ticket with
// new activity moves to the top, as in every "newest activity first" feed.
//
// Thread safety: Views is immutable after construction; call it from any number of threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/log/log.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::projections {

namespace domain = portico::domain;

inline constexpr std::size_t kDefaultLimit = 20;
inline constexpr std::size_t kMaxLimit = 100;

struct TicketSummary {
  std::string project;
  std::uint64_t number = 0;
  std::string subject;
  domain::Status status = domain::Status::open;
  std::string priority;
  std::string team;
  domain::TimeUs created_at = 0;
  domain::TimeUs updated_at = 0;
  std::string creator;                    // customer id
  std::vector<std::string> participants;  // the creator included
  // Who the ticket waits on: the realm of the last public message ("the staff queue shows the
  // ticket as waiting on staff" after a customer reply, whatever the status).
  domain::Realm waiting_on = domain::Realm::staff;
  // For the customer who asked (customer lists only):
  bool favorite = false;
  domain::ticket::Role role = domain::ticket::Role::none;

  friend bool operator==(const TicketSummary&, const TicketSummary&) = default;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;  // absent on the last page
};

// Which of a customer's tickets a list shows: all they can read (the default), those they
// created, those they were invited into, or every ticket of their organisation (only when the
// project enables organisation visibility; otherwise that list is empty).
enum class Scope { all, mine, participating, organization };
std::optional<Scope> parse_scope(std::string_view text) noexcept;

struct ListQuery {
  Scope scope = Scope::all;
  std::vector<domain::Status> statuses;  // empty: every status
  // Case-insensitive text in the subject, or "#12"/"12" for a number. A search page reads at
  // most kSearchBudget candidates; when it runs out it answers what it found (perhaps nothing)
  // with a cursor to go on from.
  std::string q;
  std::size_t limit = kDefaultLimit;
  std::string cursor;
};
inline constexpr std::size_t kSearchBudget = 2000;

struct QueueQuery {
  std::vector<domain::Status> statuses;  // each filter: empty means any
  std::vector<std::string> teams;        // "" stands for "no team"
  std::vector<std::string> priorities;
  std::size_t limit = kDefaultLimit;
  std::string cursor;
};

struct Overview {
  std::uint64_t active = 0;  // in the five active statuses
  std::map<domain::Status, std::uint64_t> by_status;
  std::vector<TicketSummary> recent;  // the first five of the default list
};

enum class NotificationKind { mention, survey, staff_reply };
std::string_view to_string(NotificationKind kind) noexcept;

struct Notification {
  std::uint64_t id = 0;  // the log position of the event that raised it
  NotificationKind kind = NotificationKind::mention;
  std::string project;
  std::uint64_t ticket = 0;
  std::string subject;
  std::string preview;  // the message's first 140 characters, or what the survey is about
  domain::TimeUs created_at = 0;
  bool read = false;

  friend bool operator==(const Notification&, const Notification&) = default;
};

struct NotificationPage {
  std::vector<Notification> items;  // newest first
  std::uint64_t unread = 0;         // across every project, whatever the page shows
  std::optional<std::string> next_cursor;
};

class Views {
 public:
  static constexpr std::string_view kName = "views";
  // The projection to register in log::Options::projections (inline) of every process that
  // appends to the log.
  static std::shared_ptr<log::Projection> projection();

  // `log` must outlive the Views and have the projection registered.
  explicit Views(const log::Log& log) : log_(log) {}

  // A customer's tickets in a project. Not a member (never, or left): an empty list; signing in
  // again brings them back. Errors: invalid_request (limit, cursor; `field` names it),
  // unavailable (storage).
  Result<Page<TicketSummary>> customer_tickets(const std::string& customer,
                                               const std::string& project,
                                               const ListQuery& query) const;
  Result<Overview> overview(const std::string& customer, const std::string& project) const;
  // Newest marked first; only tickets the customer can still read.
  Result<Page<TicketSummary>> favorites(const std::string& customer, const std::string& project,
                                        std::size_t limit = kDefaultLimit,
                                        const std::string& cursor = {}) const;
  // Every ticket of the project matching the filters, newest activity first (staff only: the
  // caller checks who asks).
  Result<Page<TicketSummary>> staff_queue(const std::string& project,
                                          const QueueQuery& query) const;
  Result<NotificationPage> notifications(const std::string& customer, bool unread_only = false,
                                         std::size_t limit = kDefaultLimit,
                                         const std::string& cursor = {}) const;
  // One notification of the customer's, if it exists (an API answers 404 otherwise).
  Result<std::optional<Notification>> notification(const std::string& customer,
                                                   std::uint64_t id) const;
  // The newest notification id of the customer (what "mark all read" covers), 0 for none.
  Result<std::uint64_t> newest_notification(const std::string& customer) const;
  // The ticket an invite link belongs to, by the hash of its token (whether the link still works
  // is the ticket's business: Portal::ticket(...)->invites).
  struct InviteRef {
    std::string project;
    std::uint64_t number = 0;
    std::string invite_id;
  };
  Result<std::optional<InviteRef>> invite(const std::string& token_hash) const;
  // A ticket's summary as staff see it, if the ticket exists.
  Result<std::optional<TicketSummary>> summary(const std::string& project,
                                               std::uint64_t number) const;
  // The slug of every project, in order.
  Result<std::vector<std::string>> projects() const;
  // The log position the views reflect.
  Result<std::uint64_t> position() const;

 private:
  const log::Log& log_;
};

}  // namespace portico::projections
