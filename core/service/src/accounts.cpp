#include <sodium.h>

#include <fstream>
#include <mutex>
#include <portico/service/accounts.hpp>
#include <portico/service/tokens.hpp>
#include <unordered_map>
#include <unordered_set>

#include "second_factor.hpp"
#include "store.hpp"

namespace portico::service {

namespace account = domain::account;
namespace customer = domain::customer;
namespace project = domain::project;
namespace totp = domain::totp;
using detail::AccountTraits;
using detail::CustomerTraits;
using domain::Realm;
using domain::TimeUs;

namespace {

// Every sign-in decision is retried this often after a concurrent write before answering
// conflict (two sign-ins of one new address at once, say).
constexpr int kAttempts = 8;

Unexpected<Error> invalid_token() {
  return fail(errc::kInvalidToken, "this link is unknown, was already used or has expired");
}
Unexpected<Error> unauthenticated() {
  return fail(errc::kUnauthenticated, "sign in first (the session is missing, ended or expired)");
}
Unexpected<Error> invalid_credentials() {
  return fail(errc::kInvalidCredentials, "the e-mail address or the password is wrong");
}

// A sign-in decision's writes: its own random command id (a sign-in is never retried by id, so
// its events get time-ordered ids from the log), over several streams.
detail::Writes writes_by(domain::Actor actor) {
  CommandMeta meta;
  meta.actor = std::move(actor);
  return detail::Writes{std::move(meta),
                        std::string(detail::kFreshCommandPrefix) + log::new_uuid_v4().to_string(),
                        {}};
}

// A decision over sign-in streams: none of them can have acted before (random ids).
template <class Answer, class Attempt>
Result<Answer> decide(log::Log& log, std::string_view what, Attempt&& attempt) {
  return detail::decide<Answer>(log, kAttempts, what, std::forward<Attempt>(attempt),
                                detail::never_before<Answer>);
}

template <class Answer>
using Decision = detail::Decision<Answer>;

// A two-factor rule's event with what the caller is answered when it is recorded.
template <class Answer>
Result<std::pair<totp::Event, Answer>> with_answer(Result<totp::Event> event, Answer answer) {
  if (!event) return Unexpected(event.error());
  return std::pair<totp::Event, Answer>{std::move(*event), std::move(answer)};
}

}  // namespace

Result<std::function<bool(std::string_view)>> load_password_list(
    const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return fail(errc::kUnavailable, "cannot read the password deny list " + file.string());
  auto words = std::make_shared<std::unordered_set<std::string>>();
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.starts_with("#!comment")) continue;
    for (char& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    words->insert(line);
  }
  if (words->empty())
    return fail(errc::kUnavailable,
                "the password deny list " + file.string() + " holds no password");
  return std::function<bool(std::string_view)>([words](std::string_view password) {
    std::string folded(password);
    for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return words->contains(folded);
  });
}

struct Accounts::Impl {
  log::Log& log;
  Portal& portal;
  AccountsOptions options;
  detail::Caches& caches;  // the Portal's: one folded state per stream, shared
  std::string dummy_hash;  // verified against when there is no account, so timing tells nothing
  // Session refreshes appended but not yet committed (session stream -> time): authenticate folds
  // them in, so that this process never judges a session by activity older than it recorded.
  // Shared with the append callbacks, which may outlive the Accounts.
  struct Refreshing {
    std::mutex mu;
    std::unordered_map<std::string, TimeUs> at;
  };
  std::shared_ptr<Refreshing> refreshing = std::make_shared<Refreshing>();
  detail::SecondFactor second_factor;

  Impl(log::Log& l, Portal& p, AccountsOptions o)
      : log(l),
        portal(p),
        options(std::move(o)),
        caches(detail::caches_of(p)),
        second_factor(options.server_key) {
    // The Portal's clock unless given one: a test that fakes time sets it once.
    if (!options.clock) options.clock = [&p] { return p.now(); };
    if (sodium_init() < 0) std::abort();  // no randomness: refuse to hand out secrets
    dummy_hash = hash_password(new_token()).value();
  }

  TimeUs now() const { return options.clock(); }

  // What `code` is for `state` now (a TOTP code's time step, a recovery code, nothing, wrong).
  totp::Presented presented(const totp::State& state, std::string_view code, bool pending) const {
    return second_factor.match(state, code, pending, now() / domain::kSecond);
  }

  // Runs `rule` on the two-factor state of the caller's own account (customer or staff) and
  // appends the event it decides, at the version it was decided on. `rule` returns
  // Result<std::pair<totp::Event, Answer>>.
  template <class Answer, class Rule>
  Result<Answer> change_totp(const Caller& who, Rule&& rule) {
    if (who.realm == Realm::customer) {
      return change_totp_on<CustomerTraits, Answer>(customer::stream_id(who.id), who, rule);
    }
    if (who.realm == Realm::staff) {
      return change_totp_on<AccountTraits, Answer>(account::staff_stream(who.id), who, rule);
    }
    return fail(errc::kForbidden, "only people sign in with two factors");
  }
  template <class Traits, class Answer, class Rule>
  Result<Answer> change_totp_on(const std::string& stream, const Caller& who, Rule& rule) {
    return decide<Answer>(log, "two-factor sign-in", [&](int) -> Result<Decision<Answer>> {
      auto loaded = load<Traits>(stream);
      if (!loaded) return Unexpected(loaded.error());
      if (!(*loaded)->state.exists) return fail(errc::kNotFound, "no such account");
      auto decided = rule((*loaded)->state);
      if (!decided) return Unexpected(decided.error());
      auto writes = writes_by({who.realm, who.id});
      writes.add<Traits>(stream, log::ExpectedVersion::exactly((*loaded)->version),
                         {totp::widen<typename Traits::Event>(decided->first)});
      return Decision<Answer>{std::move(writes).take(), std::move(decided->second)};
    });
  }

