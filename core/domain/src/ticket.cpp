#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/utf8.hpp>
#include <unordered_set>

#include "payload.hpp"

namespace portico::domain::ticket {
namespace {

using detail::Overloaded;
using Codec = detail::EventCodec<Event>;

constexpr std::array<std::string_view, 4> kPriorities = {"low", "normal", "high", "urgent"};
constexpr std::size_t kMaxComment = 2000;
constexpr std::size_t kMaxEmojiBytes = 64;
constexpr std::size_t kMaxTeam = 100;

std::string reactor_key(const Actor& a) { return std::string(to_string(a.realm)) + ":" + a.id; }

const Message* find_message(const State& s, std::string_view id) { return s.messages.find(id); }

Survey* find_survey(State& s, std::string_view id) {
  for (auto& v : s.surveys) {
    if (v.id == id) return &v;
  }
  return nullptr;
}

// Status bookkeeping shared by every event that moves the ticket.
void enter_status(State& s, Status to, TimeUs at) {
  const Status from = s.status;
  if (is_active(from) && !is_active(to)) {
    ++s.resolutions;  // a resolution begins
    s.survey_offered_this_resolution = false;
  }
  if (to == Status::resolved || to == Status::closed) {
    for (auto& [id, invite] : s.invites) invite.dead = true;
  }
  if (to != Status::pending_closure && to != Status::closure_scheduled) {
    s.closure.reset();
  } else if (to == Status::pending_closure && s.closure) {
    s.closure->closes_at.reset();
  }
  s.status = to;
  s.status_since = at;
}

}  // namespace

// ---- Payloads ----

std::string_view type_name(const Event& event) noexcept { return Codec::type_name(event); }
std::uint32_t schema_version(const Event& event) noexcept { return Codec::schema_version(event); }
bool is_event_type(std::string_view type) noexcept { return Codec::is_event_type(type); }

boost::json::object to_payload(const Event& event) { return detail::to_payload(event); }

Result<Event> from_payload(std::string_view type, boost::json::object payload) {
  return Codec::from_payload(type, std::move(payload));
}

// ---- Thread ----

const Message* Thread::find(std::string_view id) const {
  const std::size_t* at = index_.find(id);
  return at ? &messages_[*at] : nullptr;
}

void Thread::push_back(Message message) {
  if (!index_.find(message.id)) index_.set(message.id, messages_.size());
  messages_.push_back(std::move(message));
}

// ---- Evolve ----

State evolve(State s, const Event& event) {
  // Whether the event is about an internal note, judged before the event changes anything.
  bool internal_note = false;
  if (const auto* posted = std::get_if<MessagePosted>(&event)) internal_note = posted->internal;
  if (const auto* edited = std::get_if<MessageEdited>(&event)) {
    const Message* m = find_message(s, edited->message_id);
    internal_note = m != nullptr && m->internal;
  }
  if (const auto* deleted = std::get_if<MessageDeleted>(&event)) {
    const Message* m = find_message(s, deleted->message_id);
    internal_note = m != nullptr && m->internal;
  }
  std::visit(Overloaded{
                 [&](const TicketOpened& e) {
                   s.exists = true;
                   s.project = e.project;
                   s.number = e.number;
                   s.creator = e.creator;
                   s.organization = e.organization;
                   s.subject = e.subject;
                   s.status = Status::open;
                   s.status_since = e.at;
                   s.priority = e.priority;
                   s.team = e.team;
                   s.purchase_id = e.purchase_id;
                   s.template_name = e.template_name;
                   s.fields = e.fields;
                   s.participants = {e.creator};
                   s.messages.push_back({e.message_id,
                                         {Realm::customer, e.creator},
                                         e.body,
                                         e.at,
                                         {},
                                         false,
                                         false,
                                         {},
                                         {}});
                   s.created_at = e.at;
                   s.last_public_author = Realm::customer;
                 },
                 [&](const MessagePosted& e) {
                   s.messages.push_back(
                       {e.message_id, e.author, e.body, e.at, {}, false, e.internal, {}, {}});
                   if (!e.internal && e.author.realm != Realm::system) {
                     s.last_public_author = e.author.realm;
                     if (e.author.realm == Realm::staff && !s.first_staff_reply_at) {
                       s.first_staff_reply_at = e.at;
                     }
                   }
                 },
                 [&](const MessageEdited& e) {
                   s.messages.update(e.message_id, [&](Message& m) {
                     m.history.push_back(std::move(m.body));
                     m.body = e.body;
                     m.edited_at = e.at;
                   });
                 },
                 [&](const MessageDeleted& e) {
                   s.messages.update(e.message_id, [&](Message& m) {
                     m.history.push_back(std::move(m.body));  // the text stays in the history
                     m.body.clear();
                     m.deleted = true;
                     m.reactions.clear();
                   });
                 },
                 [&](const ReactionAdded& e) {
                   s.messages.update(e.message_id, [&](Message& m) {
                     m.reactions[e.emoji].insert(reactor_key(e.by));
                   });
                 },
                 [&](const ReactionRemoved& e) {
                   s.messages.update(e.message_id, [&](Message& m) {
                     auto it = m.reactions.find(e.emoji);
                     if (it != m.reactions.end()) {
                       it->second.erase(reactor_key(e.by));
                       if (it->second.empty()) m.reactions.erase(it);
                     }
                   });
                 },
                 [&](const StatusChanged& e) { enter_status(s, e.to, e.at); },
                 [&](const TicketReopened& e) { enter_status(s, e.to, e.at); },
                 [&](const ClosureRequested& e) {
                   enter_status(s, Status::pending_closure, e.at);
                   s.closure = Closure{e.by, std::nullopt, e.from};
                 },
                 [&](const ClosureScheduled& e) {
                   std::optional<std::string> requested_by =
                       s.closure ? s.closure->requested_by : std::nullopt;
                   enter_status(s, Status::closure_scheduled, e.at);
                   s.closure = Closure{std::move(requested_by), e.closes_at, e.previous};
                 },
                 [&](const ClosureCancelled& e) { enter_status(s, e.restored, e.at); },
                 [&](const TicketClosed& e) { enter_status(s, Status::closed, e.at); },
                 [&](const SurveyOffered& e) {
                   s.surveys.push_back({e.survey_id, e.customer, e.at, e.expires_at,
                                        SurveyState::pending, 0, std::nullopt, std::nullopt});
                   s.survey_offered_this_resolution = true;
                 },
                 [&](const SurveyAnswered& e) {
                   if (Survey* v = find_survey(s, e.survey_id)) {
                     v->state = SurveyState::answered;
                     v->rating = e.rating;
                     v->option = e.option;
                     v->comment = e.comment;
                   }
                 },
                 [&](const SurveyWithdrawn& e) {
                   if (Survey* v = find_survey(s, e.survey_id)) v->state = SurveyState::withdrawn;
                 },
                 [&](const SurveyExpired& e) {
                   if (Survey* v = find_survey(s, e.survey_id)) v->state = SurveyState::expired;
                 },
                 [&](const FavoriteAdded& e) { s.favorites.insert(e.customer); },
                 [&](const FavoriteRemoved& e) { s.favorites.erase(e.customer); },
                 [&](const InviteCreated& e) {
                   s.invites[e.invite_id] = {e.invite_id, e.token_hash, e.by, e.at, false, false};
                 },
                 [&](const InviteRevoked& e) {
                   if (auto it = s.invites.find(e.invite_id); it != s.invites.end()) {
                     it->second.revoked = true;
                   }
                 },
                 [&](const ParticipantJoined& e) { s.participants.insert(e.customer); },
                 [&](const ParticipantLeft& e) { s.participants.erase(e.customer); },
                 [&](const ParticipantRemoved& e) { s.participants.erase(e.customer); },
                 [&](const TicketUpdated& e) {
                   if (e.priority) s.priority = *e.priority;
                   if (e.team) s.team = *e.team;
                 },
             },
             event);
  const TimeUs at = std::visit([](const auto& e) { return e.at; }, event);
  if (is_activity(event)) s.updated_at = at;
  if (is_public_activity(event, internal_note)) s.public_updated_at = at;
  return s;
}

bool is_activity(const Event& event) noexcept {
  return !std::holds_alternative<FavoriteAdded>(event) &&
         !std::holds_alternative<FavoriteRemoved>(event) &&
         !std::holds_alternative<ReactionAdded>(event) &&
         !std::holds_alternative<ReactionRemoved>(event) &&
         !std::holds_alternative<InviteCreated>(event) &&
         !std::holds_alternative<InviteRevoked>(event);
}

bool is_public_activity(const Event& event, bool internal_note) noexcept {
  return is_activity(event) && !internal_note && !std::holds_alternative<TicketUpdated>(event);
}

State fold(const std::vector<Event>& events, State state) {
  for (const Event& e : events) state = evolve(std::move(state), e);
  return state;
}

// ---- Queries ----

const std::string& ticket_organization(const State& s, const Context& ctx) {
  return ctx.ticket_organization ? *ctx.ticket_organization : s.organization;
}

Role role_of(const State& s, const Context& ctx) {
  if (ctx.actor.realm != Realm::customer || !ctx.is_member || !s.exists ||
      ctx.project != s.project) {
    return Role::none;
  }
  if (s.creator == ctx.actor.id) return Role::creator;
  if (s.participants.contains(ctx.actor.id)) return Role::participant;
  if (ctx.policies.organization_visibility && !ctx.organization.empty() &&
      ctx.organization == ticket_organization(s, ctx)) {
    return Role::organization;
  }
  return Role::none;
}

bool can_read(const State& s, const Context& ctx) {
  switch (ctx.actor.realm) {
    case Realm::staff:
      return s.exists && ctx.is_project_staff && ctx.project == s.project;
    case Realm::customer:
      return role_of(s, ctx) != Role::none;
    case Realm::system:
      return s.exists;
  }
  return false;
}

std::vector<const Invite*> active_invites(const State& s) {
  std::vector<const Invite*> out;
  for (const auto& [id, invite] : s.invites) {
    if (!invite.revoked && !invite.dead) out.push_back(&invite);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Invite* a, const Invite* b) { return a->created_at < b->created_at; });
  return out;
}

