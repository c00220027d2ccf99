#include <openssl/evp.h>

#include <chrono>
#include <cstring>
#include <portico/domain/account.hpp>
#include <portico/service/portal.hpp>
#include <random>
#include <thread>

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
      return {"conflict", e.message, {}};
    case log::Errc::invalid_argument:
      return {"invalid_request", e.message, {}};
    default:
      return {"unavailable", std::string(log::to_string(e.code)) + ": " + e.message, {}};
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

domain::TimeUs system_now() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// Project and customer commands share one shape: decide on the loaded state, append.
template <class T, class Command, class Ctx>
Result<typename T::State> run(log::Log& log, detail::Caches& caches, const std::string& stream,
                              const Command& command, const Ctx& ctx, const CommandMeta& meta,
                              int attempts) {
  const std::string id = command_id_of(meta);
  auto done = detail::execute<T>(log, stream, meta, id, attempts, caches, [&](const auto& state) {
    if constexpr (std::is_same_v<T, ProjectTraits>) {
      return project::decide(state, command, ctx);
    } else {
      return customer::decide(state, command, ctx);
    }
  });
  if (!done) return Unexpected(done.error());
  return *done->state;
}

}  // namespace

Portal::Portal(log::Log& log, Options options)
    : log_(log),
      options_(std::move(options)),
      caches_(std::make_unique<detail::Caches>(options_.cached_tickets)) {
  if (!options_.clock) options_.clock = system_now;
}

void Portal::set_ticket_limits(const domain::ticket::Limits& limits) {
  std::lock_guard lock(limits_mu_);
  options_.ticket_limits = limits;
}

domain::ticket::Limits Portal::ticket_limits() const {
  std::lock_guard lock(limits_mu_);
  return options_.ticket_limits;
}

// ---- Projects ----

Result<project::State> Portal::create_project(const std::string& slug,
                                              const project::Settings& settings,
                                              const CommandMeta& meta) {
  if (!project::valid_slug(slug)) {
    return fail("invalid_request", "a slug is 2 to 40 of a-z, 0-9 and '-'", "slug");
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
  if (!project::valid_slug(slug)) return fail("not_found", "no such project");
  const std::string stream = project::stream_id(slug);
  const std::string id = command_id_of(meta);
  auto before = detail::replayed<ProjectTraits>(log_, stream, id, *caches_);
  if (!before) return Unexpected(before.error());
  if (*before) return *(*before)->state;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    auto loaded = detail::load<ProjectTraits>(log_, stream, *caches_);
    if (!loaded) return Unexpected(loaded.error());
    const project::State& current = (*loaded)->state;
    const project::Context ctx{meta.actor, options_.clock()};
    auto events = project::decide(current, command, ctx);
    if (!events) return Unexpected(events.error());
    if (events->empty()) return current;
    const project::State after = project::fold(*events, current);
    std::vector<log::StreamWrite> writes{detail::encode<ProjectTraits>(
        stream, log::ExpectedVersion::exactly((*loaded)->version), *events, meta, id, 0)};
    // Host names change hands in the same append: "host:{name}" streams hold who has each, so
    // two projects can never serve one name, even when two operators act at once.
    std::size_t index = events->size();
    const auto& was = current.settings.hosts;
    const auto& now = after.settings.hosts;
    for (const std::string& host : now) {
      if (std::find(was.begin(), was.end(), host) != was.end()) continue;
      const std::string host_stream = project::host_stream_id(host);
      auto claim = detail::load<ProjectTraits>(log_, host_stream, *caches_);
      if (!claim) return Unexpected(claim.error());
      const std::string& holder = (*claim)->state.host_claimed_by;
      if (!holder.empty() && holder != slug) {
        return fail("conflict", "the host name " + host + " serves project " + holder, "hosts");
      }
      writes.push_back(detail::encode<ProjectTraits>(
          host_stream, log::ExpectedVersion::exactly((*claim)->version),
          {project::HostClaimed{ctx.now, host, slug}}, meta, id, index++));
    }
    for (const std::string& host : was) {
      if (std::find(now.begin(), now.end(), host) != now.end()) continue;
      writes.push_back(
          detail::encode<ProjectTraits>(project::host_stream_id(host), log::ExpectedVersion::any(),
                                        {project::HostReleased{ctx.now, host}}, meta, id, index++));
    }
    auto appended = log_.append(writes);
    if (appended) {
      if (appended->duplicate) break;
      return after;
    }
    if (appended.error().code != log::Errc::conflict) {
      return Unexpected(detail::from_log(appended.error()));
    }
    detail::backoff(attempt);
  }
  auto after = detail::replayed<ProjectTraits>(log_, stream, id, *caches_);
  if (!after) return Unexpected(after.error());
  if (*after) return *(*after)->state;
  return fail("conflict", "the project kept changing under this command; try again");
}

