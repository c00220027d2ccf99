// The ticket aggregate: every rule of PRODUCT.md's "Tickets" and "Who may see what".
//
// One stream per ticket ("ticket:{project}:{number}", see docs/events.md for why). The file reads
// in the Decider order: events, state, evolve and fold, commands, context, decide, queries.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/persistent.hpp>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace portico::domain::ticket {

// ---- Events (the persisted schema: change with care, upcast old versions) ----
// Every event carries `at`, the time of the decision that produced it. Each names itself:
// `kType` is the type stored in the log (never renamed, never reused) and `kVersion` the schema
// version its records are stamped with (docs/events.md, "Changing an event").

struct TicketOpened {
  static constexpr std::string_view kType = "TicketOpened";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string project;
  std::uint64_t number = 0;
  std::string creator;       // customer id
  std::string organization;  // the creator's organisation in the project ("" for none)
  std::string subject;
  std::string message_id;
  std::string body;
  std::string priority;
  std::string team;
  std::optional<std::string> purchase_id;
  std::optional<std::string> template_name;
  boost::json::object fields;
  std::vector<std::string> mentions;
};
struct MessagePosted {
  static constexpr std::string_view kType = "MessagePosted";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string message_id;
  Actor author;
  std::string body;
  bool internal = false;
  std::vector<std::string> mentions;  // customers notified, who can read the ticket
};
struct MessageEdited {
  static constexpr std::string_view kType = "MessageEdited";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string message_id;
  std::string body;
};
struct MessageDeleted {
  static constexpr std::string_view kType = "MessageDeleted";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string message_id;
};
struct ReactionAdded {
  static constexpr std::string_view kType = "ReactionAdded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string message_id;
  std::string emoji;
  Actor by;
};
struct ReactionRemoved {
  static constexpr std::string_view kType = "ReactionRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string message_id;
  std::string emoji;
  Actor by;
};
struct StatusChanged {
  static constexpr std::string_view kType = "StatusChanged";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Status from = Status::open;
  Status to = Status::open;
  Actor by;
};
// A move from resolved, pending_closure, closure_scheduled or closed back to an active status:
// the resolution ends.
struct TicketReopened {
  static constexpr std::string_view kType = "TicketReopened";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Status from = Status::resolved;
  Status to = Status::open;
  Actor by;
};
struct ClosureRequested {
  static constexpr std::string_view kType = "ClosureRequested";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Status from = Status::open;
  std::string by;  // customer id
};
struct ClosureScheduled {
  static constexpr std::string_view kType = "ClosureScheduled";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  TimeUs closes_at = 0;
  Status previous = Status::open;
  Actor by;
};
struct ClosureCancelled {
  static constexpr std::string_view kType = "ClosureCancelled";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Status restored = Status::open;
  Actor by;
};
struct TicketClosed {
  static constexpr std::string_view kType = "TicketClosed";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  Status from = Status::open;
  Actor by;
  std::string
      reason;  // "customer", "staff", "scheduled", "pending_closure_timeout", "resolved_timeout"
};
struct SurveyOffered {
  static constexpr std::string_view kType = "SurveyOffered";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string survey_id;
  std::string customer;  // the creator
  TimeUs expires_at = 0;
};
struct SurveyAnswered {
  static constexpr std::string_view kType = "SurveyAnswered";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string survey_id;
  int rating = 0;
  std::optional<std::string> option;
  std::optional<std::string> comment;
};
struct SurveyWithdrawn {
  static constexpr std::string_view kType = "SurveyWithdrawn";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string survey_id;
};
struct SurveyExpired {
  static constexpr std::string_view kType = "SurveyExpired";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string survey_id;
};
struct FavoriteAdded {
  static constexpr std::string_view kType = "FavoriteAdded";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string customer;
};
struct FavoriteRemoved {
  static constexpr std::string_view kType = "FavoriteRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string customer;
  std::string reason;  // "customer", "resolved", "closed", "lost_access"
};
struct InviteCreated {
  static constexpr std::string_view kType = "InviteCreated";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string invite_id;
  std::string token_hash;  // the token itself is never stored
  std::string by;          // customer id
};
struct InviteRevoked {
  static constexpr std::string_view kType = "InviteRevoked";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string invite_id;
  std::string by;
};
struct ParticipantJoined {
  static constexpr std::string_view kType = "ParticipantJoined";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string customer;
  std::string invite_id;
};
struct ParticipantLeft {
  static constexpr std::string_view kType = "ParticipantLeft";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string customer;
};
struct ParticipantRemoved {
  static constexpr std::string_view kType = "ParticipantRemoved";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::string customer;
  std::string by;
};
struct TicketUpdated {
  static constexpr std::string_view kType = "TicketUpdated";
  static constexpr std::uint32_t kVersion = 1;
  TimeUs at = 0;
  std::optional<std::string> priority;
  std::optional<std::string> team;
  Actor by;
};