const Survey* pending_survey(const State& s, TimeUs now) {
  if (s.surveys.empty()) return nullptr;
  const Survey& last = s.surveys.back();
  if (last.state != SurveyState::pending || now >= last.expires_at) return nullptr;
  return &last;
}

bool reacted(const Message& m, const Actor& actor, std::string_view emoji) {
  const auto it = m.reactions.find(std::string(emoji));
  return it != m.reactions.end() && it->second.contains(reactor_key(actor));
}

std::optional<TimeUs> next_timer(const State& s, const Policies& p) {
  std::optional<TimeUs> next;
  auto consider = [&](TimeUs t) { next = next ? std::min(*next, t) : t; };
  if (!s.exists) return next;
  if (s.status == Status::pending_closure && p.pending_closure_timeout > 0) {
    consider(s.status_since + p.pending_closure_timeout);
  }
  if (s.status == Status::resolved && p.resolved_timeout > 0) {
    consider(s.status_since + p.resolved_timeout);
  }
  if (s.status == Status::closure_scheduled && s.closure && s.closure->closes_at) {
    consider(*s.closure->closes_at);
  }
  if (!s.surveys.empty() && s.surveys.back().state == SurveyState::pending) {
    consider(s.surveys.back().expires_at);
  }
  return next;
}