Result<std::optional<std::string>> Portal::project_for_host(const std::string& host) const {
  if (!project::valid_host(host)) return std::optional<std::string>();
  auto claim = detail::load<ProjectTraits>(log_, project::host_stream_id(host), *caches_);
  if (!claim) return Unexpected(claim.error());
  const std::string& holder = (*claim)->state.host_claimed_by;
  return holder.empty() ? std::optional<std::string>() : std::optional<std::string>(holder);
}

Result<project::State> Portal::project(const std::string& slug) const {
  auto loaded = detail::load<ProjectTraits>(log_, project::stream_id(slug), *caches_);
  if (!loaded) return Unexpected(loaded.error());
  if (!(*loaded)->state.exists) return fail("not_found", "no such project");
  return (*loaded)->state;
}

// ---- Customers ----

Result<customer::State> Portal::register_customer(const customer::Register& command,
                                                  const CommandMeta& meta) {
  const std::string id = command_id_of(meta);
  const customer::Context ctx{meta.actor, options_.clock()};
  auto before = detail::replayed<CustomerTraits>(log_, customer::stream_id(command.customer_id), id,
                                                 *caches_);
  if (!before) return Unexpected(before.error());
  if (*before) return *(*before)->state;
  auto loaded =
      detail::load<CustomerTraits>(log_, customer::stream_id(command.customer_id), *caches_);
  if (!loaded) return Unexpected(loaded.error());
  auto events = customer::decide((*loaded)->state, customer::Command{command}, ctx);
  if (!events) return Unexpected(events.error());
  if (events->empty()) return (*loaded)->state;
  // The registration and the handle's claim go in together: "no stream" on the handle makes two
  // customers with one handle impossible, even from two processes at once.
  // So is the e-mail address's: one identity per address (sign-in finds customers by it).
  const auto email = domain::account::normalize_email(command.email);
  if (!email) return fail("invalid_request", "not an e-mail address", "email");
  const std::vector<customer::Event> claim{
      customer::HandleClaimed{ctx.now, command.handle, command.customer_id}};
  const std::vector<customer::Event> email_claim{
      customer::EmailClaimed{ctx.now, *email, command.customer_id}};
  const std::vector<log::StreamWrite> writes{
      detail::encode<CustomerTraits>(customer::stream_id(command.customer_id),
                                     log::ExpectedVersion::no_stream(), *events, meta, id, 0),
      detail::encode<CustomerTraits>(customer::handle_stream_id(command.handle),
                                     log::ExpectedVersion::no_stream(), claim, meta, id,
                                     events->size()),
      detail::encode<CustomerTraits>(customer::email_stream_id(*email),
                                     log::ExpectedVersion::no_stream(), email_claim, meta, id,
                                     events->size() + 1)};
  auto appended = log_.append(writes);
  if (!appended) {
    if (appended.error().conflict &&
        appended.error().conflict->stream == customer::handle_stream_id(command.handle)) {
      return fail("conflict", "the handle @" + command.handle + " is taken", "handle");
    }
    if (appended.error().conflict &&
        appended.error().conflict->stream == customer::email_stream_id(*email)) {
      return fail("conflict", "the address " + *email + " has an account", "email");
    }
    return Unexpected(detail::from_log(appended.error()));
  }
  return customer::fold(*events, (*loaded)->state);
}

Result<customer::State> Portal::join_project(const std::string& customer_id,
                                             const std::string& slug, const CommandMeta& meta) {
  auto p = project(slug);
  if (!p) return Unexpected(p.error());
  return run<CustomerTraits>(
      log_, *caches_, customer::stream_id(customer_id),
      customer::Command{customer::JoinProject{slug, p->settings.allowed_domains}},
      customer::Context{meta.actor, options_.clock()}, meta, options_.max_attempts);
}

Result<customer::State> Portal::leave_project(const std::string& customer_id,
                                              const std::string& slug, const CommandMeta& meta) {
  return run<CustomerTraits>(log_, *caches_, customer::stream_id(customer_id),
                             customer::Command{customer::LeaveProject{slug}},
                             customer::Context{meta.actor, options_.clock()}, meta,
                             options_.max_attempts);
}

