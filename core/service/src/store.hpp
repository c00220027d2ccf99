// Typed streams over the log: decode and fold a stream, encode decided events, and the
// one load → decide → append loop (decide) with retries and command-id idempotency (private to
// core/service).
#pragma once

#include <algorithm>
#include <boost/json/object.hpp>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <portico/domain/account.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/inbox.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/errc.hpp>
#include <portico/log/log.hpp>
#include <portico/service/portal.hpp>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace portico::service::detail {

#define PORTICO_AGGREGATE_TRAITS(Name, ns)                                                         \
  struct Name {                                                                                    \
    using Event = domain::ns::Event;                                                               \
    using State = domain::ns::State;                                                               \
    static std::string_view type_name(const Event& e) { return domain::ns::type_name(e); }         \
    static std::uint32_t schema_version(const Event& e) { return domain::ns::schema_version(e); }  \
    static boost::json::object to_payload(const Event& e) { return domain::ns::to_payload(e); }    \
    static Result<Event> from_payload(std::string_view type, const boost::json::object& payload) { \
      return domain::ns::from_payload(type, payload);                                              \
    }                                                                                              \
    static State evolve(State s, const Event& e) { return domain::ns::evolve(std::move(s), e); }   \
  };
PORTICO_AGGREGATE_TRAITS(TicketTraits, ticket)
PORTICO_AGGREGATE_TRAITS(ProjectTraits, project)
PORTICO_AGGREGATE_TRAITS(CustomerTraits, customer)
PORTICO_AGGREGATE_TRAITS(AccountTraits, account)
#undef PORTICO_AGGREGATE_TRAITS
// The inbox is written, never folded here (the projections read it): events only.
struct InboxTraits {
  using Event = domain::inbox::Event;
  static std::string_view type_name(const Event& e) { return domain::inbox::type_name(e); }
  static boost::json::object to_payload(const Event& e) { return domain::inbox::to_payload(e); }
  static std::uint32_t schema_version(const Event& e) { return domain::inbox::schema_version(e); }
};

// The log's errors in the API's terms: storage trouble is 503 unavailable (retry), a conflict
// that outlived the retries 409 conflict.
Error from_log(const log::LogError& e);
log::Realm to_log(domain::Realm realm);
// Sleeps a little before attempt `attempt + 1` of a decision that met a concurrent write.
void backoff(int attempt);

template <class T>
struct Loaded {
  typename T::State state;
  std::uint64_t version = 0;
};

// A folded state shared between the cache and its readers; never modified once made.
template <class T>
using Snapshot = std::shared_ptr<const Loaded<T>>;

// Folded states of recently used streams. The log only grows, so a cached (state, version) is
// always a true prefix: a load reads just the events after it. Bounded, least recently used
// first out (a hot ticket stays however many others pass through); thread-safe.
template <class T>
class StateCache {
 public:
  explicit StateCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  Snapshot<T> get(const std::string& stream) const {
    std::lock_guard lock(mu_);
    auto it = map_.find(stream);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);  // now the most recently used
    return it->second->second;
  }
  void put(const std::string& stream, Snapshot<T> loaded) {
    std::lock_guard lock(mu_);
    auto it = map_.find(stream);
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      if (it->second->second->version < loaded->version) it->second->second = std::move(loaded);
      return;
    }
    if (map_.size() >= capacity_) {  // the least recently used goes
      map_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(stream, std::move(loaded));
    map_.emplace(stream, order_.begin());
  }

 private:
  using Entry = std::pair<std::string, Snapshot<T>>;
  std::size_t capacity_;
  mutable std::mutex mu_;
  mutable std::list<Entry> order_;  // most recently used first
  std::unordered_map<std::string, typename std::list<Entry>::iterator> map_;
};

struct Caches {
  explicit Caches(std::size_t cached_tickets = 16384) : tickets(cached_tickets) {}

  StateCache<TicketTraits> tickets;
  StateCache<ProjectTraits> projects{256};
  StateCache<CustomerTraits> customers{4096};
  StateCache<AccountTraits> accounts{8192};  // sessions, tokens, staff accounts

  StateCache<TicketTraits>& of(TicketTraits*) { return tickets; }
  StateCache<ProjectTraits>& of(ProjectTraits*) { return projects; }
  StateCache<CustomerTraits>& of(CustomerTraits*) { return customers; }
  StateCache<AccountTraits>& of(AccountTraits*) { return accounts; }
  template <class T>
  StateCache<T>& of() {
    return of(static_cast<T*>(nullptr));
  }
};

