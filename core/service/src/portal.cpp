#include <openssl/evp.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <portico/clock.hpp>
#include <portico/domain/account.hpp>
#include <portico/service/portal.hpp>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "store.hpp"

namespace portico::service {

namespace project = domain::project;
namespace customer = domain::customer;
namespace ticket = domain::ticket;
using detail::CustomerTraits;
using detail::ProjectTraits;
using detail::TicketTraits;

log::Uuid event_id(std::string_view command_id, std::size_t index) {
  // Name-based, like a UUIDv5 but over SHA-256 (RFC 9562 version 8): the same command id and
  // index always give the same event id, which is what makes a retried command act once.
  std::string input = "portico/event\n";
  input.append(command_id);
  input.push_back('\n');
  input.append(std::to_string(index));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
  log::Uuid id;
  std::memcpy(id.bytes.data(), digest, id.bytes.size());
  id.bytes[6] = static_cast<std::uint8_t>(0x80 | (id.bytes[6] & 0x0f));
  id.bytes[8] = static_cast<std::uint8_t>(0x80 | (id.bytes[8] & 0x3f));
  return id;
}

namespace detail {

Error from_log(const log::LogError& e) {
  switch (e.code) {
    case log::Errc::conflict:
      return {std::string(errc::kConflict), e.message, {}};
    case log::Errc::invalid_argument:
      return {std::string(errc::kInvalidRequest), e.message, {}};
    default:
      return {std::string(errc::kUnavailable),
              std::string(log::to_string(e.code)) + ": " + e.message,
              {}};
  }
}

void backoff(int attempt) {
  // Jittered and growing, so that writers who collided do not collide again in step.
  thread_local std::mt19937 rng{std::random_device{}()};
  const int ceiling_us = std::min(200 << std::min(attempt, 5), 10'000);
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(ceiling_us)));
}

log::Realm to_log(domain::Realm realm) {
  switch (realm) {
    case domain::Realm::customer:
      return log::Realm::customer;
    case domain::Realm::staff:
      return log::Realm::staff;
    case domain::Realm::system:
      return log::Realm::system;
  }
  return log::Realm::system;
}

}  // namespace detail

namespace {

// Ids of things a command creates derive from its id, and read models key on some of them: a long
// client-chosen id is replaced by a digest of itself (still the same for every retry).
constexpr std::size_t kMaxCommandIdBytes = 128;

std::string command_id_of(const CommandMeta& meta) {
  if (meta.command_id.empty()) {
    return std::string(detail::kFreshCommandPrefix) + log::new_uuid_v4().to_string();
  }
  if (meta.command_id.size() > kMaxCommandIdBytes) {
    return "digest:" + event_id(meta.command_id, ~std::size_t{1}).to_string();
  }
  return meta.command_id;
}

// The index event_id() derives a command's new message or invite id with (ticket::Context::new_id):
// beyond any event's, like the causation id's (~0) and the long command id's digest (~1).
constexpr std::size_t kNewIdIndex = ~std::size_t{2};

// A ticket command's answer, with what the caller made and may see (`ctx`: the caller's, on the
// ticket after the command).
TicketOutcome outcome(std::shared_ptr<const ticket::State> state, std::vector<ticket::Event> events,
                      std::uint64_t version, bool replayed, const ticket::Context& ctx) {
  TicketOutcome o{std::move(state), std::move(events), version, replayed};
  o.created = ticket::created_by(o.events);
  o.role = ticket::role_of(*o.state, ctx);
  o.can_read = ticket::can_read(*o.state, ctx);
  return o;
}

// Customer commands share one shape: decide on the loaded state, append.
Result<customer::State> run_customer(log::Log& log, detail::Caches& caches,
                                     const std::string& customer_id,
                                     const customer::Command& command, const customer::Context& ctx,
                                     const CommandMeta& meta, int attempts) {
  auto done = detail::execute<CustomerTraits>(
      log, customer::stream_id(customer_id), meta, command_id_of(meta), attempts, caches,
      "the customer",
      [&](const customer::State& state) { return customer::decide(state, command, ctx); });
  if (!done) return Unexpected(done.error());
  return *done->state;
}

}  // namespace

// ---- The Portal's insides ----

struct Portal::Impl {
  Impl(log::Log& l, Options o) : log(l), options(std::move(o)), caches(options.cached_tickets) {
    if (!options.clock) options.clock = system_clock_us;
  }

  log::Log& log;
  Options options;
  mutable std::mutex limits_mu;   // guards options.ticket_limits
  mutable detail::Caches caches;  // folded states of recent streams