Result<void> Portal::read_notifications(const std::string& customer_id,
                                        const domain::inbox::Command& command,
                                        const CommandMeta& meta) {
  auto events = domain::inbox::decide(
      command, domain::inbox::Context{meta.actor, options_.clock(), customer_id});
  if (!events) return Unexpected(events.error());
  if (events->empty()) return {};
  // No invariant spans two reads, so any version will do; the command id still makes a retry act
  // once (its event ids are already stored: a duplicate).
  const std::string id = command_id_of(meta);
  log::StreamWrite w{domain::inbox::stream_id(customer_id), log::ExpectedVersion::any(), {}};
  for (std::size_t i = 0; i < events->size(); ++i) {
    log::EventData d;
    if (!detail::is_fresh(id)) d.id = event_id(id, i);  // else time-ordered, from the log
    d.type = std::string(domain::inbox::type_name((*events)[i]));
    d.schema_version = domain::inbox::schema_version((*events)[i]);
    d.actor = {detail::to_log(meta.actor.realm), meta.actor.id};
    d.correlation_id = meta.correlation_id;
    d.causation_id = event_id(id, ~std::size_t{0});
    d.payload = domain::inbox::to_payload((*events)[i]);
    w.events.push_back(std::move(d));
  }
  auto appended = log_.append(w);
  if (!appended) return Unexpected(detail::from_log(appended.error()));
  return {};
}

Result<customer::State> Portal::customer(const std::string& customer_id) const {
  auto loaded = detail::load<CustomerTraits>(log_, customer::stream_id(customer_id), *caches_);
  if (!loaded) return Unexpected(loaded.error());
  if (!(*loaded)->state.exists) return fail("not_found", "no such customer");
  return (*loaded)->state;
}

Result<std::optional<std::string>> Portal::customer_by_handle(const std::string& handle) const {
  auto records =
      log_.read_stream(customer::handle_stream_id(handle), 1, log::Direction::forward, 1);
  if (!records) return Unexpected(detail::from_log(records.error()));
  if (records->empty()) return std::optional<std::string>();
  auto e = detail::decode<CustomerTraits>(records->front());
  if (!e) return Unexpected(e.error());
  const auto* claim = std::get_if<customer::HandleClaimed>(&*e);
  if (!claim) return fail("unavailable", "handle stream holds something else");
  return std::optional<std::string>(claim->customer_id);
}

// ---- Tickets ----