// The state inside a snapshot, sharing its ownership.
template <class T>
std::shared_ptr<const typename T::State> state_of(const Snapshot<T>& snapshot) {
  return {snapshot, &snapshot->state};
}

template <class T>
Result<typename T::Event> decode(const log::Record& r) {
  auto e = T::from_payload(r.type, r.payload_object());
  if (!e) {
    return fail(errc::kUnavailable, "event at position " + std::to_string(r.position) +
                                        " does not decode: " + e.error().message);
  }
  return e;
}

// The stream's state now: the cached state, if any, with the events after it folded in.
template <class T>
Result<Snapshot<T>> load(const log::Log& log, const std::string& stream, Caches& caches) {
  Snapshot<T> cached = caches.of<T>().get(stream);
  std::shared_ptr<Loaded<T>> grown;  // a copy, made only when there is something new
  std::uint64_t version = cached ? cached->version : 0;
  constexpr std::size_t kChunk = 1024;
  for (;;) {
    auto records = log.read_stream(stream, version + 1, log::Direction::forward, kChunk);
    if (!records) return Unexpected(from_log(records.error()));
    for (const log::Record& r : *records) {
      auto e = decode<T>(r);
      if (!e) return Unexpected(e.error());
      if (!grown)
        grown = cached ? std::make_shared<Loaded<T>>(*cached) : std::make_shared<Loaded<T>>();
      grown->state = T::evolve(std::move(grown->state), *e);
      grown->version = version = r.stream_version;
    }
    if (records->size() < kChunk) break;
  }
  if (!grown) return cached ? cached : std::make_shared<const Loaded<T>>();
  caches.of<T>().put(stream, grown);
  return Snapshot<T>(std::move(grown));
}

// Ids the handler made up for a command that came without one: such a command cannot have
// acted before, so the lookup for an earlier run is skipped.
inline constexpr std::string_view kFreshCommandPrefix = "fresh:";
inline bool is_fresh(std::string_view command_id) {
  return command_id.starts_with(kFreshCommandPrefix);
}

template <class T>
log::StreamWrite encode(const std::string& stream, log::ExpectedVersion expected,
                        const std::vector<typename T::Event>& events, const CommandMeta& meta,
                        const std::string& command_id, std::size_t first_index) {
  log::StreamWrite w{stream, expected, {}};
  w.events.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    log::EventData d;
    // A fresh command cannot be retried, so nothing will look its events up by a derived id:
    // the log gives them time-ordered ids (UUIDv7), which land at the end of its id index
    // instead of on a random page of it.
    if (!is_fresh(command_id)) d.id = event_id(command_id, first_index + i);
    d.type = std::string(T::type_name(events[i]));
    d.schema_version = T::schema_version(events[i]);
    d.actor = {to_log(meta.actor.realm), meta.actor.id};
    d.correlation_id = meta.correlation_id;
    d.causation_id = event_id(command_id, ~std::size_t{0});  // the command itself
    d.payload = T::to_payload(events[i]);
    w.events.push_back(std::move(d));
  }
  return w;
}

template <class T>
struct Executed {
  std::shared_ptr<const typename T::State> state;
  std::vector<typename T::Event> events;
  std::uint64_t version = 0;
  bool replayed = false;
};

// When `command_id` already acted, the events it recorded in `stream`, and the stream now.
template <class T>
Result<std::optional<Executed<T>>> replayed(const log::Log& log, const std::string& stream,
                                            const std::string& command_id, Caches& caches) {
  if (is_fresh(command_id)) return std::optional<Executed<T>>();
  auto first = log.find(event_id(command_id, 0));
  if (!first) return Unexpected(from_log(first.error()));
  if (!*first) return std::optional<Executed<T>>();
  Executed<T> out;
  out.replayed = true;
  // A command's events are consecutive in the log (one append), possibly over several streams.
  auto records = log.read_all((*first)->position, log::kMaxEventsPerAppend);
  if (!records) return Unexpected(from_log(records.error()));
  for (std::size_t i = 0; i < records->size(); ++i) {
    const log::Record& r = (*records)[i];
    if (r.id != event_id(command_id, i)) break;
    if (r.stream != stream) continue;
    auto e = decode<T>(r);
    if (!e) return Unexpected(e.error());
    out.events.push_back(std::move(*e));
  }
  auto now = load<T>(log, stream, caches);
  if (!now) return Unexpected(now.error());
  out.state = state_of(*now);
  out.version = (*now)->version;
  return std::optional<Executed<T>>(std::move(out));
}

