// portico::service::Portal — the command handler: load → fold → decide → append.
//
// Each call loads the streams a decision needs, folds them, asks the pure decider in core/domain,
// and appends the events with the expected version it loaded; when another writer got there
// first it reloads and decides again (a bounded number of times): one loop for every command
// (detail::decide, core/service/src/store.hpp). Commands on one ticket take turns, and a turn
// decides and appends together every command that queued for it (docs/domain.md). A command
// carries an id: its events, and the ids of the message or invite link it creates, derive from
// it, so a retried command acts once and answers as the first time did (CommandMeta).
// Thread-safe: any number of threads may call a Portal at once.
#pragma once

#include <functional>
#include <memory>
#include <portico/clock.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/inbox.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/log/log.hpp>
#include <string>
#include <vector>

namespace portico::service {

namespace domain = portico::domain;
class Portal;
namespace detail {
struct Caches;
// The Portal's folded-state cache, which the Accounts built on it share (store.hpp).
Caches& caches_of(const Portal& portal);
}  // namespace detail

// Who acts, with what idempotency key, in which request.
struct CommandMeta {
  domain::Actor actor;
  // Commands with the same id act once; the second answers like the first. Empty: a fresh id.
  // Ids are global: scope a client-chosen key to its caller (e.g. "customer:c-42:<key>"), as
  // API.md's Idempotency-Key is ("the same key from another caller is unrelated").
  std::string command_id;
  log::Uuid correlation_id;
};

struct TicketOutcome {
  // After the command. Shared, never modified: copying an outcome does not copy the ticket.
  std::shared_ptr<const domain::ticket::State> state;
  std::vector<domain::ticket::Event> events;  // what it recorded (none when nothing changed)
  std::uint64_t version = 0;                  // the ticket stream's version after it
  bool replayed = false;  // the command id had acted before: `events` are that first time's
  // What the adapter answers with, so that it neither searches the events nor judges again:
  domain::ticket::Created created;  // the message or invite link the command made (first time's)
  // The caller's standing on the ticket after the command, under the project's current settings.
  domain::ticket::Role role = domain::ticket::Role::none;
  bool can_read = false;  // false: e.g. a customer who just left (answer without the ticket)
};

struct Options {
  // Microseconds since the Unix epoch; the system clock when empty. The Accounts and the
  // Scheduler built on this Portal use it too unless given their own.
  Clock clock;
  // Decisions retried after a concurrent write (with a short jittered pause) before answering
  // conflict.
  int max_attempts = 16;
  // Numbers tried for a new ticket before answering conflict. Only another Portal on the same
  // log (another process) takes a number first, and each loss means that one opened a ticket, but
  // a starved thread can lose many times in a row to a writer whose reservations run ahead of
  // what the log shows (16 were seen to run out with two portals under load).
  int max_number_attempts = 256;
  // What bounds a ticket (message count, edits, reactions, the sizes of what it carries).
  domain::ticket::Limits ticket_limits;
  // Folded ticket states kept in memory, least recently used out first: a command on a ticket
  // in the cache reads only the events after its cached state.
  std::size_t cached_tickets = 16384;
};

class Portal {
 public:
  // `log` must outlive the Portal.
  explicit Portal(log::Log& log, Options options = {});
  ~Portal();
  Portal(const Portal&) = delete;
  Portal& operator=(const Portal&) = delete;

  // The time commands are decided at (Options::clock): what adapters judge "now" by too, so a
  // survey a command would call expired is expired on every page.
  domain::TimeUs now() const;
  // The ticket limits commands are decided under from now on (Options::ticket_limits at first);
  // the HTTP adapter sets its AppOptions' ones. Safe to call while commands run.
  void set_ticket_limits(const domain::ticket::Limits& limits);
  domain::ticket::Limits ticket_limits() const;