  Result<std::string> hash_password(std::string_view password) const {
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), options.argon2_passes,
                              options.argon2_memory, crypto_pwhash_ALG_ARGON2ID13) != 0) {
      return fail(errc::kUnavailable, "out of memory hashing a password");
    }
    return std::string(out);
  }

  bool password_matches(const std::string& hash, std::string_view password) const {
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
  }

  template <class T>
  Result<detail::Snapshot<T>> load(const std::string& stream) const {
    return detail::load<T>(log, stream, caches);
  }

  Result<project::State> project_offering(const std::string& slug, std::string_view method) const {
    if (!project::valid_slug(slug)) return fail(errc::kNotFound, "no such project");
    auto p = portal.project(slug);
    if (!p) return Unexpected(p.error());
    if (!p->exists) return fail(errc::kNotFound, "no such project");
    const auto& methods = p->settings.sign_in;
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) {
      return fail(errc::kForbidden, "this project does not offer this way of signing in");
    }
    return p;
  }

  static Result<std::string> email_of(std::string_view email) {
    auto e = account::normalize_email(email);
    if (!e) return fail(errc::kInvalidRequest, "not an e-mail address", "email");
    return *e;
  }

  Result<std::optional<std::string>> customer_by_email(const std::string& email) const {
    auto claim = load<CustomerTraits>(customer::email_stream_id(email));
    if (!claim) return Unexpected(claim.error());
    if (!(*claim)->state.exists) return std::optional<std::string>();
    return std::optional<std::string>((*claim)->state.claimed_by);
  }

  // A new customer identity for `email`, with a handle that is free now (the append's "no
  // stream" on the handle settles a race for it).
  // `email` may be "" (a provider's identity that vouched for no address): the handle and the
  // name then come from `display_name`.
  Result<account::NewIdentity> identity_for(const std::string& email,
                                            std::string_view display_name) const {
    const std::string id = log::new_uuid_v7().to_string();
    const std::string base =
        email.empty() ? account::handle_from_name(display_name) : account::handle_from_email(email);
    std::string handle = base;
    for (int i = 0;; ++i) {
      auto taken = portal.customer_by_handle(handle);
      if (!taken) return Unexpected(taken.error());
      if (!*taken) break;
      if (i == 16) return fail(errc::kConflict, "no free handle for " + base);
      handle = base.substr(0, 24) + "-" + std::to_string(randombytes_uniform(100000));
    }
    std::string name(domain::trim(display_name));
    if (name.empty()) name = email.substr(0, email.find('@'));
    return account::NewIdentity{id, email, std::move(name), std::move(handle)};
  }

  static void add(detail::Writes& writes, const account::NewIdentity& who,
                  const account::IdentityEvents& events) {
    writes.add<CustomerTraits>(customer::stream_id(who.customer_id),
                               log::ExpectedVersion::no_stream(), events.customer);
    writes.add<CustomerTraits>(customer::handle_stream_id(who.handle),
                               log::ExpectedVersion::no_stream(), events.handle);
    if (!who.email.empty()) {
      writes.add<CustomerTraits>(customer::email_stream_id(who.email),
                                 log::ExpectedVersion::no_stream(), events.email);
    }
  }

  // The stream that says which customer an identity at a provider signs in as.
  static std::string identity_stream(std::string_view issuer, std::string_view subject) {
    return customer::identity_stream_id(
        token_hash(std::string(issuer) + '\n' + std::string(subject)));
  }

  // Decides `rule(customer, identity)` over the customer's stream and the identity's, which
  // `stream_of(customer)` names, and appends what it answers (account::LinkEvents) to both at
  // the versions read.
  template <class StreamOf, class Rule>
  Result<void> change_identity(const std::string& customer_id, StreamOf stream_of, Rule rule) {
    auto done = decide<bool>(log, "the account", [&](int) -> Result<Decision<bool>> {
      auto c = load<CustomerTraits>(customer::stream_id(customer_id));
      if (!c) return Unexpected(c.error());
      Result<std::string> stream = stream_of((*c)->state);
      if (!stream) return Unexpected(stream.error());
      auto claim = load<CustomerTraits>(*stream);
      if (!claim) return Unexpected(claim.error());
      Result<account::LinkEvents> events = rule((*c)->state, (*claim)->state);
      if (!events) return Unexpected(events.error());
      auto writes = writes_by({Realm::customer, customer_id});
      writes.add<CustomerTraits>(customer::stream_id(customer_id),
                                 log::ExpectedVersion::exactly((*c)->version), events->customer);
      writes.add<CustomerTraits>(*stream, log::ExpectedVersion::exactly((*claim)->version),
                                 events->claim);
      return Decision<bool>{std::move(writes).take(), true};
    });
    if (!done) return Unexpected(done.error());
    return {};
  }

  // A display name from a provider, as a new customer's: theirs when it is a valid one, else
  // nothing (identity_for falls back on the address's local part, or "Customer").
  static std::string provider_name(const account::ProviderClaims& claims) {
    auto name = account::check_display_name(claims.display_name);
    if (name) return *name;
    auto email = account::normalize_email(claims.email);
    if (email) return email->substr(0, email->find('@'));
    return "Customer";
  }

  // What a sign-in adds on top of the session: the token's use, the customer's own events.
  struct CustomerSignIn {
    std::string project;
    std::string email;
    std::string display_name;  // for a new identity
    std::string method;
    bool create = false;  // make the identity when the address has none
    std::optional<std::pair<std::string, std::uint64_t>> token;  // stream, version to use it at
    const account::TokenIssued* link = nullptr;  // the link followed (account::follow_link)
    // A password sign-in's second factor as presented ("" for none); unset for e-mailed links.
    std::optional<std::string_view> totp;
  };

  Result<NewSession> sign_in_customer(const CustomerSignIn& in) {
    return decide<NewSession>(log, "the account", [&](int) -> Result<Decision<NewSession>> {
      auto p = portal.project(in.project);
      if (!p) return Unexpected(p.error());
      if (!p->exists) return fail(errc::kNotFound, "no such project");
      auto owner = customer_by_email(in.email);
      if (!owner) return Unexpected(owner.error());
      const TimeUs t = now();
      std::optional<account::NewIdentity> made;
      account::IdentityEvents identity;
      customer::State state;
      std::uint64_t version = 0;
      if (*owner) {
        auto loaded = load<CustomerTraits>(customer::stream_id(**owner));
        if (!loaded) return Unexpected(loaded.error());
        state = (*loaded)->state;
        version = (*loaded)->version;
      } else {
        if (!in.create) return invalid_token();
        auto who = identity_for(in.email, in.display_name);
        if (!who) return Unexpected(who.error());
        auto events = account::new_identity(*who, t);
        if (!events) return Unexpected(events.error());
        made = std::move(*who);
        identity = std::move(*events);
        state = customer::fold(identity.customer);
      }
      const std::string id = made ? made->customer_id : **owner;
      std::vector<customer::Event> events;
      if (in.totp) {
        auto second = totp::sign_in(state.totp, presented(state.totp, *in.totp, false), t);
        if (!second) return Unexpected(second.error());
        if (*second) events.push_back(totp::widen<customer::Event>(**second));
      }
      if (in.link) {
        auto own = account::follow_link(state, *in.link, t);
        if (!own) return Unexpected(own.error());
        events = std::move(*own);
      }
      auto writes = writes_by({Realm::customer, id});
      if (auto joined = join_and_add(writes, *p, id, std::move(state), version, std::move(events),
                                     made, identity, t);
          !joined) {
        return Unexpected(joined.error());
      }
      std::vector<std::pair<std::string, Error>> final_on;
      if (in.token) {
        writes.add<AccountTraits>(in.token->first, log::ExpectedVersion::exactly(in.token->second),
                                  {account::TokenUsed{t}});
        final_on.emplace_back(in.token->first, invalid_token().error());  // used meanwhile
      }
      NewSession session = start(writes, Realm::customer, id, in.project, in.method);
      return Decision<NewSession>{std::move(writes).take(), std::move(session),
                                  std::move(final_on)};
    });
  }

  // What every customer sign-in appends to the customer's stream: `events` (decided on `state`,
  // at `version`), then the membership of project `p` (its allowed domains apply). A new identity
  // (`made`) is written whole, its sign-in events after its registration.
  Result<void> join_and_add(detail::Writes& writes, const project::State& p, const std::string& id,
                            customer::State state, std::uint64_t version,
                            std::vector<customer::Event> events,
                            const std::optional<account::NewIdentity>& made,
                            account::IdentityEvents& identity, TimeUs t) const {
    state = customer::fold(events, std::move(state));
    auto joined = customer::decide(state, customer::JoinProject{p.slug, p.settings.allowed_domains},
                                   {{Realm::customer, id}, t});
    if (!joined) return Unexpected(joined.error());
    events.insert(events.end(), joined->begin(), joined->end());
    if (made) {
      identity.customer.insert(identity.customer.end(), events.begin(), events.end());
      add(writes, *made, identity);
    } else {
      writes.add<CustomerTraits>(customer::stream_id(id), log::ExpectedVersion::exactly(version),
                                 events);
    }
    return {};
  }

  // Adds a session to `writes` and returns its secrets.
  NewSession start(detail::Writes& writes, Realm realm, const std::string& subject,
                   const std::string& project_slug, const std::string& method) {
    std::string token = new_token();
    std::string csrf = csrf_token(token);
    NewSession s{std::move(token), std::move(csrf), realm, subject, project_slug};
    writes.add<AccountTraits>(
        account::session_stream(token_hash(s.token)), log::ExpectedVersion::no_stream(),
        {account::start_session(realm, subject, project_slug, method, token_hash(s.csrf), now(),
                                {options.session_idle, options.session_absolute})});
    return s;
  }

  // The token's stream and state, when it can be used now for `purpose`.
  Result<std::pair<std::string, detail::Snapshot<AccountTraits>>> usable_token(
      std::string_view token, account::Purpose purpose) const {
    if (token.empty() || token.size() > 256) return invalid_token();
    std::string stream = account::token_stream(token_hash(token));
    auto loaded = load<AccountTraits>(stream);
    if (!loaded) return Unexpected(loaded.error());
    if (!account::token_usable((*loaded)->state, purpose, now())) return invalid_token();
    // A password reset since the token was issued voids it (security review L2).
    const account::TokenIssued& issued = *(*loaded)->state.token;
    std::string customer_id = issued.customer_id;
    if (customer_id.empty()) {
      auto owner = customer_by_email(issued.email);
      if (!owner) return Unexpected(owner.error());
      if (*owner) customer_id = **owner;
    }
    if (!customer_id.empty()) {
      auto c = load<CustomerTraits>(customer::stream_id(customer_id));
      if (!c) return Unexpected(c.error());
      if (account::token_voided(issued, (*c)->state.sessions_valid_from)) return invalid_token();
    }
    return std::pair{std::move(stream), std::move(*loaded)};
  }

  // Issues a one-time token for `purpose` and returns it.
  Result<std::string> issue(account::TokenIssued issued, const std::string& actor_id) {
    return decide<std::string>(log, "the token", [&](int) -> Result<Decision<std::string>> {
      std::string token = new_token();
      auto writes = writes_by(actor_id.empty() ? domain::system_actor()
                                               : domain::Actor{Realm::customer, actor_id});
      writes.add<AccountTraits>(account::token_stream(token_hash(token)),
                                log::ExpectedVersion::no_stream(), {issued});
      return Decision<std::string>{std::move(writes).take(), std::move(token)};
    });
  }
};