// ---- The decision loop: load → decide → append, again after a concurrent write ----

// One attempt's decision: the writes to append together (over any number of streams, each at the
// version the attempt loaded) and what the command answers once they are stored.
template <class Answer>
struct Decision {
  std::vector<log::StreamWrite> writes;  // none: nothing changes, `answer` stands
  Answer answer;
  // Streams whose conflict is the final answer instead of a reason to decide again: a handle or
  // address taken meanwhile, a one-time token used meanwhile.
  std::vector<std::pair<std::string, Error>> final_on;
  // Gives back what the attempt reserved (a ticket number) when its writes were not stored.
  std::function<void()> undo;
};

// The answer of an earlier run of the same command, when it acted (a retry, or the same command
// racing itself from another thread or process): nullopt when it has not.
template <class Answer>
using Earlier = std::function<Result<std::optional<Answer>>()>;

// The answer of an earlier run, or nullopt when there was none (a failed lookup answers too).
template <class Answer>
std::optional<Result<Answer>> first_answer(const Earlier<Answer>& earlier) {
  auto before = earlier();
  if (!before) return Result<Answer>(Unexpected(std::move(before.error())));
  if (!*before) return std::nullopt;
  return Result<Answer>(std::move(**before));
}

// A command that cannot have acted before (a fresh id, a sign-in's random one).
template <class Answer>
Result<std::optional<Answer>> never_before() {
  return std::optional<Answer>();
}

// Every command's loop. `attempt(n)` loads what it needs, asks the pure decider and returns the
// Decision (or the domain's refusal); the loop appends it. On a conflict it decides again after a
// jittered pause, up to `max_attempts`; an append that finds the command's events already stored
// (a duplicate), and a refusal or a give-up after the same command acted meanwhile, answer with
// `earlier()` — the first answer wins. `what` names the stream for the give-up message.
template <class Answer, class Attempt>
Result<Answer> decide(log::Log& log, int max_attempts, std::string_view what, Attempt&& attempt,
                      const Earlier<Answer>& earlier) {
  for (int n = 0; n < max_attempts; ++n) {
    Result<Decision<Answer>> decision = attempt(n);
    if (!decision) {
      auto raced = earlier();
      if (raced && *raced) return std::move(**raced);
      return Unexpected(std::move(decision.error()));
    }
    if (decision->writes.empty()) return std::move(decision->answer);
    auto appended = log.append(decision->writes);
    if (appended && !appended->duplicate) return std::move(decision->answer);
    if (decision->undo) decision->undo();
    if (appended) break;  // a duplicate: the same command won a race with itself
    const log::LogError& e = appended.error();
    if (e.conflict) {
      for (const auto& [stream, answer] : decision->final_on) {
        if (stream == e.conflict->stream) return Unexpected(answer);
      }
    }
    if (e.code != log::Errc::conflict) return Unexpected(from_log(e));
    backoff(n);
  }
  auto after = earlier();
  if (!after) return Unexpected(after.error());
  if (*after) return std::move(**after);
  return fail(errc::kConflict, std::string(what) + " kept changing under this command; try again");
}

// A decision that answers nothing but success.
inline Result<void> as_void(Result<std::monostate> r) {
  if (!r) return Unexpected(std::move(r.error()));
  return {};
}

// The events of one decision over several streams, each stream added once, with ids derived from
// one command id in the order they are added (the order the log stores and a replay reads them).
struct Writes {
  CommandMeta meta;
  std::string command_id;
  std::vector<log::StreamWrite> writes;
  std::size_t next_index = 0;

  template <class T>
  void add(const std::string& stream, log::ExpectedVersion expected,
           const std::vector<typename T::Event>& events) {
    if (events.empty()) return;
    writes.push_back(encode<T>(stream, expected, events, meta, command_id, next_index));
    next_index += events.size();
  }

  std::vector<log::StreamWrite> take() && { return std::move(writes); }
};

// A command on one stream, waiting to be decided with the others queued there (execute_together).
template <class T>
struct Queued {
  const CommandMeta* meta = nullptr;
  std::string command_id;
  // The events for this stream given its state, or a domain error.
  std::function<Result<std::vector<typename T::Event>>(const typename T::State&)> decide;
  std::optional<Result<Executed<T>>> result;  // set by execute_together
};