  // ---- Ticket numbers ----
  // Threads of this process take numbers from a counter, so they never race each other for one.
  mutable std::mutex numbers_mu;
  mutable std::map<std::string, std::uint64_t> last_number;  // per project: highest handed out
  std::set<std::string> probed;  // projects whose last_number was read off the log
  // The same open retried while the first try is still running waits for it (so that it does
  // not take a second number), then finds its ticket.
  std::mutex opens_mu;
  std::condition_variable opens_cv;
  std::set<std::string> opens_in_flight;  // command ids of opens under way

  Result<std::uint64_t> highest_number(const std::string& slug) const;
  Result<std::uint64_t> reserve_number(const std::string& slug);
  void release_number(const std::string& slug, std::uint64_t number);

  // ---- The tickets' turns ----
  // Commands on one ticket take turns, and a turn serves every command queued: the first to come
  // leads, deciding and appending all those waiting behind it together (detail::execute_together)
  // while they sleep; the next waiting leads the next turn. So a busy ticket costs one load, one
  // append and one wait for the disk per turn, not per command, and the events of one ticket are
  // decided in order (its times never go backwards).
  struct Waiter {
    detail::Queued<TicketTraits>* queued = nullptr;  // decided with the others of its turn
    std::function<void()> alone;                     // else: runs by itself in the turn
    bool done = false;
    bool lead = false;
    std::optional<Error> failed;  // the turn threw (out of memory): nothing is known of it
    std::condition_variable cv;
  };
  std::mutex turns_mu;
  std::unordered_map<std::string, std::deque<Waiter*>> turns;  // stream -> waiting, in order

  // Returns once `me` was served (by this thread or another).
  void take_turn(const std::string& stream, Waiter& me);
  void serve(const std::string& stream, const std::vector<Waiter*>& turn);
};

Result<std::uint64_t> Portal::Impl::highest_number(const std::string& slug) const {
  std::uint64_t known;
  {
    std::lock_guard lock(numbers_mu);
    known = last_number[slug];
  }
  // Numbers are dense (each is taken by a "no stream" append), so the highest is found by
  // doubling past the known bound, then bisecting.
  auto taken = [&](std::uint64_t n) -> Result<bool> {
    auto v = log.stream_version(ticket::stream_id(slug, n));
    if (!v) return Unexpected(detail::from_log(v.error()));
    return *v > 0;
  };
  std::uint64_t low = known, step = 1;
  for (;;) {
    auto t = taken(low + step);
    if (!t) return Unexpected(t.error());
    if (!*t) break;
    low += step;
    step *= 2;
  }
  std::uint64_t high = low + step;  // not taken; low is taken (or 0)
  while (high - low > 1) {
    const std::uint64_t mid = low + (high - low) / 2;
    auto t = taken(mid);
    if (!t) return Unexpected(t.error());
    (*t ? low : high) = mid;
  }
  std::lock_guard lock(numbers_mu);
  last_number[slug] = std::max(last_number[slug], low);
  return low;
}

Result<std::uint64_t> Portal::Impl::reserve_number(const std::string& slug) {
  {
    std::lock_guard lock(numbers_mu);
    if (probed.contains(slug)) return ++last_number[slug];
  }
  auto highest = highest_number(slug);  // updates last_number
  if (!highest) return Unexpected(highest.error());
  std::lock_guard lock(numbers_mu);
  probed.insert(slug);
  return ++last_number[slug];
}

void Portal::Impl::release_number(const std::string& slug, std::uint64_t number) {
  // Give back the newest reservation if it went unused, so numbers stay dense.
  std::lock_guard lock(numbers_mu);
  if (last_number[slug] == number) --last_number[slug];
}

void Portal::Impl::take_turn(const std::string& stream, Waiter& me) {
  std::unique_lock lock(turns_mu);
  auto [it, first] = turns.try_emplace(stream);
  std::deque<Waiter*>& line = it->second;  // stays valid while the entry exists (rehash or not)
  line.push_back(&me);
  if (!first) {
    me.cv.wait(lock, [&] { return me.done || me.lead; });
    if (me.done) return;
  }
  // This thread leads the turn: everyone waiting now, itself first.
  std::vector<Waiter*> turn(line.begin(), line.end());
  line.clear();
  lock.unlock();
  try {
    serve(stream, turn);
  } catch (const std::exception& e) {
    // No waiter may sleep for ever: each is answered, and its caller retries (the command id
    // tells whether anything was stored).
    for (Waiter* w : turn) {
      w->failed = Error{std::string(errc::kUnavailable),
                        std::string("the ticket's turn failed: ") + e.what(),
                        {}};
    }
  }
  lock.lock();
  for (Waiter* w : turn) {
    if (w == &me) continue;
    w->done = true;
    w->cv.notify_one();
  }
  if (line.empty()) {
    turns.erase(stream);
  } else {
    line.front()->lead = true;  // the next turn is theirs
    line.front()->cv.notify_one();
  }
}