Accounts::Accounts(log::Log& log, Portal& portal, AccountsOptions options)
    : impl_(std::make_unique<Impl>(log, portal, std::move(options))) {}

Accounts::~Accounts() = default;

Result<Mailing> Accounts::request_magic_link(const std::string& slug, std::string_view email) {
  auto p = impl_->project_offering(slug, "magic_link");
  if (!p) return Unexpected(p.error());
  auto address = Impl::email_of(email);
  if (!address) return Unexpected(address.error());
  if (!project::domain_allowed(*p, *address)) {
    return fail(errc::kDomainNotAllowed, "this project admits only addresses of its own domains");
  }
  const TimeUs t = impl_->now();
  auto token = impl_->issue(
      {t, account::Purpose::magic_link, slug, *address, {}, 0, t + impl_->options.magic_link_ttl},
      {});
  if (!token) return Unexpected(token.error());
  Mailing m{*address,
            std::move(*token),
            account::Purpose::magic_link,
            slug,
            {},
            impl_->options.magic_link_ttl};
  if (auto owner = impl_->customer_by_email(*address); owner && *owner) {
    if (auto c = impl_->portal.customer(**owner)) m.display_name = c->display_name;
  }
  return m;
}

Result<NewSession> Accounts::use_magic_link(std::string_view token) {
  auto t = impl_->usable_token(token, account::Purpose::magic_link);
  if (!t) return Unexpected(t.error());
  const account::TokenIssued& issued = *t->second->state.token;
  return impl_->sign_in_customer({issued.project,
                                  issued.email,
                                  {},
                                  "magic_link",
                                  true,
                                  std::pair{t->first, t->second->version},
                                  &issued});
}