BOOST_DESCRIBE_STRUCT(TicketOpened, (),
                      (at, project, number, creator, organization, subject, message_id, body,
                       priority, team, purchase_id, template_name, fields, mentions))
BOOST_DESCRIBE_STRUCT(MessagePosted, (), (at, message_id, author, body, internal, mentions))
BOOST_DESCRIBE_STRUCT(MessageEdited, (), (at, message_id, body))
BOOST_DESCRIBE_STRUCT(MessageDeleted, (), (at, message_id))
BOOST_DESCRIBE_STRUCT(ReactionAdded, (), (at, message_id, emoji, by))
BOOST_DESCRIBE_STRUCT(ReactionRemoved, (), (at, message_id, emoji, by))
BOOST_DESCRIBE_STRUCT(StatusChanged, (), (at, from, to, by))
BOOST_DESCRIBE_STRUCT(TicketReopened, (), (at, from, to, by))
BOOST_DESCRIBE_STRUCT(ClosureRequested, (), (at, from, by))
BOOST_DESCRIBE_STRUCT(ClosureScheduled, (), (at, closes_at, previous, by))
BOOST_DESCRIBE_STRUCT(ClosureCancelled, (), (at, restored, by))
BOOST_DESCRIBE_STRUCT(TicketClosed, (), (at, from, by, reason))
BOOST_DESCRIBE_STRUCT(SurveyOffered, (), (at, survey_id, customer, expires_at))
BOOST_DESCRIBE_STRUCT(SurveyAnswered, (), (at, survey_id, rating, option, comment))
BOOST_DESCRIBE_STRUCT(SurveyWithdrawn, (), (at, survey_id))
BOOST_DESCRIBE_STRUCT(SurveyExpired, (), (at, survey_id))
BOOST_DESCRIBE_STRUCT(FavoriteAdded, (), (at, customer))
BOOST_DESCRIBE_STRUCT(FavoriteRemoved, (), (at, customer, reason))
BOOST_DESCRIBE_STRUCT(InviteCreated, (), (at, invite_id, token_hash, by))
BOOST_DESCRIBE_STRUCT(InviteRevoked, (), (at, invite_id, by))
BOOST_DESCRIBE_STRUCT(ParticipantJoined, (), (at, customer, invite_id))
BOOST_DESCRIBE_STRUCT(ParticipantLeft, (), (at, customer))
BOOST_DESCRIBE_STRUCT(ParticipantRemoved, (), (at, customer, by))
BOOST_DESCRIBE_STRUCT(TicketUpdated, (), (at, priority, team, by))

using Event = std::variant<TicketOpened, MessagePosted, MessageEdited, MessageDeleted,
                           ReactionAdded, ReactionRemoved, StatusChanged, ClosureRequested,
                           ClosureScheduled, ClosureCancelled, TicketClosed, SurveyOffered,
                           SurveyAnswered, SurveyWithdrawn, SurveyExpired, FavoriteAdded,
                           FavoriteRemoved, InviteCreated, InviteRevoked, ParticipantJoined,
                           ParticipantLeft, ParticipantRemoved, TicketUpdated, TicketReopened>;

// The stable type name stored in the log ("TicketOpened", …): the event's kType.
std::string_view type_name(const Event& event) noexcept;
// The schema version a record of the event is stored with: the event's kVersion.
std::uint32_t schema_version(const Event& event) noexcept;
// Whether `type` names an event of this aggregate (a newer program may store others).
bool is_event_type(std::string_view type) noexcept;
boost::json::object to_payload(const Event& event);
// Rebuilds an event from its stored type name and payload; invalid_request when they do not fit.
Result<Event> from_payload(std::string_view type, boost::json::object payload);