void Portal::Impl::serve(const std::string& stream, const std::vector<Waiter*>& turn) {
  std::vector<detail::Queued<TicketTraits>*> together;
  auto flush = [&] {
    if (together.empty()) return;
    detail::execute_together<TicketTraits>(log, stream, options.max_attempts, caches, "the ticket",
                                           together);
    together.clear();
  };
  for (Waiter* w : turn) {
    if (w->queued) {
      together.push_back(w->queued);
      continue;
    }
    flush();  // in order: what came before it is decided first
    w->alone();
  }
  flush();
}

Portal::Portal(log::Log& log, Options options)
    : impl_(std::make_unique<Impl>(log, std::move(options))) {}

domain::TimeUs Portal::now() const { return impl_->options.clock(); }
detail::Caches& detail::caches_of(const Portal& portal) { return portal.impl_->caches; }
log::Log& Portal::event_log() const { return impl_->log; }

void Portal::set_ticket_limits(const domain::ticket::Limits& limits) {
  std::lock_guard lock(impl_->limits_mu);
  impl_->options.ticket_limits = limits;
}

domain::ticket::Limits Portal::ticket_limits() const {
  std::lock_guard lock(impl_->limits_mu);
  return impl_->options.ticket_limits;
}

// ---- Projects ----

Result<project::State> Portal::create_project(const std::string& slug,
                                              const project::Settings& settings,
                                              const CommandMeta& meta) {
  if (!project::valid_slug(slug)) {
    return fail(errc::kInvalidRequest, "a slug is 2 to 40 of a-z, 0-9 and '-'", "slug");
  }
  return change_project(slug, project::CreateProject{slug, settings}, meta);
}

Result<project::State> Portal::configure_project(const std::string& slug,
                                                 const project::Settings& settings,
                                                 const CommandMeta& meta) {
  return change_project(slug, project::ConfigureProject{settings}, meta);
}

Result<project::State> Portal::add_staff(const std::string& slug, const project::AddStaff& staff,
                                         const CommandMeta& meta) {
  return change_project(slug, staff, meta);
}

Result<project::State> Portal::change_project(const std::string& slug,
                                              const project::Command& command,
                                              const CommandMeta& meta) {
  if (!project::valid_slug(slug)) return fail(errc::kNotFound, "no such project");
  const std::string stream = project::stream_id(slug);
  const std::string id = command_id_of(meta);
  using Decision = detail::Decision<project::State>;
  const detail::Earlier<project::State> earlier = [&]() -> Result<std::optional<project::State>> {
    auto r = detail::replayed<ProjectTraits>(impl_->log, stream, id, impl_->caches);
    if (!r) return Unexpected(r.error());
    if (!*r) return std::optional<project::State>();
    return std::optional<project::State>(*(*r)->state);
  };
  if (auto first = detail::first_answer(earlier)) return std::move(*first);
  return detail::decide<project::State>(
      impl_->log, impl_->options.max_attempts, "the project",
      [&](int) -> Result<Decision> {
        auto loaded = detail::load<ProjectTraits>(impl_->log, stream, impl_->caches);
        if (!loaded) return Unexpected(loaded.error());
        const project::State& current = (*loaded)->state;
        const project::Context ctx{meta.actor, impl_->options.clock()};
        auto events = project::decide(current, command, ctx);
        if (!events) return Unexpected(events.error());
        project::State after = project::fold(*events, current);
        detail::Writes writes{meta, id, {}};
        writes.add<ProjectTraits>(stream, log::ExpectedVersion::exactly((*loaded)->version),
                                  *events);
        // Host names change hands in the same append: "host:{name}" streams hold who has each,
        // so two projects can never serve one name, even when two operators act at once.
        const auto& was = current.settings.hosts;
        const auto& now = after.settings.hosts;
        for (const std::string& host : now) {
          if (std::find(was.begin(), was.end(), host) != was.end()) continue;
          const std::string host_stream = project::host_stream_id(host);
          auto claim = detail::load<ProjectTraits>(impl_->log, host_stream, impl_->caches);
          if (!claim) return Unexpected(claim.error());
          const std::string& holder = (*claim)->state.host_claimed_by;
          if (!holder.empty() && holder != slug) {
            return fail(errc::kConflict, "the host name " + host + " serves project " + holder,
                        "hosts");
          }
          writes.add<ProjectTraits>(host_stream, log::ExpectedVersion::exactly((*claim)->version),
                                    {project::HostClaimed{ctx.now, host, slug}});
        }
        for (const std::string& host : was) {
          if (std::find(now.begin(), now.end(), host) != now.end()) continue;
          writes.add<ProjectTraits>(project::host_stream_id(host), log::ExpectedVersion::any(),
                                    {project::HostReleased{ctx.now, host}});
        }
        return Decision{std::move(writes).take(), std::move(after)};
      },
      earlier);
}