Result<Mailing> Accounts::register_customer(const std::string& slug, std::string_view email,
                                            std::string_view password,
                                            std::string_view display_name) {
  auto r = prepare_registration(slug, email, password, display_name);
  if (!r) return Unexpected(r.error());
  return complete_registration(*r);
}

Result<Registration> Accounts::prepare_registration(const std::string& slug, std::string_view email,
                                                    std::string_view password,
                                                    std::string_view display_name) {
  auto p = impl_->project_offering(slug, "password");
  if (!p) return Unexpected(p.error());
  auto address = Impl::email_of(email);
  if (!address) return Unexpected(address.error());
  auto name = account::check_display_name(display_name);
  if (!name) return Unexpected(name.error());
  if (!project::domain_allowed(*p, *address)) {
    return fail(errc::kDomainNotAllowed, "this project admits only addresses of its own domains");
  }
  if (auto weak = account::check_password(password, *address, impl_->options.password_rules);
      !weak) {
    return Unexpected(weak.error());
  }
  // Hashed whether or not the address is taken: the cost says nothing about it.
  auto hash = impl_->hash_password(password);
  if (!hash) return Unexpected(hash.error());
  return Registration{slug, *address, std::move(*name), std::move(*hash)};
}

Result<Mailing> Accounts::complete_registration(const Registration& r) {
  return decide<Mailing>(impl_->log, "the account", [&](int) -> Result<Decision<Mailing>> {
    auto owner = impl_->customer_by_email(r.email);
    if (!owner) return Unexpected(owner.error());
    if (*owner) {
      // The address has an identity already (a magic-link customer, an earlier registration,
      // perhaps with a password): a registration cannot prove the address, so it changes
      // nothing and its owner is told instead (security review M1).
      auto c = impl_->portal.customer(**owner);
      if (!c) return Unexpected(c.error());
      return Decision<Mailing>{
          {}, {r.email, {}, account::Purpose::verify_email, r.project, c->display_name}};
    }
    auto who = impl_->identity_for(r.email, r.display_name);
    if (!who) return Unexpected(who.error());
    auto events = account::register_with_password(*who, r.hash, r.project, impl_->now(),
                                                  impl_->options.verify_email_ttl);
    if (!events) return Unexpected(events.error());
    auto writes = writes_by({Realm::customer, who->customer_id});
    Impl::add(writes, *who, events->identity);
    std::string token = new_token();
    writes.add<AccountTraits>(account::token_stream(token_hash(token)),
                              log::ExpectedVersion::no_stream(), {events->verification});
    // No name in a mail to an address nobody has proven yet: the registrant chose it, and the
    // mail goes to whatever address they typed (security review L6).
    return Decision<Mailing>{std::move(writes).take(),
                             {r.email,
                              std::move(token),
                              account::Purpose::verify_email,
                              r.project,
                              {},
                              impl_->options.verify_email_ttl}};
  });
}