// ---- State ----

struct Message {
  std::string id;
  Actor author;
  std::string body;
  TimeUs created_at = 0;
  std::optional<TimeUs> edited_at;
  bool deleted = false;
  bool internal = false;
  std::vector<std::string> history;  // earlier bodies, oldest first (staff see the edit history)
  std::map<std::string, std::set<std::string>> reactions;  // emoji -> "realm:id" of who reacted

  friend bool operator==(const Message&, const Message&) = default;
};

// A ticket's messages, oldest first, with an index by id. Persistent (portico/persistent.hpp):
// copying a thread costs O(1) whatever its length, and adding or changing one message
// O(log32 n), so a command's cost does not grow with the conversation.
class Thread {
 public:
  using const_iterator = PersistentVector<Message>::const_iterator;
  using const_reverse_iterator = PersistentVector<Message>::const_reverse_iterator;

  Thread() = default;
  Thread(std::initializer_list<Message> messages) {
    for (const Message& m : messages) push_back(m);
  }

  std::size_t size() const noexcept { return messages_.size(); }
  bool empty() const noexcept { return messages_.empty(); }
  const Message& operator[](std::size_t i) const { return messages_[i]; }
  const Message& front() const { return messages_.front(); }
  const Message& back() const { return messages_.back(); }
  const_iterator begin() const { return messages_.begin(); }
  const_iterator end() const { return messages_.end(); }
  const_reverse_iterator rbegin() const { return messages_.rbegin(); }
  const_reverse_iterator rend() const { return messages_.rend(); }

  // The message with this id (the first, should two share one), or null.
  const Message* find(std::string_view id) const;
  void push_back(Message message);
  // Applies `change` to a copy of the message with this id and keeps the copy; false when there
  // is none.
  template <class Change>
  bool update(std::string_view id, Change&& change) {
    const std::size_t* at = index_.find(id);
    if (!at) return false;
    Message changed = messages_[*at];
    std::forward<Change>(change)(changed);
    messages_.set(*at, std::move(changed));
    return true;
  }

  friend bool operator==(const Thread& a, const Thread& b) { return a.messages_ == b.messages_; }

 private:
  struct IdHash {
    std::size_t operator()(std::string_view id) const noexcept {
      return std::hash<std::string_view>{}(id);
    }
  };
  PersistentVector<Message> messages_;
  PersistentHashMap<std::string, std::size_t, IdHash> index_;  // id -> position
};

struct Invite {
  std::string id;
  std::string token_hash;
  std::string created_by;
  TimeUs created_at = 0;
  bool revoked = false;
  bool dead = false;  // the ticket was resolved or closed since: the link never works again

  friend bool operator==(const Invite&, const Invite&) = default;
};

enum class SurveyState { pending, answered, withdrawn, expired };

struct Survey {
  std::string id;
  std::string customer;
  TimeUs offered_at = 0;
  TimeUs expires_at = 0;
  SurveyState state = SurveyState::pending;
  int rating = 0;
  std::optional<std::string> option;
  std::optional<std::string> comment;

  friend bool operator==(const Survey&, const Survey&) = default;
};

struct Closure {
  std::optional<std::string> requested_by;  // pending_closure: the customer who asked
  std::optional<TimeUs> closes_at;          // closure_scheduled: when the system closes it
  Status previous = Status::open;           // closure_scheduled: restored on cancel

  friend bool operator==(const Closure&, const Closure&) = default;
};

struct State {
  bool exists = false;
  std::string project;
  std::uint64_t number = 0;
  std::string creator;
  std::string organization;
  std::string subject;
  Status status = Status::open;
  TimeUs status_since = 0;
  std::string priority;
  std::string team;
  std::optional<std::string> purchase_id;
  std::optional<std::string> template_name;
  boost::json::object fields;
  std::set<std::string> participants;  // the creator included, always
  Thread messages;
  std::optional<Closure> closure;
  std::uint32_t resolutions = 0;  // resolutions begun so far
  bool survey_offered_this_resolution = false;
  std::vector<Survey> surveys;      // every survey offered, newest last
  std::set<std::string> favorites;  // customers who marked it
  std::map<std::string, Invite> invites;
  TimeUs created_at = 0;
  TimeUs updated_at = 0;         // the last activity of any kind (what staff see)
  TimeUs public_updated_at = 0;  // the last activity customers can see (what they see)
  std::optional<TimeUs> first_staff_reply_at;
  std::optional<Realm> last_public_author;  // who spoke last in public: the queue's "waiting on"