Result<std::optional<std::string>> Portal::project_for_host(const std::string& host) const {
  if (!project::valid_host(host)) return std::optional<std::string>();
  auto claim =
      detail::load<ProjectTraits>(impl_->log, project::host_stream_id(host), impl_->caches);
  if (!claim) return Unexpected(claim.error());
  const std::string& holder = (*claim)->state.host_claimed_by;
  return holder.empty() ? std::optional<std::string>() : std::optional<std::string>(holder);
}

Result<project::State> Portal::project(const std::string& slug) const {
  auto loaded = detail::load<ProjectTraits>(impl_->log, project::stream_id(slug), impl_->caches);
  if (!loaded) return Unexpected(loaded.error());
  if (!(*loaded)->state.exists) return fail(errc::kNotFound, "no such project");
  return (*loaded)->state;
}

// ---- Customers ----

Result<customer::State> Portal::register_customer(const customer::Register& command,
                                                  const CommandMeta& meta) {
  const std::string id = command_id_of(meta);
  const std::string stream = customer::stream_id(command.customer_id);
  const auto email = domain::account::normalize_email(command.email);
  if (!email) return fail(errc::kInvalidRequest, "not an e-mail address", "email");
  using Decision = detail::Decision<customer::State>;
  const detail::Earlier<customer::State> earlier = [&]() -> Result<std::optional<customer::State>> {
    auto r = detail::replayed<CustomerTraits>(impl_->log, stream, id, impl_->caches);
    if (!r) return Unexpected(r.error());
    if (!*r) return std::optional<customer::State>();
    return std::optional<customer::State>(*(*r)->state);
  };
  if (auto first = detail::first_answer(earlier)) return std::move(*first);
  return detail::decide<customer::State>(
      impl_->log, impl_->options.max_attempts, "the customer",
      [&](int) -> Result<Decision> {
        auto loaded = detail::load<CustomerTraits>(impl_->log, stream, impl_->caches);
        if (!loaded) return Unexpected(loaded.error());
        const customer::Context ctx{meta.actor, impl_->options.clock()};
        auto events = customer::decide((*loaded)->state, customer::Command{command}, ctx);
        if (!events) return Unexpected(events.error());
        if (events->empty()) return Decision{{}, (*loaded)->state};
        // The registration and the handle's claim go in together: "no stream" on the handle
        // makes two customers with one handle impossible, even from two processes at once. So is
        // the e-mail address's: one identity per address (sign-in finds customers by it).
        detail::Writes writes{meta, id, {}};
        writes.add<CustomerTraits>(stream, log::ExpectedVersion::no_stream(), *events);
        writes.add<CustomerTraits>(
            customer::handle_stream_id(command.handle), log::ExpectedVersion::no_stream(),
            {customer::HandleClaimed{ctx.now, command.handle, command.customer_id}});
        writes.add<CustomerTraits>(customer::email_stream_id(*email),
                                   log::ExpectedVersion::no_stream(),
                                   {customer::EmailClaimed{ctx.now, *email, command.customer_id}});
        return Decision{std::move(writes).take(),
                        customer::fold(*events, (*loaded)->state),
                        {{customer::handle_stream_id(command.handle),
                          {std::string(errc::kConflict),
                           "the handle @" + command.handle + " is taken", "handle"}},
                         {customer::email_stream_id(*email),
                          {std::string(errc::kConflict),
                           "the address " + *email + " has an account", "email"}}}};
      },
      earlier);
}