Result<Accounts::LinkInfo> Accounts::describe_link(std::string_view token) {
  for (auto purpose : {account::Purpose::magic_link, account::Purpose::verify_email}) {
    auto t = impl_->usable_token(token, purpose);
    if (!t) {
      if (t.error().code == errc::kInvalidToken) continue;
      return Unexpected(t.error());
    }
    const account::TokenIssued& issued = *t->second->state.token;
    return LinkInfo{purpose, issued.email, issued.project};
  }
  return invalid_token();
}

Result<NewSession> Accounts::verify_email(std::string_view token) {
  auto t = impl_->usable_token(token, account::Purpose::verify_email);
  if (!t) return Unexpected(t.error());
  const account::TokenIssued& issued = *t->second->state.token;
  return impl_->sign_in_customer({issued.project,
                                  issued.email,
                                  {},
                                  "verify_email",
                                  false,
                                  std::pair{t->first, t->second->version},
                                  &issued});
}

Result<NewSession> Accounts::sign_in(const std::string& slug, std::string_view email,
                                     std::string_view password, std::string_view code) {
  auto p = impl_->project_offering(slug, "password");
  if (!p) return Unexpected(p.error());
  if (password.size() > 4 * impl_->options.password_rules.max_length) {
    return invalid_credentials();
  }
  auto address = account::normalize_email(email);
  std::optional<customer::State> found;
  if (address) {
    auto owner = impl_->customer_by_email(*address);
    if (!owner) return Unexpected(owner.error());
    if (*owner) {
      auto c = impl_->portal.customer(**owner);
      if (!c) return Unexpected(c.error());
      found = std::move(*c);
    }
  }
  const bool has_password = found && !found->password_hash.empty();
  const bool matches =
      impl_->password_matches(has_password ? found->password_hash : impl_->dummy_hash, password);
  if (auto ok = account::check_password_sign_in(found ? &*found : nullptr, matches); !ok) {
    return Unexpected(ok.error());
  }
  return impl_->sign_in_customer(
      {slug, *address, {}, "password", false, std::nullopt, nullptr, code});
}

Result<NewSession> Accounts::sign_in_with_identity(const std::string& slug,
                                                   const account::ProviderClaims& claims) {
  auto offered = impl_->project_offering(slug, claims.provider);
  if (!offered) return Unexpected(offered.error());
  const std::string claim_stream = Impl::identity_stream(claims.issuer, claims.subject);
  const std::string vouched = account::vouched_email(claims);
  return decide<NewSession>(impl_->log, "the account", [&](int) -> Result<Decision<NewSession>> {
    auto p = impl_->portal.project(slug);
    if (!p) return Unexpected(p.error());
    const TimeUs t = impl_->now();
    auto claim = impl_->load<CustomerTraits>(claim_stream);
    if (!claim) return Unexpected(claim.error());
    // The customer the identity is linked to, else the one holding the vouched address.
    std::string id = (*claim)->state.claimed_by;
    if (id.empty() && !vouched.empty()) {
      auto owner = impl_->customer_by_email(vouched);
      if (!owner) return Unexpected(owner.error());
      if (*owner) id = **owner;
    }
    std::optional<account::NewIdentity> made;
    account::IdentityEvents identity;
    customer::State state;
    std::uint64_t version = 0;
    if (!id.empty()) {
      auto loaded = impl_->load<CustomerTraits>(customer::stream_id(id));
      if (!loaded) return Unexpected(loaded.error());
      state = (*loaded)->state;
      version = (*loaded)->version;
    } else {
      auto who = impl_->identity_for(vouched, Impl::provider_name(claims));
      if (!who) return Unexpected(who.error());
      auto events = account::new_identity(*who, t);
      if (!events) return Unexpected(events.error());
      id = who->customer_id;
      made = std::move(*who);
      identity = std::move(*events);
      state = customer::fold(identity.customer);
    }
    account::LinkEvents linked;
    if ((*claim)->state.claimed_by.empty()) {
      auto link = account::link_identity(state, (*claim)->state, claims, t);
      if (!link) return Unexpected(link.error());
      linked = std::move(*link);
    }
    auto writes = writes_by({Realm::customer, id});
    if (auto joined = impl_->join_and_add(writes, *p, id, std::move(state), version,
                                          std::move(linked.customer), made, identity, t);
        !joined) {
      return Unexpected(joined.error());
    }
    writes.add<CustomerTraits>(claim_stream, log::ExpectedVersion::exactly((*claim)->version),
                               linked.claim);
    NewSession session = impl_->start(writes, Realm::customer, id, slug, claims.provider);
    return Decision<NewSession>{std::move(writes).take(), std::move(session)};
  });
}

Result<void> Accounts::link_identity(const std::string& customer_id,
                                     const account::ProviderClaims& claims) {
  return impl_->change_identity(
      customer_id,
      [&](const customer::State&) -> Result<std::string> {
        return Impl::identity_stream(claims.issuer, claims.subject);
      },
      [&](const customer::State& c, const customer::State& claim) {
        return account::link_identity(c, claim, claims, impl_->now());
      });
}

Result<void> Accounts::unlink_identity(const std::string& customer_id, std::string_view provider) {
  return impl_->change_identity(
      customer_id,
      [&](const customer::State& c) -> Result<std::string> {
        const customer::Identity* identity = customer::identity_of(c, provider);
        if (identity == nullptr) return fail(errc::kNotFound, "no identity of this provider");
        return Impl::identity_stream(identity->issuer, identity->subject);
      },
      [&](const customer::State& c, const customer::State&) {
        return account::unlink_identity(c, provider, impl_->now());
      });
}