Result<std::string> Portal::creator_organization(const project::State& p,
                                                 const std::string& creator) const {
  auto c = customer(creator);
  if (!c) {
    return c.error().code == "not_found" ? std::string()
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
  ctx.now = options_.clock();
  ctx.project = slug;
  ctx.policies = p.settings.policies;
  ctx.limits = ticket_limits();
  if (actor.realm == domain::Realm::staff) ctx.is_project_staff = project::is_staff(p, actor.id);
  if (actor.realm == domain::Realm::customer) {
    auto c = customer(actor.id);
    if (c) {
      ctx.is_member = customer::is_member(*c, slug);
      ctx.organization = project::organization_of(p, c->email);
    } else if (c.error().code != "not_found") {
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
  auto loaded = detail::load<TicketTraits>(log_, ticket::stream_id(slug, number), *caches_);
  if (!loaded) return Unexpected(loaded.error());
  if (!(*loaded)->state.exists) return fail("not_found", "no such ticket");
  return detail::state_of<TicketTraits>(*loaded);
}

Result<std::uint64_t> Portal::highest_number(const std::string& slug) const {
  std::uint64_t known;
  {
    std::lock_guard lock(numbers_mu_);
    known = last_number_[slug];
  }
  // Numbers are dense (each is taken by a "no stream" append), so the highest is found by
  // doubling past the known bound, then bisecting.
  auto taken = [&](std::uint64_t n) -> Result<bool> {
    auto v = log_.stream_version(ticket::stream_id(slug, n));
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
  std::lock_guard lock(numbers_mu_);
  last_number_[slug] = std::max(last_number_[slug], low);
  return low;
}

Result<std::uint64_t> Portal::reserve_number(const std::string& slug) {
  bool probed;
  {
    std::lock_guard lock(numbers_mu_);
    probed = probed_.contains(slug);
    if (probed) return ++last_number_[slug];
  }
  auto highest = highest_number(slug);  // updates last_number_
  if (!highest) return Unexpected(highest.error());
  std::lock_guard lock(numbers_mu_);
  probed_.insert(slug);
  return ++last_number_[slug];
}

void Portal::release_number(const std::string& slug, std::uint64_t number) {
  // Give back the newest reservation if it went unused, so numbers stay dense.
  std::lock_guard lock(numbers_mu_);
  if (last_number_[slug] == number) --last_number_[slug];
}

Result<TicketOutcome> Portal::open_ticket(const std::string& slug, ticket::OpenTicket command,
                                          const CommandMeta& meta) {
  const std::string id = command_id_of(meta);
  // The same open retried while the first try is still running waits for it here (so it does not
  // take a second number), then finds its ticket below.
  std::unique_lock in_flight(opens_mu_);
  opens_cv_.wait(in_flight, [&] { return !opens_in_flight_.contains(id); });
  opens_in_flight_.insert(id);
  in_flight.unlock();
  struct Done {
    Portal& portal;
    const std::string& id;
    ~Done() {
      {
        std::lock_guard lock(portal.opens_mu_);
        portal.opens_in_flight_.erase(id);
      }
      portal.opens_cv_.notify_all();
    }
  } done{*this, id};
  // A retry of an open that went through answers with the ticket it opened.
  if (auto first = detail::is_fresh(id) ? log::LogResult<std::optional<log::Record>>(std::nullopt)
                                        : log_.find(event_id(id, 0));
      !first) {
    return Unexpected(detail::from_log(first.error()));
  } else if (*first) {
    auto r = detail::replayed<TicketTraits>(log_, (*first)->stream, id, *caches_);
    if (!r) return Unexpected(r.error());
    return TicketOutcome{std::move((*r)->state), std::move((*r)->events), (*r)->version, true};
  }
  auto p = project(slug);
  if (!p) return Unexpected(p.error());
  auto ctx = ticket_context(*p, meta.actor, "");
  if (!ctx) return Unexpected(ctx.error());
  ctx->command_id = id;
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
  for (int attempt = 0; attempt < options_.max_number_attempts; ++attempt) {
    // Threads of this process take numbers from a counter, so they never race each other for
    // one; only another process on the same log can take a number first (then: look again).
    auto reserved = reserve_number(slug);
    if (!reserved) return Unexpected(reserved.error());
    command.number = *reserved;
    auto events = ticket::decide(ticket::State{}, command, *ctx);
    if (!events) {
      release_number(slug, command.number);
      return Unexpected(events.error());
    }
    const std::string stream = ticket::stream_id(slug, command.number);
    auto appended = log_.append(detail::encode<TicketTraits>(
        stream, log::ExpectedVersion::no_stream(), *events, meta, id, 0));
    if (appended) {
      if (appended->duplicate) {
        auto r = detail::replayed<TicketTraits>(log_, stream, id, *caches_);
        if (!r) return Unexpected(r.error());
        return TicketOutcome{std::move((*r)->state), std::move((*r)->events), (*r)->version, true};
      }
      return TicketOutcome{std::make_shared<const ticket::State>(ticket::fold(*events)),
                           std::move(*events), appended->events.back().stream_version, false};
    }
    if (appended.error().code != log::Errc::conflict) {
      release_number(slug, command.number);
      return Unexpected(detail::from_log(appended.error()));
    }
    release_number(slug, command.number);
    // The same command, retried while the first try was in flight, may have won elsewhere.
    if (!detail::is_fresh(id)) {
      auto first = log_.find(event_id(id, 0));
      if (!first) return Unexpected(detail::from_log(first.error()));
      if (*first) {
        auto r = detail::replayed<TicketTraits>(log_, (*first)->stream, id, *caches_);
        if (!r) return Unexpected(r.error());
        return TicketOutcome{std::move((*r)->state), std::move((*r)->events), (*r)->version, true};
      }
    }
    // Another process took this number: the next reservation probes past the highest taken.
    {
      std::lock_guard lock(numbers_mu_);
      probed_.erase(slug);
    }
    detail::backoff(attempt);
  }
  return fail("conflict", "could not find a free ticket number; try again");
}

Result<TicketOutcome> Portal::execute(const std::string& slug, std::uint64_t number,
                                      const ticket::Command& command, const CommandMeta& meta) {
  if (std::holds_alternative<ticket::OpenTicket>(command)) {
    return fail("invalid_request", "tickets are opened with open_ticket, which picks the number");
  }
  const std::string id = command_id_of(meta);
  std::string_view body;
  if (const auto* r = std::get_if<ticket::PostReply>(&command)) body = r->body;
  if (const auto* r = std::get_if<ticket::PostStaffMessage>(&command)) body = r->body;
  auto p = project(slug);  // once: the context, the creator's organisation, allowed domains
  if (!p) {
    if (p.error().code == "not_found") return fail("not_found", "no such ticket");
    return Unexpected(p.error());
  }
  // No @mention is looked up yet: that waits until the command passed without them (below).
  auto ctx = ticket_context(*p, meta.actor, "");
  if (!ctx) return Unexpected(ctx.error());
  ctx->command_id = id;
  std::optional<std::vector<ticket::MentionCandidate>> candidates;  // once, across attempts
  const std::string stream = ticket::stream_id(slug, number);
  // The context for one attempt on the ticket as loaded: the time is read now (under the
  // ticket's turn, so times never go backwards along its stream), and the ticket's organisation
  // is its creator's under the project's current settings.
  auto context_for = [&](const ticket::State& state) -> Result<ticket::Context> {
    ticket::Context c = *ctx;
    c.now = std::max(options_.clock(), state.updated_at);
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
    if (!ticket::can_read(*state, *c)) return fail("not_found", "no such ticket");
    return TicketOutcome{std::move(state), std::move(events), version, true};
  };

  std::lock_guard turn(ticket_turns_[std::hash<std::string>{}(stream) % ticket_turns_.size()]);
  // Joining through an invite also makes the customer a member: both streams in one append.
  if (std::holds_alternative<ticket::JoinByInvite>(command) && !ctx->is_member &&
      meta.actor.realm == domain::Realm::customer) {
    auto before = detail::replayed<TicketTraits>(log_, stream, id, *caches_);
    if (!before) return Unexpected(before.error());
    if (*before) {
      return answer_replay(std::move((*before)->state), std::move((*before)->events),
                           (*before)->version);
    }
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      auto t = detail::load<TicketTraits>(log_, stream, *caches_);
      if (!t) return Unexpected(t.error());
      auto c = detail::load<CustomerTraits>(log_, customer::stream_id(meta.actor.id), *caches_);
      if (!c) return Unexpected(c.error());
      auto attempt_ctx = context_for((*t)->state);
      if (!attempt_ctx) return Unexpected(attempt_ctx.error());
      auto ticket_events = ticket::decide((*t)->state, command, *attempt_ctx);
      if (!ticket_events) return Unexpected(ticket_events.error());
      auto member_events = customer::decide(
          (*c)->state, customer::Command{customer::JoinProject{slug, p->settings.allowed_domains}},
          customer::Context{meta.actor, attempt_ctx->now});
      if (!member_events) return Unexpected(member_events.error());
      std::vector<log::StreamWrite> writes;
      if (!ticket_events->empty()) {
        writes.push_back(detail::encode<TicketTraits>(
            stream, log::ExpectedVersion::exactly((*t)->version), *ticket_events, meta, id, 0));
      }
      if (!member_events->empty()) {
        writes.push_back(detail::encode<CustomerTraits>(
            customer::stream_id(meta.actor.id), log::ExpectedVersion::exactly((*c)->version),
            *member_events, meta, id, ticket_events->size()));
      }
      if (writes.empty()) {
        return TicketOutcome{detail::state_of<TicketTraits>(*t), {}, (*t)->version, false};
      }
      auto appended = log_.append(writes);
      if (appended) {
        const std::uint64_t version = (*t)->version + ticket_events->size();
        return TicketOutcome{
            std::make_shared<const ticket::State>(ticket::fold(*ticket_events, (*t)->state)),
            std::move(*ticket_events), version, appended->duplicate};
      }
      if (appended.error().code != log::Errc::conflict) {
        return Unexpected(detail::from_log(appended.error()));
      }
      detail::backoff(attempt);
    }
    return fail("conflict", "the ticket kept changing under this command; try again");
  }

  auto done = detail::execute<TicketTraits>(
      log_, stream, meta, id, options_.max_attempts, *caches_,
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
      });
  if (!done) return Unexpected(done.error());
  if (done->replayed) {
    return answer_replay(std::move(done->state), std::move(done->events), done->version);
  }
  return TicketOutcome{std::move(done->state), std::move(done->events), done->version, false};
}

Portal::~Portal() = default;

}  // namespace portico::service