Result<customer::State> Portal::join_project(const std::string& customer_id,
                                             const std::string& slug, const CommandMeta& meta) {
  auto p = project(slug);
  if (!p) return Unexpected(p.error());
  return run_customer(impl_->log, impl_->caches, customer_id,
                      customer::Command{customer::JoinProject{slug, p->settings.allowed_domains}},
                      customer::Context{meta.actor, impl_->options.clock()}, meta,
                      impl_->options.max_attempts);
}

Result<customer::State> Portal::leave_project(const std::string& customer_id,
                                              const std::string& slug, const CommandMeta& meta) {
  return run_customer(
      impl_->log, impl_->caches, customer_id, customer::Command{customer::LeaveProject{slug}},
      customer::Context{meta.actor, impl_->options.clock()}, meta, impl_->options.max_attempts);
}

Result<customer::State> Portal::choose_language(const std::string& customer_id,
                                                std::string language, const CommandMeta& meta) {
  return run_customer(impl_->log, impl_->caches, customer_id,
                      customer::Command{customer::ChooseLanguage{std::move(language)}},
                      customer::Context{meta.actor, impl_->options.clock()}, meta,
                      impl_->options.max_attempts);
}

Result<void> Portal::read_notifications(const std::string& customer_id,
                                        const domain::inbox::Command& command,
                                        const CommandMeta& meta) {
  auto events = domain::inbox::decide(
      command, domain::inbox::Context{meta.actor, impl_->options.clock(), customer_id});
  if (!events) return Unexpected(events.error());
  if (events->empty()) return {};
  // No invariant spans two reads, so any version will do; the command id still makes a retry act
  // once (its event ids are already stored: a duplicate, which answers like the first time).
  const std::string id = command_id_of(meta);
  const detail::Earlier<std::monostate> earlier = [&]() -> Result<std::optional<std::monostate>> {
    if (detail::is_fresh(id)) return std::optional<std::monostate>();
    auto first = impl_->log.find(event_id(id, 0));
    if (!first) return Unexpected(detail::from_log(first.error()));
    return *first ? std::optional<std::monostate>(std::monostate{})
                  : std::optional<std::monostate>();
  };
  auto done = detail::decide<std::monostate>(
      impl_->log, impl_->options.max_attempts, "the inbox",
      [&](int) -> Result<detail::Decision<std::monostate>> {
        detail::Writes writes{meta, id, {}};
        writes.add<detail::InboxTraits>(domain::inbox::stream_id(customer_id),
                                        log::ExpectedVersion::any(), *events);
        return detail::Decision<std::monostate>{std::move(writes).take(), {}};
      },
      earlier);
  if (!done) return Unexpected(done.error());
  return {};
}

Result<customer::State> Portal::customer(const std::string& customer_id) const {
  auto loaded =
      detail::load<CustomerTraits>(impl_->log, customer::stream_id(customer_id), impl_->caches);
  if (!loaded) return Unexpected(loaded.error());
  if (!(*loaded)->state.exists) return fail(errc::kNotFound, "no such customer");
  return (*loaded)->state;
}

Result<std::optional<std::string>> Portal::customer_by_handle(const std::string& handle) const {
  auto records =
      impl_->log.read_stream(customer::handle_stream_id(handle), 1, log::Direction::forward, 1);
  if (!records) return Unexpected(detail::from_log(records.error()));
  if (records->empty()) return std::optional<std::string>();
  auto e = detail::decode<CustomerTraits>(records->front());
  if (!e) return Unexpected(e.error());
  const auto* claim = std::get_if<customer::HandleClaimed>(&*e);
  if (!claim) return fail(errc::kUnavailable, "handle stream holds something else");
  return std::optional<std::string>(claim->customer_id);
}

// ---- Tickets ----

Result<std::string> Portal::creator_organization(const project::State& p,
                                                 const std::string& creator) const {
  auto c = customer(creator);
  if (!c) {
    return c.error().code == errc::kNotFound ? std::string()
                                             : Result<std::string>(Unexpected(c.error()));
  }
  return project::organization_of(p, c->email);
}

Result<ticket::Context> Portal::reading_context(const std::string& slug,
                                                const ticket::State& ticket,
                                                const domain::Actor& actor) const {
  auto p = project(slug);
  if (!p) return Unexpected(p.error());
  auto ctx = ticket_context(*p, actor, "");
  if (!ctx) return ctx;
  if (ticket.exists && p->settings.policies.organization_visibility) {
    auto org = creator_organization(*p, ticket.creator);
    if (!org) return Unexpected(org.error());
    ctx->ticket_organization = std::move(*org);
  }
  return ctx;
}