Result<void> Accounts::check_password_reset(const std::string& slug, std::string_view email) {
  auto p = impl_->project_offering(slug, "password");
  if (!p) return Unexpected(p.error());
  auto address = Impl::email_of(email);
  if (!address) return Unexpected(address.error());
  return {};
}

Result<std::optional<Mailing>> Accounts::request_password_reset(const std::string& slug,
                                                                std::string_view email) {
  auto p = impl_->project_offering(slug, "password");
  if (!p) return Unexpected(p.error());
  auto address = Impl::email_of(email);
  if (!address) return Unexpected(address.error());
  auto owner = impl_->customer_by_email(*address);
  if (!owner) return Unexpected(owner.error());
  if (!*owner || !project::domain_allowed(*p, *address)) return std::optional<Mailing>();
  auto c = impl_->portal.customer(**owner);
  if (!c) return Unexpected(c.error());
  const TimeUs t = impl_->now();
  auto token = impl_->issue({t, account::Purpose::password_reset, slug, *address, **owner, 0,
                             t + impl_->options.password_reset_ttl},
                            **owner);
  if (!token) return Unexpected(token.error());
  return std::optional<Mailing>(Mailing{*address, *token, account::Purpose::password_reset, slug,
                                        c->display_name, impl_->options.password_reset_ttl});
}

Result<void> Accounts::reset_password(std::string_view token, std::string_view password) {
  auto t = impl_->usable_token(token, account::Purpose::password_reset);
  if (!t) return Unexpected(t.error());
  const account::TokenIssued& issued = *t->second->state.token;
  if (auto weak = account::check_password(password, issued.email, impl_->options.password_rules);
      !weak) {
    return Unexpected(weak.error());
  }
  auto hash = impl_->hash_password(password);
  if (!hash) return Unexpected(hash.error());
  return detail::as_void(decide<std::monostate>(
      impl_->log, "the account", [&](int) -> Result<Decision<std::monostate>> {
        auto writes = writes_by({Realm::customer, issued.customer_id});
        // Any version of the customer will do: the reset replaces whatever password there was.
        writes.add<CustomerTraits>(customer::stream_id(issued.customer_id),
                                   log::ExpectedVersion::any(),
                                   {customer::PasswordSet{impl_->now(), *hash, true, true}});
        writes.add<AccountTraits>(t->first, log::ExpectedVersion::exactly(t->second->version),
                                  {account::TokenUsed{impl_->now()}});
        return Decision<std::monostate>{
            std::move(writes).take(), {}, {{t->first, invalid_token().error()}}};
      }));
}

Result<void> Accounts::set_customer_password(const std::string& customer_id,
                                             std::string_view password) {
  auto c = impl_->portal.customer(customer_id);
  if (!c) return Unexpected(c.error());
  if (!c->exists) return fail(errc::kNotFound, "no such customer");
  if (auto weak = account::check_password(password, c->email, impl_->options.password_rules);
      !weak) {
    return Unexpected(weak.error());
  }
  auto hash = impl_->hash_password(password);
  if (!hash) return Unexpected(hash.error());
  return detail::as_void(decide<std::monostate>(
      impl_->log, "the customer", [&](int) -> Result<Decision<std::monostate>> {
        auto writes = writes_by(domain::system_actor());
        writes.add<CustomerTraits>(customer::stream_id(customer_id), log::ExpectedVersion::any(),
                                   {customer::PasswordSet{impl_->now(), *hash, true, true}});
        return Decision<std::monostate>{std::move(writes).take(), {}};
      }));
}

Result<StaffAccount> Accounts::set_staff_account(std::string_view email,
                                                 std::string_view display_name,
                                                 std::string_view password) {
  auto address = Impl::email_of(email);
  if (!address) return Unexpected(address.error());
  auto name = account::check_display_name(display_name);
  if (!name) return Unexpected(name.error());
  if (auto weak = account::check_password(password, *address, impl_->options.password_rules);
      !weak) {
    return Unexpected(weak.error());
  }
  auto hash = impl_->hash_password(password);
  if (!hash) return Unexpected(hash.error());
  return decide<StaffAccount>(
      impl_->log, "the staff account", [&](int) -> Result<Decision<StaffAccount>> {
        auto claim = impl_->load<AccountTraits>(account::staff_email_stream(*address));
        if (!claim) return Unexpected(claim.error());
        const std::string id = (*claim)->state.exists ? (*claim)->state.claimed_by
                                                      : "s-" + log::new_uuid_v7().to_string();
        auto current = impl_->load<AccountTraits>(account::staff_stream(id));
        if (!current) return Unexpected(current.error());
        const account::State& staff = (*current)->state;
        StaffAccount out = staff.exists
                               ? StaffAccount{staff.staff_id, staff.email, staff.display_name}
                               : StaffAccount{id, *address, *name};
        // The same password again (adding the member to another project) changes nothing.
        const bool same = staff.exists && impl_->password_matches(staff.password_hash, password);
        auto events = account::set_staff_password(staff, {0, out.id, out.email, out.display_name},
                                                  *hash, same, impl_->now());
        auto writes = writes_by(domain::system_actor());
        writes.add<AccountTraits>(
            account::staff_stream(id),
            staff.exists ? log::ExpectedVersion::any() : log::ExpectedVersion::no_stream(),
            events.staff);
        writes.add<AccountTraits>(account::staff_email_stream(*address),
                                  log::ExpectedVersion::no_stream(), events.email);
        return Decision<StaffAccount>{std::move(writes).take(), std::move(out)};
      });
}