  // ---- Projects (the operator, portico-admin) ----
  Result<domain::project::State> create_project(const std::string& slug,
                                                const domain::project::Settings& settings,
                                                const CommandMeta& meta);
  Result<domain::project::State> configure_project(const std::string& slug,
                                                   const domain::project::Settings& settings,
                                                   const CommandMeta& meta);
  Result<domain::project::State> add_staff(const std::string& slug,
                                           const domain::project::AddStaff& staff,
                                           const CommandMeta& meta);
  // Any project command (staff, teams, settings). Settings that add a host name claim it for the
  // project in the same append (conflict, field "hosts", when another project holds it).
  Result<domain::project::State> change_project(const std::string& slug,
                                                const domain::project::Command& command,
                                                const CommandMeta& meta);
  // The project whose portal a host name serves, if any.
  Result<std::optional<std::string>> project_for_host(const std::string& host) const;

  // ---- Customers ----
  // Registers a customer identity and claims its @handle (unique across the server).
  Result<domain::customer::State> register_customer(const domain::customer::Register& command,
                                                    const CommandMeta& meta);
  // Signing in on a project's portal makes the customer a member (allowed domains apply).
  Result<domain::customer::State> join_project(const std::string& customer_id,
                                               const std::string& slug, const CommandMeta& meta);
  Result<domain::customer::State> leave_project(const std::string& customer_id,
                                                const std::string& slug, const CommandMeta& meta);
  // The customer's language ("" for automatic). Errors: invalid_request "language", not_found.
  Result<domain::customer::State> choose_language(const std::string& customer_id,
                                                  std::string language, const CommandMeta& meta);

  // ---- Tickets ----
  // Opens a ticket under the project's next free number (the command's number is ignored).
  Result<TicketOutcome> open_ticket(const std::string& slug, domain::ticket::OpenTicket command,
                                    const CommandMeta& meta);
  // Any other ticket command. Joining through an invite also makes the customer a member of the
  // project, in the same atomic append.
  Result<TicketOutcome> execute(const std::string& slug, std::uint64_t number,
                                const domain::ticket::Command& command, const CommandMeta& meta);

  // ---- Notifications (the bell) ----
  // Records that the customer read some notifications, or all up to one. Which exist is the
  // projections' business (portico::projections::Views); reading one twice changes nothing.
  Result<void> read_notifications(const std::string& customer_id,
                                  const domain::inbox::Command& command, const CommandMeta& meta);

  // ---- Reads (current state, folded from the log) ----
  Result<domain::project::State> project(const std::string& slug) const;
  Result<domain::customer::State> customer(const std::string& customer_id) const;
  // Shared with the cache and never modified: reading a large ticket copies nothing.
  Result<std::shared_ptr<const domain::ticket::State>> ticket(const std::string& slug,
                                                              std::uint64_t number) const;
  // The customer holding `handle`, if any.
  Result<std::optional<std::string>> customer_by_handle(const std::string& handle) const;
  // What a ticket command by `actor` may know: the project's policies, the actor's membership,
  // organisation and staff standing, and candidates for the @mentions in `body`.
  Result<domain::ticket::Context> ticket_context(const std::string& slug,
                                                 const domain::Actor& actor,
                                                 std::string_view body) const;
  // What `actor` may know when reading `ticket` (role_of, can_read): ticket_context with the
  // ticket's organisation under the project's current organisations — the judgement execute()
  // makes, so that reads and commands agree after organisations are renamed or reassigned.
  Result<domain::ticket::Context> reading_context(const std::string& slug,
                                                  const domain::ticket::State& ticket,
                                                  const domain::Actor& actor) const;

  log::Log& event_log() const;

 private:
  Result<domain::ticket::Context> ticket_context(const domain::project::State& project,
                                                 const domain::Actor& actor,
                                                 std::string_view body) const;
  // The customers the @handles of `body` name (at most domain::ticket::kMaxMentions lookups).
  Result<std::vector<domain::ticket::MentionCandidate>> mention_candidates(
      const domain::project::State& project, std::string_view body) const;
  Result<std::string> creator_organization(const domain::project::State& project,
                                           const std::string& creator) const;

  struct Impl;  // the log, the options, the caches, ticket numbers and the tickets' turns
  std::unique_ptr<Impl> impl_;
  friend detail::Caches& detail::caches_of(const Portal& portal);
};

// A ticket command's time-independent idempotency: the event ids a command id stands for.
log::Uuid event_id(std::string_view command_id, std::size_t index);

}  // namespace portico::service