Result<ticket::Context> Portal::ticket_context(const std::string& slug, const domain::Actor& actor,
                                               std::string_view body) const {
  auto p = project(slug);
  if (!p) return Unexpected(p.error());
  return ticket_context(*p, actor, body);
}

Result<ticket::Context> Portal::ticket_context(const project::State& p, const domain::Actor& actor,
                                               std::string_view body) const {
  const std::string& slug = p.slug;
  ticket::Context ctx;
  ctx.actor = actor;
  ctx.now = impl_->options.clock();
  ctx.project = slug;
  ctx.policies = p.settings.policies;
  ctx.customer_priority = p.settings.customer_priority;
  ctx.limits = ticket_limits();
  if (actor.realm == domain::Realm::staff) ctx.is_project_staff = project::is_staff(p, actor.id);
  if (actor.realm == domain::Realm::customer) {
    auto c = customer(actor.id);
    if (c) {
      ctx.is_member = customer::is_member(*c, slug);
      ctx.organization = project::organization_of(p, c->email);
    } else if (c.error().code != errc::kNotFound) {
      return Unexpected(c.error());
    }
  }
  auto candidates = mention_candidates(p, body);
  if (!candidates) return Unexpected(candidates.error());
  ctx.mention_candidates = std::move(*candidates);
  return ctx;
}

Result<std::vector<ticket::MentionCandidate>> Portal::mention_candidates(
    const project::State& p, std::string_view body) const {
  std::vector<ticket::MentionCandidate> out;
  for (const std::string& handle : ticket::extract_mentions(body)) {  // at most kMaxMentions
    auto who = customer_by_handle(handle);
    if (!who) return Unexpected(who.error());
    if (!*who) continue;
    auto c = customer(**who);
    if (!c) continue;
    out.push_back(
        {handle, c->id, customer::is_member(*c, p.slug), project::organization_of(p, c->email)});
  }
  return out;
}

Result<std::shared_ptr<const ticket::State>> Portal::ticket(const std::string& slug,
                                                            std::uint64_t number) const {
  auto loaded =
      detail::load<TicketTraits>(impl_->log, ticket::stream_id(slug, number), impl_->caches);
  if (!loaded) return Unexpected(loaded.error());
  if (!(*loaded)->state.exists) return fail(errc::kNotFound, "no such ticket");
  return detail::state_of<TicketTraits>(*loaded);
}

Result<TicketOutcome> Portal::open_ticket(const std::string& slug, ticket::OpenTicket command,
                                          const CommandMeta& meta) {
  const std::string id = command_id_of(meta);
  // The same open retried while the first try is still running waits for it here (so it does not
  // take a second number), then finds its ticket below.
  Impl& impl = *impl_;
  std::unique_lock in_flight(impl.opens_mu);
  impl.opens_cv.wait(in_flight, [&] { return !impl.opens_in_flight.contains(id); });
  impl.opens_in_flight.insert(id);
  in_flight.unlock();
  struct Done {
    Impl& impl;
    const std::string& id;
    ~Done() {
      {
        std::lock_guard lock(impl.opens_mu);
        impl.opens_in_flight.erase(id);
      }
      impl.opens_cv.notify_all();
    }
  } done{impl, id};
  // A retry of an open that went through answers with the ticket it opened (wherever its
  // number ended up).
  const detail::Earlier<TicketOutcome> earlier = [&]() -> Result<std::optional<TicketOutcome>> {
    if (detail::is_fresh(id)) return std::optional<TicketOutcome>();
    auto first = impl_->log.find(event_id(id, 0));
    if (!first) return Unexpected(detail::from_log(first.error()));
    if (!*first) return std::optional<TicketOutcome>();
    auto r = detail::replayed<TicketTraits>(impl_->log, (*first)->stream, id, impl_->caches);
    if (!r) return Unexpected(r.error());
    auto c = reading_context(slug, *(*r)->state, meta.actor);
    if (!c) return Unexpected(c.error());
    return std::optional<TicketOutcome>(
        outcome(std::move((*r)->state), std::move((*r)->events), (*r)->version, true, *c));
  };
  if (auto first = detail::first_answer(earlier)) return std::move(*first);
  auto p = project(slug);
  if (!p) return Unexpected(p.error());
  auto ctx = ticket_context(*p, meta.actor, "");
  if (!ctx) return Unexpected(ctx.error());
  ctx->command_id = id;
  ctx->new_id = event_id(id, kNewIdIndex).to_string();
  // Check the input before a number is taken for it, and before any @mention costs a lookup:
  // a body over the length limit, or a caller who may not open tickets here, costs nothing more.
  ticket::OpenTicket probe = command;
  probe.number = 1;
  if (auto dry = ticket::decide(ticket::State{}, probe, *ctx); !dry) {
    return Unexpected(dry.error());
  }
  auto candidates = mention_candidates(*p, command.body);
  if (!candidates) return Unexpected(candidates.error());
  ctx->mention_candidates = std::move(*candidates);
  return detail::decide<TicketOutcome>(
      impl_->log, impl_->options.max_number_attempts, "the project's ticket numbers",
      [&](int) -> Result<detail::Decision<TicketOutcome>> {
        // Threads of this process take numbers from a counter, so they never race each other
        // for one; only another process on the same log can take a number first (then the
        // append meets an existing stream: look again).
        auto reserved = impl_->reserve_number(slug);
        if (!reserved) return Unexpected(reserved.error());
        command.number = *reserved;
        auto events = ticket::decide(ticket::State{}, command, *ctx);
        if (!events) {
          impl_->release_number(slug, command.number);
          return Unexpected(events.error());
        }
        std::vector<log::StreamWrite> writes{
            detail::encode<TicketTraits>(ticket::stream_id(slug, command.number),
                                         log::ExpectedVersion::no_stream(), *events, meta, id, 0)};
        auto state = std::make_shared<const ticket::State>(ticket::fold(*events));
        const std::uint64_t version = events->size();
        return detail::Decision<TicketOutcome>{
            std::move(writes),
            outcome(std::move(state), std::move(*events), version, false, *ctx),
            {},
            [this, &slug, number = command.number] {
              impl_->release_number(slug, number);
              // Another process may have taken this number: the next reservation probes past
              // the highest taken.
              std::lock_guard lock(impl_->numbers_mu);
              impl_->probed.erase(slug);
            }};
      },
      earlier);
}