Result<void> Accounts::end_staff_sessions(const std::string& staff_id, std::string_view reason) {
  auto s = impl_->load<AccountTraits>(account::staff_stream(staff_id));
  if (!s) return Unexpected(s.error());
  if (!(*s)->state.exists) return fail(errc::kNotFound, "no such staff member");
  return detail::as_void(decide<std::monostate>(
      impl_->log, "the staff account", [&](int) -> Result<Decision<std::monostate>> {
        auto writes = writes_by(domain::system_actor());
        writes.add<AccountTraits>(account::staff_stream(staff_id), log::ExpectedVersion::any(),
                                  {account::StaffSessionsEnded{impl_->now(), std::string(reason)}});
        return Decision<std::monostate>{std::move(writes).take(), {}};
      }));
}

Result<std::optional<StaffAccount>> Accounts::staff_by_email(std::string_view email) const {
  auto address = account::normalize_email(email);
  if (!address) return std::optional<StaffAccount>();
  auto claim = impl_->load<AccountTraits>(account::staff_email_stream(*address));
  if (!claim) return Unexpected(claim.error());
  if (!(*claim)->state.exists) return std::optional<StaffAccount>();
  return staff((*claim)->state.claimed_by);
}

Result<std::optional<StaffAccount>> Accounts::staff(const std::string& staff_id) const {
  auto s = impl_->load<AccountTraits>(account::staff_stream(staff_id));
  if (!s) return Unexpected(s.error());
  if (!(*s)->state.exists) return std::optional<StaffAccount>();
  const auto& st = (*s)->state;
  return std::optional<StaffAccount>(StaffAccount{st.staff_id, st.email, st.display_name});
}

Result<NewSession> Accounts::staff_sign_in(std::string_view email, std::string_view password,
                                           std::string_view code) {
  if (password.size() > 4 * impl_->options.password_rules.max_length) {
    return invalid_credentials();
  }
  std::string hash;
  std::string id;
  if (auto address = account::normalize_email(email)) {
    auto claim = impl_->load<AccountTraits>(account::staff_email_stream(*address));
    if (!claim) return Unexpected(claim.error());
    if ((*claim)->state.exists) {
      id = (*claim)->state.claimed_by;
      auto s = impl_->load<AccountTraits>(account::staff_stream(id));
      if (!s) return Unexpected(s.error());
      hash = (*s)->state.password_hash;
    }
  }
  const bool matches = impl_->password_matches(hash.empty() ? impl_->dummy_hash : hash, password);
  if (hash.empty() || !matches) return invalid_credentials();
  return decide<NewSession>(impl_->log, "the session", [&](int) -> Result<Decision<NewSession>> {
    auto writes = writes_by({Realm::staff, id});
    // The second factor, decided on the account as it is now: a code used by a sign-in that
    // won a race is refused here on the next attempt.
    const std::string stream = account::staff_stream(id);
    auto staff = impl_->load<AccountTraits>(stream);
    if (!staff) return Unexpected(staff.error());
    const totp::State& factor = (*staff)->state.totp;
    auto second = totp::sign_in(factor, impl_->presented(factor, code, false), impl_->now());
    if (!second) return Unexpected(second.error());
    if (*second) {
      writes.add<AccountTraits>(stream, log::ExpectedVersion::exactly((*staff)->version),
                                {totp::widen<account::Event>(**second)});
    }
    NewSession session = impl_->start(writes, Realm::staff, id, {}, "password");
    return Decision<NewSession>{std::move(writes).take(), std::move(session)};
  });
}

Result<Accounts::TotpEnrolment> Accounts::start_totp(const Caller& who) {
  auto secret = impl_->second_factor.new_secret();
  if (!secret) return Unexpected(secret.error());
  // The app shows the issuer and the account: the project and the address for a customer.
  std::string issuer = impl_->options.totp_issuer, account_name;
  if (who.realm == Realm::customer) {
    auto c = impl_->portal.customer(who.id);
    if (!c) return Unexpected(c.error());
    account_name = c->email;
    if (auto s = impl_->load<AccountTraits>(account::session_stream(who.session_hash));
        s && (*s)->state.session) {
      if (auto p = impl_->portal.project((*s)->state.session->project); p && p->exists) {
        issuer = p->settings.name;
      }
    }
  } else {
    auto s = staff(who.id);
    if (!s) return Unexpected(s.error());
    if (*s) account_name = (*s)->email;
  }
  TotpEnrolment out{secret->base32,
                    detail::SecondFactor::otpauth_url(issuer, account_name, secret->base32)};
  auto done = impl_->change_totp<bool>(who, [&](const auto& state) {
    return with_answer(totp::enrol(state.totp, secret->sealed, impl_->now()), true);
  });
  if (!done) return Unexpected(done.error());
  return out;
}

Result<std::vector<std::string>> Accounts::confirm_totp(const Caller& who, std::string_view code) {
  const auto recovery = impl_->second_factor.recovery_codes();
  return impl_->change_totp<std::vector<std::string>>(who, [&](const auto& state) {
    return with_answer(totp::confirm(state.totp, impl_->presented(state.totp, code, true),
                                     recovery.hashes, impl_->now()),
                       recovery.codes);
  });
}