  friend bool operator==(const State&, const State&) = default;
};

State evolve(State state, const Event& event);
// Whether the event is activity that moves the ticket up the lists (updated_at): everything but
// favorites, reactions and invite links.
bool is_activity(const Event& event) noexcept;
// Whether the event is activity that customers see (public_updated_at): activity, but not an
// internal note being posted, edited or deleted (`internal_note`: the event is about one), nor a
// staff edit of priority or team. So a customer cannot tell from their list when notes are written.
bool is_public_activity(const Event& event, bool internal_note) noexcept;
State fold(const std::vector<Event>& events, State state = {});

// ---- Commands ----

struct OpenTicket {
  std::uint64_t number = 0;  // the handler picks the next free number of the project
  std::string subject;
  std::string body;
  std::string message_id;
  // The customer's choice, only where the project lets them (Context::customer_priority):
  // elsewhere a given one is refused. Absent: "normal".
  std::optional<std::string> priority;
  std::optional<std::string> purchase_id;
  std::optional<std::string> template_name;
  boost::json::object fields;
};
struct PostReply {  // a customer's reply
  std::string message_id;
  std::string body;
};
struct PostStaffMessage {  // a staff reply or internal note, optionally setting the status
  std::string message_id;
  std::string body;
  bool internal = false;
  std::optional<Status> status;
};
struct EditMessage {
  std::string message_id;
  std::string body;
};
struct DeleteMessage {
  std::string message_id;
};
struct AddReaction {
  std::string message_id;
  std::string emoji;
};
struct RemoveReaction {
  std::string message_id;
  std::string emoji;
};
struct SetStatus {
  Status status = Status::open;
};
struct RequestClosure {};
struct ScheduleClosure {
  TimeUs closes_at = 0;
};
struct CancelScheduledClosure {};
struct CloseNow {};
// Issued by the scheduler: closes the ticket if a closure is due and expires a stale survey;
// otherwise does nothing, so it is safe to issue any number of times.
struct ApplyTimers {};
struct AnswerSurvey {
  int rating = 0;
  std::optional<std::string> option;
  std::optional<std::string> comment;
  bool via_token = false;  // from an e-mailed link: the token stands in for signing in
  std::optional<std::string> survey_id;  // with via_token: the survey the token names
};
struct AddFavorite {};
struct RemoveFavorite {};
struct CreateInvite {
  std::string invite_id;
  std::string token_hash;
};
struct RevokeInvite {
  std::string invite_id;
};
struct JoinByInvite {
  std::string token_hash;
};
struct RemoveParticipant {
  std::string customer;
};
struct LeaveTicket {};
struct UpdateTicket {
  std::optional<std::string> priority;
  std::optional<std::string> team;
};

using Command =
    std::variant<OpenTicket, PostReply, PostStaffMessage, EditMessage, DeleteMessage, AddReaction,
                 RemoveReaction, SetStatus, RequestClosure, ScheduleClosure, CancelScheduledClosure,
                 CloseNow, ApplyTimers, AnswerSurvey, AddFavorite, RemoveFavorite, CreateInvite,
                 RevokeInvite, JoinByInvite, RemoveParticipant, LeaveTicket, UpdateTicket>;

// ---- Context: what the decider may know beyond the ticket's own events ----

// A customer an @handle in a message may refer to.
struct MentionCandidate {
  std::string handle;
  std::string customer;
  bool is_member = false;
  std::string organization;
};

// What bounds one ticket (a deployment's settings, not a project's: they protect the server).
// A command past a count limit is refused with conflict, one past a size limit with
// invalid_request naming the field; staff and the system are not held to max_messages (they may
// always answer and close a ticket).
struct Limits {
  std::size_t max_messages = 1000;  // messages of a ticket before customers' replies are refused
  std::size_t max_edits = 50;       // edits of one message
  std::size_t max_reactions = 20;   // distinct emoji on one message
  std::size_t max_label = 100;      // characters of purchase_id and template
  std::size_t max_fields_bytes = 16 * 1024;  // `fields` as JSON
  std::size_t max_fields_members = 100;      // keys and array elements in `fields`, at any depth
  std::size_t max_fields_depth = 4;          // `fields` itself is depth 1