Result<TicketOutcome> Portal::execute(const std::string& slug, std::uint64_t number,
                                      const ticket::Command& command, const CommandMeta& meta) {
  if (std::holds_alternative<ticket::OpenTicket>(command)) {
    return fail(errc::kInvalidRequest,
                "tickets are opened with open_ticket, which picks the number");
  }
  const std::string id = command_id_of(meta);
  std::string_view body;
  if (const auto* r = std::get_if<ticket::PostReply>(&command)) body = r->body;
  if (const auto* r = std::get_if<ticket::PostStaffMessage>(&command)) body = r->body;
  auto p = project(slug);  // once: the context, the creator's organisation, allowed domains
  if (!p) {
    if (p.error().code == errc::kNotFound) return fail(errc::kNotFound, "no such ticket");
    return Unexpected(p.error());
  }
  // No @mention is looked up yet: that waits until the command passed without them (below).
  auto ctx = ticket_context(*p, meta.actor, "");
  if (!ctx) return Unexpected(ctx.error());
  ctx->command_id = id;
  ctx->new_id = event_id(id, kNewIdIndex).to_string();
  std::optional<std::vector<ticket::MentionCandidate>> candidates;  // once, across attempts
  const std::string stream = ticket::stream_id(slug, number);
  // The context for one attempt on the ticket as loaded: the time is read now (under the
  // ticket's turn, so times never go backwards along its stream), and the ticket's organisation
  // is its creator's under the project's current settings.
  auto context_for = [&](const ticket::State& state) -> Result<ticket::Context> {
    ticket::Context c = *ctx;
    c.now = std::max(impl_->options.clock(), state.updated_at);
    if (state.exists && c.policies.organization_visibility) {
      auto org = creator_organization(*p, state.creator);
      if (!org) return Unexpected(org.error());
      c.ticket_organization = std::move(*org);
    }
    return c;
  };
  // A replay shows nothing to a caller who can no longer read the ticket.
  auto answer_replay = [&](std::shared_ptr<const ticket::State> state,
                           std::vector<ticket::Event> events,
                           std::uint64_t version) -> Result<TicketOutcome> {
    auto c = context_for(*state);
    if (!c) return Unexpected(c.error());
    if (!ticket::can_read(*state, *c)) return fail(errc::kNotFound, "no such ticket");
    return outcome(std::move(state), std::move(events), version, true, *c);
  };

  // The two-stream join (the caller is not yet a member of the project).
  auto join_by_invite = [&]() -> Result<TicketOutcome> {
    const detail::Earlier<TicketOutcome> earlier = [&]() -> Result<std::optional<TicketOutcome>> {
      auto r = detail::replayed<TicketTraits>(impl_->log, stream, id, impl_->caches);
      if (!r) return Unexpected(r.error());
      if (!*r) return std::optional<TicketOutcome>();
      auto answer = answer_replay(std::move((*r)->state), std::move((*r)->events), (*r)->version);
      if (!answer) return Unexpected(answer.error());
      return std::optional<TicketOutcome>(std::move(*answer));
    };
    if (auto first = detail::first_answer(earlier)) return std::move(*first);
    const std::string member_stream = customer::stream_id(meta.actor.id);
    return detail::decide<TicketOutcome>(
        impl_->log, impl_->options.max_attempts, "the ticket",
        [&](int) -> Result<detail::Decision<TicketOutcome>> {
          auto t = detail::load<TicketTraits>(impl_->log, stream, impl_->caches);
          if (!t) return Unexpected(t.error());
          auto c = detail::load<CustomerTraits>(impl_->log, member_stream, impl_->caches);
          if (!c) return Unexpected(c.error());
          auto attempt_ctx = context_for((*t)->state);
          if (!attempt_ctx) return Unexpected(attempt_ctx.error());
          auto ticket_events = ticket::decide((*t)->state, command, *attempt_ctx);
          if (!ticket_events) return Unexpected(ticket_events.error());
          auto member_events = customer::decide(
              (*c)->state,
              customer::Command{customer::JoinProject{slug, p->settings.allowed_domains}},
              customer::Context{meta.actor, attempt_ctx->now});
          if (!member_events) return Unexpected(member_events.error());
          detail::Writes writes{meta, id, {}};
          writes.add<TicketTraits>(stream, log::ExpectedVersion::exactly((*t)->version),
                                   *ticket_events);
          writes.add<CustomerTraits>(member_stream, log::ExpectedVersion::exactly((*c)->version),
                                     *member_events);
          const std::uint64_t version = (*t)->version + ticket_events->size();
          auto state = ticket_events->empty() ? detail::state_of<TicketTraits>(*t)
                                              : std::make_shared<const ticket::State>(
                                                    ticket::fold(*ticket_events, (*t)->state));
          return detail::Decision<TicketOutcome>{
              std::move(writes).take(),
              {std::move(state), std::move(*ticket_events), version, false}};
        },
        earlier);
  };

  Impl::Waiter me;
  // Joining through an invite also makes the customer a member: both streams in one append,
  // decided alone in the ticket's turn.
  if (std::holds_alternative<ticket::JoinByInvite>(command) && !ctx->is_member &&
      meta.actor.realm == domain::Realm::customer) {
    std::optional<Result<TicketOutcome>> joined;
    me.alone = [&] { joined = join_by_invite(); };
    impl_->take_turn(stream, me);
    if (me.failed) return Unexpected(*me.failed);
    if (!*joined || (*joined)->replayed) return std::move(*joined);
    // Judged after the join: the caller is a member now.
    auto c = reading_context(slug, *(*joined)->state, meta.actor);
    if (!c) return Unexpected(c.error());
    return outcome(std::move((*joined)->state), std::move((*joined)->events), (*joined)->version,
                   false, *c);
  }

  detail::Queued<TicketTraits> queued{
      &meta, id,
      [&](const ticket::State& state) -> Result<std::vector<ticket::Event>> {
        auto c = context_for(state);
        if (!c) return Unexpected(c.error());
        // Decided first without the mentions' candidates: the body's length and the caller's
        // right to read the ticket are judged before a handle in it costs a lookup.
        auto events = ticket::decide(state, command, *c);
        if (!events || body.empty() || ticket::extract_mentions(body).empty()) return events;
        if (!candidates) {
          auto found = mention_candidates(*p, body);
          if (!found) return Unexpected(found.error());
          candidates = std::move(*found);
        }
        c->mention_candidates = *candidates;
        return ticket::decide(state, command, *c);
      },
      std::nullopt};
  me.queued = &queued;
  impl_->take_turn(stream, me);
  if (me.failed) return Unexpected(*me.failed);
  auto done = std::move(*queued.result);
  if (!done) return Unexpected(done.error());
  if (done->replayed) {
    return answer_replay(std::move(done->state), std::move(done->events), done->version);
  }
  // The caller's standing after the command (context_for fails only when a lookup does: then
  // judged without the creator's current organisation).
  auto after = context_for(*done->state);
  return outcome(std::move(done->state), std::move(done->events), done->version, false,
                 after ? *after : *ctx);
}

Portal::~Portal() = default;

}  // namespace portico::service