Result<void> Accounts::disable_totp(const Caller& who, std::string_view code) {
  auto done = impl_->change_totp<bool>(who, [&](const auto& state) {
    return with_answer(
        totp::disable(state.totp, impl_->presented(state.totp, code, false), impl_->now()), true);
  });
  if (!done) return Unexpected(done.error());
  return {};
}

Result<void> Accounts::reset_staff_totp(const std::string& staff_id) {
  const std::string stream = account::staff_stream(staff_id);
  return detail::as_void(decide<std::monostate>(
      impl_->log, "the staff account", [&](int) -> Result<Decision<std::monostate>> {
        auto s = impl_->load<AccountTraits>(stream);
        if (!s) return Unexpected(s.error());
        if (!(*s)->state.exists) return fail(errc::kNotFound, "no such staff member");
        auto off = totp::reset((*s)->state.totp, impl_->now());
        if (!off) return Unexpected(off.error());
        auto writes = writes_by(domain::system_actor());
        writes.add<AccountTraits>(stream, log::ExpectedVersion::exactly((*s)->version),
                                  {totp::widen<account::Event>(*off),
                                   account::StaffSessionsEnded{impl_->now(), "totp_reset"}});
        return Decision<std::monostate>{std::move(writes).take(), {}};
      }));
}

Result<bool> Accounts::totp_enabled(const Caller& who) const {
  if (who.realm == Realm::customer) {
    auto c = impl_->load<CustomerTraits>(customer::stream_id(who.id));
    if (!c) return Unexpected(c.error());
    return (*c)->state.totp.enabled;
  }
  auto s = impl_->load<AccountTraits>(account::staff_stream(who.id));
  if (!s) return Unexpected(s.error());
  return (*s)->state.totp.enabled;
}

Result<Caller> Accounts::authenticate(Realm realm, std::string_view token) {
  if (token.empty() || token.size() > 256) return unauthenticated();
  const std::string hash = token_hash(token);
  const std::string stream = account::session_stream(hash);
  // This process's own refresh in flight, looked up before the load: once its entry is gone,
  // the log has it, so one of the two always shows it.
  std::optional<TimeUs> in_flight;
  {
    std::lock_guard lock(impl_->refreshing->mu);
    if (auto it = impl_->refreshing->at.find(stream); it != impl_->refreshing->at.end()) {
      in_flight = it->second;
    }
  }
  auto loaded = impl_->load<AccountTraits>(stream);
  if (!loaded) return Unexpected(loaded.error());
  const TimeUs t = impl_->now();
  std::optional<account::State> refreshed;
  if (in_flight)
    refreshed = account::evolve((*loaded)->state, account::SessionRefreshed{*in_flight});
  const account::State& s = refreshed ? *refreshed : (*loaded)->state;
  if (!account::session_active(s, t) || s.session->realm != realm) return unauthenticated();
  if (realm == Realm::customer) {
    auto c = impl_->load<CustomerTraits>(customer::stream_id(s.session->subject));
    if (!c) return Unexpected(c.error());
    if (s.session->at < (*c)->state.sessions_valid_from) return unauthenticated();
  } else if (realm == Realm::staff) {
    auto staff = impl_->load<AccountTraits>(account::staff_stream(s.session->subject));
    if (!staff) return Unexpected(staff.error());
    if (s.session->at < (*staff)->state.sessions_valid_from) return unauthenticated();
  }
  if (account::session_needs_refresh(s, t, impl_->options.session_refresh)) {
    // Best effort, and not waited for: a read must not wait on a group commit (GETs are answered
    // on I/O threads), and a full disk must not turn a read into an error.
    auto writes = writes_by({realm, s.session->subject});
    // At any version: activity folds in as a maximum, so two refreshes in either order agree,
    // and one never fails for another (which would leave this process's overlay wrong).
    writes.add<AccountTraits>(stream, log::ExpectedVersion::any(), {account::SessionRefreshed{t}});
    {
      std::lock_guard lock(impl_->refreshing->mu);
      impl_->refreshing->at[stream] = t;
    }
    impl_->log.append_async(std::move(writes).take(), [refreshing = impl_->refreshing, stream,
                                                       t](log::LogResult<log::AppendResult>) {
      // Committed (or refused): the log, or the other request that won, has the activity now.
      std::lock_guard lock(refreshing->mu);
      if (auto it = refreshing->at.find(stream); it != refreshing->at.end() && it->second == t) {
        refreshing->at.erase(it);
      }
    });
  }
  return Caller{realm, s.session->subject, hash, s.session->csrf_hash, s.session->project};
}

Result<void> Accounts::sign_out(std::string_view token) {
  if (token.empty() || token.size() > 256) return {};
  const std::string stream = account::session_stream(token_hash(token));
  return detail::as_void(decide<std::monostate>(
      impl_->log, "the session", [&](int) -> Result<Decision<std::monostate>> {
        auto loaded = impl_->load<AccountTraits>(stream);
        if (!loaded) return Unexpected(loaded.error());
        const account::State& s = (*loaded)->state;
        auto events = account::sign_out(s, impl_->now());
        if (events.empty()) return Decision<std::monostate>{};
        auto writes = writes_by({s.session->realm, s.session->subject});
        writes.add<AccountTraits>(stream, log::ExpectedVersion::exactly((*loaded)->version),
                                  events);
        return Decision<std::monostate>{std::move(writes).take(), {}};
      }));
}

Result<std::optional<std::string>> Accounts::customer_by_email(std::string_view email) const {
  auto address = account::normalize_email(email);
  if (!address) return std::optional<std::string>();
  return impl_->customer_by_email(*address);
}

}  // namespace portico::service