  friend bool operator==(const Limits&, const Limits&) = default;
};

struct Context {
  Actor actor;
  TimeUs now = 0;
  std::string command_id;  // ids of things the decider creates derive from it
  // The id of the message or invite link the command creates when the command names none: a
  // UUID the handler derives from command_id (a digest, so the same on every retry and telling
  // nothing about the command; the domain links no hash function).
  std::string new_id;
  Policies policies;    // the ticket's project's
  Limits limits;        // the deployment's
  std::string project;  // the ticket's project
  // Facts about the actor that the handler looked up:
  bool is_member = false;          // a customer who is a member of the project
  std::string organization;        // that customer's organisation in the project
  bool is_project_staff = false;   // a staff member of the project
  bool customer_priority = false;  // the project lets customers choose a priority (settings)
  std::vector<MentionCandidate> mention_candidates;
  // The ticket creator's organisation under the project's current settings (organisations may be
  // added or renamed after a ticket was opened). When unset, the one recorded at opening.
  std::optional<std::string> ticket_organization;
};

// The organisation a ticket belongs to for visibility: the creator's current one when known.
const std::string& ticket_organization(const State& state, const Context& ctx);

// How a customer relates to a ticket.
enum class Role { none, creator, participant, organization };

// ---- Decide ----

// The events that carry out `command`, or the domain error that refuses it (with an API.md
// code). A command that would change nothing returns no events, so a retry is harmless.
Result<std::vector<Event>> decide(const State& state, const Command& command, const Context& ctx);

// ---- Queries ----

// What a command's events created: the message it posted (OpenTicket, PostReply,
// PostStaffMessage) and the invite link it made (CreateInvite); "" when none.
struct Created {
  std::string message_id;
  std::string invite_id;
};
Created created_by(const std::vector<Event>& events);

// Who may see the ticket: staff of its project; a member customer who created it, participates,
// or (with organisation visibility) shares its organisation.
Role role_of(const State& state, const Context& ctx);
bool can_read(const State& state, const Context& ctx);
// The invite links that still work (not revoked, ticket not resolved or closed since), oldest
// first: what the creator is shown so that they can revoke them.
std::vector<const Invite*> active_invites(const State& state);
// The earliest time at which ApplyTimers would change something, if any.
std::optional<TimeUs> next_timer(const State& state, const Policies& policies);
// The pending survey of the current resolution, if any (and not expired at `now`).
const Survey* pending_survey(const State& state, TimeUs now);
// Whether `actor` has reacted to `message` with `emoji` (what the portal shows as "mine").
bool reacted(const Message& message, const Actor& actor, std::string_view emoji);
// At most this many distinct @handles of a message are looked up and notified (the first ones).
inline constexpr std::size_t kMaxMentions = 20;
// "@handle" words in a message (letters, digits, '_', '-', '.'), without the '@', lower-cased,
// deduplicated, only those that are valid handles, at most kMaxMentions of them. Linear in the
// length of the body.
std::vector<std::string> extract_mentions(std::string_view body);
// A ticket named by its project and its number, as its stream is.
struct TicketRef {
  std::string project;
  std::uint64_t number = 0;

  friend bool operator==(const TicketRef&, const TicketRef&) = default;
};
// Every ticket stream, and no other, begins with this.
inline constexpr std::string_view kStreamPrefix = "ticket:";
// The stream a ticket's events are stored in: "ticket:{project}:{number}".
std::string stream_id(std::string_view project, std::uint64_t number);
// The inverse of stream_id, strict: kStreamPrefix, a valid project slug (project::valid_slug),
// ':', then a number of 1 to 2^64-1 in decimal digits alone (no sign, no leading zero, nothing
// after it). So a stream parses exactly when stream_id would have made it; nullopt otherwise.
std::optional<TicketRef> parse_stream_id(std::string_view stream);

}  // namespace portico::domain::ticket