std::vector<std::string> extract_mentions(std::string_view body) {
  std::vector<std::string> out;
  // A set beside the list: one pass over the body, whatever it holds (a vector search per
  // handle made a body of many distinct handles quadratic).
  std::unordered_set<std::string> seen;
  auto handle_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  };
  for (std::size_t i = 0; i < body.size() && out.size() < kMaxMentions; ++i) {
    if (body[i] != '@') continue;
    // "@" starts a mention only at the start or after something that is not part of a word
    // (so "support@example.com" mentions nobody).
    if (i > 0 && handle_char(body[i - 1])) continue;
    std::size_t end = i + 1;
    while (end < body.size() && handle_char(body[end])) ++end;
    std::string handle(body.substr(i + 1, end - i - 1));
    for (char& ch : handle) {  // handles are lower-case; "@Cat" names @cat
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    while (!handle.empty() && handle.back() == '.') handle.pop_back();  // sentence end
    // Only what could be someone's handle costs the handler a lookup.
    if (customer::valid_handle(handle) && seen.insert(handle).second) {
      out.push_back(std::move(handle));
    }
    i = end - 1;
  }
  return out;
}

std::string stream_id(std::string_view project, std::uint64_t number) {
  return std::string(kStreamPrefix) + std::string(project) + ":" + std::to_string(number);
}

std::optional<TicketRef> parse_stream_id(std::string_view stream) {
  if (!stream.starts_with(kStreamPrefix)) return std::nullopt;
  stream.remove_prefix(kStreamPrefix.size());
  const auto colon = stream.find(':');  // a slug holds none
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view project = stream.substr(0, colon);
  const std::string_view digits = stream.substr(colon + 1);
  if (!project::valid_slug(project)) return std::nullopt;
  // A leading zero (and so the number 0) is a spelling stream_id never makes.
  if (digits.empty() || digits.front() == '0') return std::nullopt;
  // For an unsigned type from_chars takes digits only (no sign, no space); it stops at "abc" in
  // "12abc" and reports a number past 2^64-1 as out of range.
  std::uint64_t number = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return TicketRef{std::string(project), number};
}

// ---- Decide ----