// Commands queued on one stream, decided in order — each on the state the ones before it lead to
// — and appended in one write at the loaded version: one load, one append and one wait for the
// disk for all of them, however many came while the stream was busy. Each gets its own result:
// its events and the state after them; a command that acted before (a retry) its first answer;
// a refusal its error, which changes nothing for the others. A concurrent write (another process)
// makes them all decide again, up to max_attempts.
template <class T>
void execute_together(log::Log& log, const std::string& stream, int max_attempts, Caches& caches,
                      std::string_view what, std::span<Queued<T>* const> queued) {
  std::vector<std::optional<Result<Executed<T>>>> tentative(queued.size());
  Snapshot<T> last;  // the state after every command of the stored attempt
  // Answers the commands whose events are stored already; true when nothing else is left.
  auto answer_replays = [&]() -> Result<bool> {
    bool all = true;
    for (std::size_t i = 0; i < queued.size(); ++i) {
      Queued<T>& q = *queued[i];
      if (q.result) continue;
      auto r = replayed<T>(log, stream, q.command_id, caches);
      if (!r) return Unexpected(r.error());
      if (*r) {
        q.result = std::move(**r);
      } else if (!tentative[i] || !*tentative[i] || !(*tentative[i])->events.empty()) {
        all = false;  // decided nothing that stands without an append
      }
    }
    return all;
  };
  const Earlier<std::monostate> earlier = [&]() -> Result<std::optional<std::monostate>> {
    auto all = answer_replays();
    if (!all) return Unexpected(all.error());
    return *all ? std::optional<std::monostate>(std::monostate{}) : std::optional<std::monostate>();
  };
  auto done = decide<std::monostate>(
      log, max_attempts, what,
      [&](int) -> Result<Decision<std::monostate>> {
        for (auto& t : tentative) t.reset();
        last = nullptr;
        auto all = answer_replays();
        if (!all) return Unexpected(all.error());
        auto loaded = load<T>(log, stream, caches);
        if (!loaded) return Unexpected(loaded.error());
        Snapshot<T> running = *loaded;
        log::StreamWrite write{stream, log::ExpectedVersion::exactly(running->version), {}};
        for (std::size_t i = 0; i < queued.size(); ++i) {
          Queued<T>& q = *queued[i];
          if (q.result) continue;
          auto events = q.decide(running->state);
          if (!events) {
            tentative[i] = Unexpected(std::move(events.error()));
            continue;
          }
          if (events->empty()) {
            tentative[i] = Executed<T>{state_of(running), {}, running->version, false};
            continue;
          }
          auto after = std::make_shared<Loaded<T>>(*running);
          for (const auto& e : *events) after->state = T::evolve(std::move(after->state), e);
          after->version = running->version + events->size();
          auto w =
              encode<T>(stream, log::ExpectedVersion::any(), *events, *q.meta, q.command_id, 0);
          for (auto& d : w.events) write.events.push_back(std::move(d));
          running = after;
          tentative[i] =
              Executed<T>{state_of(running), std::move(*events), running->version, false};
        }
        if (write.events.empty()) return Decision<std::monostate>{};
        last = running;
        return Decision<std::monostate>{{std::move(write)}, {}};
      },
      earlier);
  for (std::size_t i = 0; i < queued.size(); ++i) {
    Queued<T>& q = *queued[i];
    if (q.result) continue;
    if (!done || !tentative[i]) {
      q.result =
          Unexpected(done ? Error{std::string(errc::kConflict), "not decided", {}} : done.error());
    } else {
      q.result = std::move(*tentative[i]);
    }
  }
  if (done && last) caches.of<T>().put(stream, last);
}

// A single-stream command: load, decide, append at the loaded version. `decide(state)` returns
// the events for this stream, or a domain error.
template <class T, class Decide>
Result<Executed<T>> execute(log::Log& log, const std::string& stream, const CommandMeta& meta,
                            const std::string& command_id, int max_attempts, Caches& caches,
                            std::string_view what, Decide&& decide_events) {
  Queued<T> one{&meta, command_id, std::forward<Decide>(decide_events), std::nullopt};
  Queued<T>* const queued[] = {&one};
  execute_together<T>(log, stream, max_attempts, caches, what, queued);
  return std::move(*one.result);
}

}  // namespace portico::service::detail