namespace {

using Events = std::vector<Event>;

std::string format_time(TimeUs us) {
  using namespace std::chrono;
  const sys_time<microseconds> t{microseconds{us}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(t) - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld UTC", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()));
  return buf;
}

// Text of 1 to `max` characters; a subject is measured (and stored) without surrounding space.
Result<void> check_text(std::string_view text, std::size_t max, const char* field,
                        bool trimmed = false) {
  const auto length = utf8_length(trimmed ? trim(text) : text);
  if (!length)
    return fail(errc::kInvalidRequest, std::string(field) + " is not valid UTF-8", field);
  if (trim(text).empty())
    return fail(errc::kInvalidRequest, std::string(field) + " is empty", field);
  if (*length > max) {
    return fail(errc::kInvalidRequest,
                std::string(field) + " is longer than " + std::to_string(max) + " characters",
                field);
  }
  return {};
}

// A purchase id or a template key: 1 to max_label characters of text without control characters.
Result<void> check_label(const std::optional<std::string>& label, std::size_t max,
                         const char* field) {
  if (!label) return {};
  const auto length = utf8_length(*label);
  if (!length || *length == 0 || *length > max || !utf8::valid_printable(*label)) {
    return fail(errc::kInvalidRequest,
                std::string(field) + " is 1 to " + std::to_string(max) +
                    " characters without control characters",
                field);
  }
  return {};
}

// Counts what `v` holds (keys and elements, at any depth) and how deep it goes; stops early once
// past `max_members` or `max_depth`, so that a huge value costs no more than the limit.
bool within(const boost::json::value& v, std::size_t depth, const Limits& l, std::size_t& members) {
  if (v.is_object() || v.is_array()) {
    if (depth > l.max_fields_depth) return false;
    if (v.is_object()) {
      for (const auto& kv : v.get_object()) {
        if (++members > l.max_fields_members || !within(kv.value(), depth + 1, l, members)) {
          return false;
        }
      }
    } else {
      for (const auto& e : v.get_array()) {
        if (++members > l.max_fields_members || !within(e, depth + 1, l, members)) return false;
      }
    }
  }
  return true;
}

Result<void> check_fields(const boost::json::object& fields, const Limits& l) {
  std::size_t members = 0;
  if (!within(boost::json::value(fields), 1, l, members) ||
      boost::json::serialize(fields).size() > l.max_fields_bytes) {
    return fail(errc::kInvalidRequest,
                "fields holds at most " + std::to_string(l.max_fields_members) + " values, " +
                    std::to_string(l.max_fields_depth) + " levels deep, " +
                    std::to_string(l.max_fields_bytes) + " bytes as JSON",
                "fields");
  }
  return {};
}

Result<void> check_priority(const std::string& priority) {
  if (std::find(kPriorities.begin(), kPriorities.end(), priority) == kPriorities.end()) {
    return fail(errc::kInvalidRequest, "priority must be low, normal, high or urgent", "priority");
  }
  return {};
}

// Mentions in a public message: candidates named by @handle who can read the ticket.
std::vector<std::string> resolve_mentions(const State& s, std::string_view body, const Context& ctx,
                                          std::string_view creator, std::string_view organization) {
  std::vector<std::string> out;
  const auto handles = extract_mentions(body);
  if (handles.empty()) return out;
  for (const MentionCandidate& c : ctx.mention_candidates) {
    if (std::find(handles.begin(), handles.end(), c.handle) == handles.end()) continue;
    if (ctx.actor.realm == Realm::customer && c.customer == ctx.actor.id) continue;
    const bool reads =
        c.is_member && (c.customer == creator || s.participants.contains(c.customer) ||
                        (ctx.policies.organization_visibility && !c.organization.empty() &&
                         c.organization == organization));
    if (reads && std::find(out.begin(), out.end(), c.customer) == out.end()) {
      out.push_back(c.customer);
    }
  }
  return out;
}

// The consequences of moving from `from` to `to`, appended after the event that moves it:
// a survey when a resolution begins, its withdrawal on reopening, favorites dropped on
// resolved/closed.
void consequences(const State& s, Status from, Status to, const Context& ctx, Events& out) {
  const bool begins = is_active(from) && !is_active(to);
  const bool offered = begins ? false : s.survey_offered_this_resolution;
  if (!is_active(to) && !offered && ctx.policies.surveys) {
    out.push_back(SurveyOffered{ctx.now, ctx.command_id + "/survey", s.creator,
                                ctx.now + ctx.policies.survey_expiry});
  }
  if (!is_active(from) && is_active(to) && !s.surveys.empty() &&
      s.surveys.back().state == SurveyState::pending) {
    // Reopened before it was answered: withdrawn, or expired if its week has already passed.
    const Survey& v = s.surveys.back();
    if (ctx.now < v.expires_at) {
      out.push_back(SurveyWithdrawn{ctx.now, v.id});
    } else {
      out.push_back(SurveyExpired{ctx.now, v.id});
    }
  }
  if (to == Status::resolved || to == Status::closed) {
    for (const auto& customer : s.favorites) {
      out.push_back(FavoriteRemoved{ctx.now, customer, std::string(to_string(to))});
    }
  }
}

// The event for a plain move between statuses: a reopening is a fact of its own.
Event moved(const State& s, Status to, const Context& ctx) {
  if (!is_active(s.status) && is_active(to))
    return TicketReopened{ctx.now, s.status, to, ctx.actor};
  return StatusChanged{ctx.now, s.status, to, ctx.actor};
}

// A staff status change, as the status route and a staff message with a status carry it out.
Result<void> staff_status(const State& s, Status to, const Context& ctx, Events& out) {
  if (to == Status::pending_closure || to == Status::closure_scheduled) {
    return fail(errc::kInvalidTransition,
                "staff cannot set pending_closure or closure_scheduled directly; schedule a "
                "closure instead");
  }
  if (to == s.status) return {};
  if (to == Status::closed) {
    out.push_back(TicketClosed{ctx.now, s.status, ctx.actor, "staff"});
  } else {
    out.push_back(moved(s, to, ctx));
  }
  consequences(s, s.status, to, ctx, out);
  return {};
}

void close(const State& s, const Context& ctx, const char* reason, Events& out) {
  out.push_back(TicketClosed{ctx.now, s.status, ctx.actor, reason});
  consequences(s, s.status, Status::closed, ctx, out);
}

bool is_customer_participant(Role role) {
  return role == Role::creator || role == Role::participant;
}

}  // namespace

namespace {
// The id a command names, else the one derived for it (Context::new_id).
std::string new_or(const std::string& named, const Context& ctx) {
  return named.empty() ? ctx.new_id : named;
}
}  // namespace

Created created_by(const std::vector<Event>& events) {
  Created out;
  for (const Event& e : events) {
    if (const auto* o = std::get_if<TicketOpened>(&e)) out.message_id = o->message_id;
    if (const auto* m = std::get_if<MessagePosted>(&e)) out.message_id = m->message_id;
    if (const auto* i = std::get_if<InviteCreated>(&e)) out.invite_id = i->invite_id;
  }
  return out;
}

Result<Events> decide(const State& s, const Command& command, const Context& ctx) {
  Events out;
  const Realm realm = ctx.actor.realm;

  if (const auto* open = std::get_if<OpenTicket>(&command)) {
    if (realm != Realm::customer) return fail(errc::kForbidden, "only customers open tickets");
    if (!ctx.is_member) return fail(errc::kForbidden, "only members of the project open tickets");
    if (s.exists) return fail(errc::kConflict, "ticket number is already taken");
    if (open->number == 0 || (open->message_id.empty() && ctx.new_id.empty())) {
      return fail(errc::kInvalidRequest, "a ticket needs a number and a message id");
    }
    if (auto ok = check_text(open->subject, ctx.policies.max_subject, "subject", true); !ok) {
      return Unexpected(ok.error());
    }
    if (auto ok = check_text(open->body, ctx.policies.max_message, "message"); !ok) {
      return Unexpected(ok.error());
    }
    if (open->priority && !ctx.customer_priority) {
      return fail(errc::kInvalidRequest, "this project does not let customers choose a priority",
                  "priority");
    }
    const std::string priority = open->priority.value_or("normal");
    if (auto ok = check_priority(priority); !ok) return Unexpected(ok.error());
    if (auto ok = check_label(open->purchase_id, ctx.limits.max_label, "purchase_id"); !ok) {
      return Unexpected(ok.error());
    }
    if (auto ok = check_label(open->template_name, ctx.limits.max_label, "template"); !ok) {
      return Unexpected(ok.error());
    }
    if (auto ok = check_fields(open->fields, ctx.limits); !ok) return Unexpected(ok.error());
    out.push_back(
        TicketOpened{ctx.now, ctx.project, open->number, ctx.actor.id, ctx.organization,
                     std::string(trim(open->subject)), new_or(open->message_id, ctx), open->body,
                     priority, "", open->purchase_id, open->template_name, open->fields,
                     resolve_mentions(s, open->body, ctx, ctx.actor.id, ctx.organization)});
    return out;
  }

  // Anything the caller may not read answers exactly as if it did not exist.
  const bool joining = std::holds_alternative<JoinByInvite>(command) && realm == Realm::customer &&
                       s.exists && ctx.project == s.project;
  const bool by_token = std::holds_alternative<AnswerSurvey>(command) &&
                        std::get<AnswerSurvey>(command).via_token && s.exists;
  if (!joining && !by_token && !can_read(s, ctx)) return fail(errc::kNotFound, "no such ticket");
  const Role role = role_of(s, ctx);
  const bool staff = realm == Realm::staff;
  auto customers_only = [&]() -> Result<void> {
    if (realm != Realm::customer) return fail(errc::kForbidden, "this is a customer action");
    if (!is_customer_participant(role)) {
      return fail(errc::kForbidden, "only the creator and participants of a ticket do this");
    }
    return {};
  };
  auto staff_only = [&]() -> Result<void> {
    if (!staff) return fail(errc::kForbidden, "this is a staff action");
    return {};
  };
  // The message a customer or staff member addresses; customers never see internal notes.
  auto visible_message = [&](const std::string& id) -> Result<const Message*> {
    const Message* m = find_message(s, id);
    if (!m || m->deleted || (m->internal && realm != Realm::staff)) {
      return fail(errc::kNotFound, "no such message");
    }
    return m;
  };

  Result<void> done = std::visit(
      Overloaded{
          [&](const OpenTicket&) -> Result<void> { return {}; },
          [&](const PostReply& c) -> Result<void> {
            if (auto ok = customers_only(); !ok) return ok;
            if (auto ok = check_text(c.body, ctx.policies.max_message, "body"); !ok) return ok;
            const std::string id = new_or(c.message_id, ctx);
            if (id.empty()) return fail(errc::kInvalidRequest, "no message id");
            if (s.messages.find(id)) return fail(errc::kConflict, "message id is taken");
            if (s.messages.size() >= ctx.limits.max_messages) {
              return fail(errc::kConflict, "this ticket has reached " +
                                               std::to_string(ctx.limits.max_messages) +
                                               " messages; please open a new ticket");
            }
            std::optional<Status> reopen;
            if (s.status == Status::closed) {
              if (ctx.policies.closed_tickets == ClosedTicketsPolicy::closed_is_final) {
                return fail(errc::kTicketClosed, "this ticket is closed");
              }
              reopen = Status::open;
            } else if (ctx.policies.customer_reply == CustomerReplyPolicy::reopen &&
                       (s.status == Status::awaiting_customer || s.status == Status::resolved ||
                        s.status == Status::pending_closure ||
                        s.status == Status::closure_scheduled)) {
              reopen = Status::open;
            }
            out.push_back(MessagePosted{
                ctx.now, id, ctx.actor, c.body, false,
                resolve_mentions(s, c.body, ctx, s.creator, ticket_organization(s, ctx))});
            if (reopen) {
              out.push_back(moved(s, *reopen, ctx));
              consequences(s, s.status, *reopen, ctx, out);
            }
            return {};
          },
          [&](const PostStaffMessage& c) -> Result<void> {
            if (auto ok = staff_only(); !ok) return ok;
            if (auto ok = check_text(c.body, ctx.policies.max_message, "body"); !ok) return ok;
            const std::string id = new_or(c.message_id, ctx);
            if (id.empty()) return fail(errc::kInvalidRequest, "no message id");
            if (s.messages.find(id)) return fail(errc::kConflict, "message id is taken");
            out.push_back(MessagePosted{
                ctx.now, id, ctx.actor, c.body, c.internal,
                c.internal
                    ? std::vector<std::string>{}
                    : resolve_mentions(s, c.body, ctx, s.creator, ticket_organization(s, ctx))});
            if (c.status) return staff_status(s, *c.status, ctx, out);
            return {};
          },
          [&](const EditMessage& c) -> Result<void> {
            auto m = visible_message(c.message_id);
            if (!m) return Unexpected(m.error());
            if ((*m)->author != ctx.actor) return fail(errc::kNotAuthor, "not your message");
            if (s.status == Status::closed)
              return fail(errc::kTicketClosed, "this ticket is closed");
            if (auto ok = check_text(c.body, ctx.policies.max_message, "body"); !ok) return ok;
            if ((*m)->body == c.body) return {};
            if ((*m)->history.size() >= ctx.limits.max_edits) {
              return fail(errc::kConflict, "a message can be edited at most " +
                                               std::to_string(ctx.limits.max_edits) + " times");
            }
            out.push_back(MessageEdited{ctx.now, c.message_id, c.body});
            return {};
          },
          [&](const DeleteMessage& c) -> Result<void> {
            const Message* m = find_message(s, c.message_id);
            if (m && m->deleted && m->author == ctx.actor) return {};  // already gone
            auto visible = visible_message(c.message_id);
            if (!visible) return Unexpected(visible.error());
            if ((*visible)->author != ctx.actor) return fail(errc::kNotAuthor, "not your message");
            if (s.status == Status::closed)
              return fail(errc::kTicketClosed, "this ticket is closed");
            out.push_back(MessageDeleted{ctx.now, c.message_id});
            return {};
          },
          [&](const AddReaction& c) -> Result<void> {
            auto m = visible_message(c.message_id);
            if (!m) return Unexpected(m.error());
            if (s.status == Status::closed)
              return fail(errc::kTicketClosed, "this ticket is closed");
            if (c.emoji.empty() || c.emoji.size() > kMaxEmojiBytes || !utf8_length(c.emoji) ||
                c.emoji.find_first_of(" \t\r\n") != std::string::npos) {
              return fail(errc::kInvalidRequest, "emoji must be 1 to 64 bytes of text", "emoji");
            }
            auto it = (*m)->reactions.find(c.emoji);
            if (it == (*m)->reactions.end() && (*m)->reactions.size() >= ctx.limits.max_reactions) {
              return fail(errc::kConflict, "a message carries at most " +
                                               std::to_string(ctx.limits.max_reactions) +
                                               " different reactions");
            }
            if (it == (*m)->reactions.end() || !it->second.contains(reactor_key(ctx.actor))) {
              out.push_back(ReactionAdded{ctx.now, c.message_id, c.emoji, ctx.actor});
            }
            return {};
          },
          [&](const RemoveReaction& c) -> Result<void> {
            auto m = visible_message(c.message_id);
            if (!m) return Unexpected(m.error());
            if (s.status == Status::closed)
              return fail(errc::kTicketClosed, "this ticket is closed");
            auto it = (*m)->reactions.find(c.emoji);
            if (it != (*m)->reactions.end() && it->second.contains(reactor_key(ctx.actor))) {
              out.push_back(ReactionRemoved{ctx.now, c.message_id, c.emoji, ctx.actor});
            }
            return {};
          },
          [&](const SetStatus& c) -> Result<void> {
            if (auto ok = staff_only(); !ok) return ok;
            return staff_status(s, c.status, ctx, out);
          },
          [&](const RequestClosure&) -> Result<void> {
            if (auto ok = customers_only(); !ok) return ok;
            if (s.status == Status::pending_closure || s.status == Status::closure_scheduled ||
                s.status == Status::closed) {
              return fail(errc::kInvalidTransition, "closure cannot be requested on a " +
                                                        std::string(to_string(s.status)) +
                                                        " ticket");
            }
            out.push_back(ClosureRequested{ctx.now, s.status, ctx.actor.id});
            consequences(s, s.status, Status::pending_closure, ctx, out);
            return {};
          },
          [&](const ScheduleClosure& c) -> Result<void> {
            if (auto ok = staff_only(); !ok) return ok;
            if (s.status == Status::closure_scheduled || s.status == Status::closed) {
              return fail(errc::kInvalidTransition, "a closure cannot be scheduled on a " +
                                                        std::string(to_string(s.status)) +
                                                        " ticket");
            }
            if (c.closes_at <= ctx.now) {
              return fail(errc::kInvalidRequest, "the closing time must be in the future", "at");
            }
            out.push_back(ClosureScheduled{ctx.now, c.closes_at, s.status, ctx.actor});
            out.push_back(
                MessagePosted{ctx.now,
                              ctx.command_id + "/notice",
                              system_actor(),
                              "This ticket will be closed on " + format_time(c.closes_at) + ".",
                              false,
                              {}});
            consequences(s, s.status, Status::closure_scheduled, ctx, out);
            return {};
          },
          [&](const CancelScheduledClosure&) -> Result<void> {
            if (auto ok = staff_only(); !ok) return ok;
            if (s.status != Status::closure_scheduled || !s.closure) {
              return fail(errc::kInvalidTransition, "no closure is scheduled");
            }
            const Status restored = s.closure->previous;
            out.push_back(ClosureCancelled{ctx.now, restored, ctx.actor});
            out.push_back(MessagePosted{ctx.now,
                                        ctx.command_id + "/notice",
                                        system_actor(),
                                        "The scheduled closure was cancelled.",
                                        false,
                                        {}});
            consequences(s, s.status, restored, ctx, out);
            return {};
          },
          [&](const CloseNow&) -> Result<void> {
            if (auto ok = customers_only(); !ok) return ok;
            if (s.status != Status::resolved && s.status != Status::pending_closure &&
                s.status != Status::closure_scheduled) {
              return fail(errc::kInvalidTransition,
                          "a " + std::string(to_string(s.status)) + " ticket cannot be closed now");
            }
            close(s, ctx, "customer", out);
            return {};
          },
          [&](const ApplyTimers&) -> Result<void> {
            if (realm != Realm::system) return fail(errc::kForbidden, "timers are the system's");
            State now = s;
            if (!s.surveys.empty() && s.surveys.back().state == SurveyState::pending &&
                ctx.now >= s.surveys.back().expires_at) {
              out.push_back(SurveyExpired{ctx.now, s.surveys.back().id});
              now = evolve(std::move(now), out.back());
            }
            const Policies& p = ctx.policies;
            if (s.status == Status::pending_closure && p.pending_closure_timeout > 0 &&
                ctx.now >= s.status_since + p.pending_closure_timeout) {
              close(now, ctx, "pending_closure_timeout", out);
            } else if (s.status == Status::resolved && p.resolved_timeout > 0 &&
                       ctx.now >= s.status_since + p.resolved_timeout) {
              close(now, ctx, "resolved_timeout", out);
            } else if (s.status == Status::closure_scheduled && s.closure && s.closure->closes_at &&
                       ctx.now >= *s.closure->closes_at) {
              close(now, ctx, "scheduled", out);
            }
            return {};
          },
          [&](const AnswerSurvey& c) -> Result<void> {
            const Survey* pending = pending_survey(s, ctx.now);
            if (c.via_token) {
              const auto found = std::find_if(
                  s.surveys.begin(), s.surveys.end(),
                  [&](const Survey& v) { return c.survey_id && v.id == *c.survey_id; });
              if (found == s.surveys.end()) return fail(errc::kNotFound, "no such survey");
              if (pending != &*found) {
                return fail(errc::kSurveyInactive,
                            "this survey was already answered, withdrawn or has expired");
              }
            } else {
              if (realm != Realm::customer || role != Role::creator) {
                return fail(errc::kNotCreator, "only the ticket's creator answers its survey");
              }
              if (!pending) return fail(errc::kNoSurveyPending, "no survey is pending");
            }
            if (c.rating < 1 || c.rating > 5) {
              return fail(errc::kInvalidRequest, "rating must be 1 to 5", "rating");
            }
            if (c.option &&
                std::find(ctx.policies.survey_options.begin(), ctx.policies.survey_options.end(),
                          *c.option) == ctx.policies.survey_options.end()) {
              return fail(errc::kInvalidRequest, "option is not one this project offers", "option");
            }
            if (c.comment) {
              const auto length = utf8_length(*c.comment);
              if (!length || *length > kMaxComment) {
                return fail(errc::kInvalidRequest, "comment must be at most 2000 characters",
                            "comment");
              }
            }
            out.push_back(SurveyAnswered{ctx.now, pending->id, c.rating, c.option, c.comment});
            return {};
          },
          [&](const AddFavorite&) -> Result<void> {
            if (realm != Realm::customer) return fail(errc::kForbidden, "favorites are customers'");
            if (s.status == Status::resolved || s.status == Status::closed) {
              return fail(errc::kTicketNotActive,
                          "resolved and closed tickets cannot be favorites");
            }
            if (!s.favorites.contains(ctx.actor.id)) {
              out.push_back(FavoriteAdded{ctx.now, ctx.actor.id});
            }
            return {};
          },
          [&](const RemoveFavorite&) -> Result<void> {
            if (realm != Realm::customer) return fail(errc::kForbidden, "favorites are customers'");
            if (s.favorites.contains(ctx.actor.id)) {
              out.push_back(FavoriteRemoved{ctx.now, ctx.actor.id, "customer"});
            }
            return {};
          },
          [&](const CreateInvite& c) -> Result<void> {
            if (auto ok = customers_only(); !ok) return ok;
            if (s.status == Status::resolved || s.status == Status::closed) {
              return fail(errc::kTicketNotActive,
                          "invite links need a ticket that is not resolved or closed");
            }
            const std::string id = new_or(c.invite_id, ctx);
            if (id.empty() || c.token_hash.empty()) {
              return fail(errc::kInvalidRequest, "an invite needs an id and a token hash");
            }
            if (s.invites.contains(id)) return fail(errc::kConflict, "invite id is taken");
            out.push_back(InviteCreated{ctx.now, id, c.token_hash, ctx.actor.id});
            return {};
          },
          [&](const RevokeInvite& c) -> Result<void> {
            if (realm != Realm::customer || role != Role::creator) {
              return fail(errc::kNotCreator, "only the creator revokes invite links");
            }
            auto it = s.invites.find(c.invite_id);
            if (it == s.invites.end()) return fail(errc::kNotFound, "no such invite");
            if (!it->second.revoked)
              out.push_back(InviteRevoked{ctx.now, c.invite_id, ctx.actor.id});
            return {};
          },
          [&](const JoinByInvite& c) -> Result<void> {
            if (realm != Realm::customer) {
              return fail(errc::kForbidden, "customers join tickets through invite links");
            }
            const auto it = std::find_if(s.invites.begin(), s.invites.end(), [&](const auto& kv) {
              return kv.second.token_hash == c.token_hash;
            });
            if (it == s.invites.end() || c.token_hash.empty()) {
              return fail(errc::kNotFound, "no such invite");
            }
            if (it->second.revoked || it->second.dead || s.status == Status::resolved ||
                s.status == Status::closed) {
              return fail(errc::kInviteInactive, "this invite link no longer works");
            }
            if (!s.participants.contains(ctx.actor.id)) {
              out.push_back(ParticipantJoined{ctx.now, ctx.actor.id, it->first});
            }
            return {};
          },
          [&](const RemoveParticipant& c) -> Result<void> {
            if (realm != Realm::customer || role != Role::creator) {
              return fail(errc::kNotCreator, "only the creator removes participants");
            }
            if (c.customer == s.creator) {
              return fail(errc::kCreatorCannotLeave, "the creator cannot be removed");
            }
            if (!s.participants.contains(c.customer)) {
              return fail(errc::kNotFound, "no such participant");
            }
            out.push_back(ParticipantRemoved{ctx.now, c.customer, ctx.actor.id});
            // The links they made stop working with them, or a removal would not stick: they
            // could rejoin at once through a link they kept. Links others made stay; the creator
            // sees those (active_invites) and may revoke them.
            for (const auto& [id, invite] : s.invites) {
              if (invite.created_by == c.customer && !invite.revoked && !invite.dead) {
                out.push_back(InviteRevoked{ctx.now, id, ctx.actor.id});
              }
            }
            if (s.favorites.contains(c.customer)) {
              out.push_back(FavoriteRemoved{ctx.now, c.customer, "lost_access"});
            }
            return {};
          },
          [&](const LeaveTicket&) -> Result<void> {
            if (realm != Realm::customer)
              return fail(errc::kForbidden, "this is a customer action");
            if (role == Role::creator) {
              return fail(errc::kCreatorCannotLeave, "the creator cannot leave their ticket");
            }
            if (role != Role::participant) {
              return fail(errc::kForbidden, "only participants leave a ticket");
            }
            out.push_back(ParticipantLeft{ctx.now, ctx.actor.id});
            if (s.favorites.contains(ctx.actor.id)) {
              out.push_back(FavoriteRemoved{ctx.now, ctx.actor.id, "lost_access"});
            }
            return {};
          },
          [&](const UpdateTicket& c) -> Result<void> {
            if (auto ok = staff_only(); !ok) return ok;
            if (c.priority) {
              if (auto ok = check_priority(*c.priority); !ok) return ok;
            }
            if (c.team && (c.team->size() > kMaxTeam || !utf8::valid_printable(*c.team))) {
              return fail(errc::kInvalidRequest,
                          "team must be at most 100 bytes of text without control characters",
                          "team");
            }
            TicketUpdated e{ctx.now, std::nullopt, std::nullopt, ctx.actor};
            if (c.priority && *c.priority != s.priority) e.priority = c.priority;
            if (c.team && *c.team != s.team) e.team = c.team;
            if (e.priority || e.team) out.push_back(std::move(e));
            return {};
          },
      },
      command);
  if (!done) return Unexpected(std::move(done).error());
  return out;
}

}  // namespace portico::domain::ticket
