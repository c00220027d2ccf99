// Sign-in, sessions and /me (API.md "Customer sign-in", "Staff" login).
#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <functional>
#include <portico/domain/account.hpp>
#include <portico/domain/project.hpp>
#include <portico/errc.hpp>
#include <portico/mail/sign_in.hpp>
#include <portico/service/tokens.hpp>

#include "app_impl.hpp"
#include "qr_code.hpp"
#include "render.hpp"

namespace portico::http {

using beast_http::verb;

namespace {

// The wait carried by password_attempt's "rate_limited".
std::chrono::seconds wait_of(const Error& e) { return std::chrono::seconds(std::stol(e.message)); }

// The body's string fields `names`, in order: 415/400 for a body that is not a JSON object, 400
// with `field` for the first one missing or not a string. `totp`, when given, receives the
// optional second factor ("" when absent; 400 when it is not a string).
template <std::size_t N>
Result<std::array<std::string, N>> strings(const Request& request,
                                           const std::array<std::string_view, N>& names,
                                           std::string* totp = nullptr) {
  auto body = parse_body(request);
  if (!body) return Unexpected(body.error());
  std::array<std::string, N> out;
  for (std::size_t i = 0; i < N; ++i) {
    auto v = string_field(*body, names[i]);
    if (!v) return Unexpected(v.error());
    out[i] = std::move(*v);
  }
  auto second = optional_string(*body, "totp");
  if (!second) return Unexpected(second.error());
  if (totp != nullptr) *totp = second->value_or("");
  return out;
}

}  // namespace

std::string set_cookie(std::string_view name, std::string_view value, long max_age, bool secure) {
  std::string c = std::string(name) + "=" + std::string(value) +
                  "; Path=/; Max-Age=" + std::to_string(max_age) + "; HttpOnly; SameSite=Lax";
  if (secure) c += "; Secure";
  return c;
}

std::string App::Impl::session_cookie(const Call& c, const service::NewSession& s) const {
  const long max_age = static_cast<long>(options.accounts.session_absolute / dom::kSecond);
  return set_cookie(s.realm == dom::Realm::staff ? kStaffCookie : kCustomerCookie, s.token, max_age,
                    secure(c));
}

void App::Impl::add_auth_routes() {
  // The answer to a sign-in: the session cookie and {token, csrf, customer|staff}.
  auto session_response = [this](const Call& c, const service::NewSession& s,
                                 boost::json::object who, std::string_view key) {
    ++sign_ins;
    boost::json::object body{{"token", s.token}, {"csrf", s.csrf}};
    body[key] = std::move(who);
    Response r = json_response(c.request, 200, body);
    r.set(beast_http::field::set_cookie, session_cookie(c, s));
    return r;
  };
  auto customer_session = [this, session_response](const Call& c,
                                                   const Result<service::NewSession>& s) {
    if (!s) return error_response(c.request, s.error());
    auto customer = portal.customer(s->subject);
    if (!customer) return error_response(c.request, customer.error());
    return session_response(c, *s, customer_json(*customer), "customer");
  };
  // Sends a sign-in e-mail; an e-mail that cannot go out is a 503 (the link was not sent).
  auto mail_out = [this](const service::Mailing& m) -> Result<void> {
    auto p = portal.project(m.project);
    if (!p) return Unexpected(p.error());
    return send(mail::sign_in_message(m, p->settings.name, base_url(), options.mail_from));
  };
  // mail_out while the request waits for it, at most SignInLimits::concurrent_mails at once.
  auto mail_now = [this, mail_out](const service::Mailing& m) -> Result<void> {
    if (mails_in_flight.fetch_add(1) >= options.limits.concurrent_mails) {
      mails_in_flight.fetch_sub(1);
      return fail(errc::kUnavailable, "too many sign-in e-mails are being sent at once");
    }
    auto sent = mail_out(m);
    mails_in_flight.fetch_sub(1);
    return sent;
  };
  // At most a few sign-in e-mails per address: nobody's inbox is flooded through us. Only a
  // request that will send one is counted (a project that offers `method` and admits the
  // address): anything else is refused by the accounts (404, 403, 400), takes nobody's budget
  // and never becomes a key. A password reset for an address without an account counts too,
  // so that the answers do not tell which addresses have one.
  auto limit_mails = [this](const Call& c, const std::string& project, std::string_view email,
                            std::string_view method) -> std::optional<Response> {
    if (!dom::project::valid_slug(project)) return std::nullopt;
    const auto address = dom::account::normalize_email(email);
    if (!address) return std::nullopt;
    auto p = portal.project(project);
    if (!p || !p->exists) return std::nullopt;
    const auto& methods = p->settings.sign_in;
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) return std::nullopt;
    if (!dom::project::domain_allowed(*p, *address)) return std::nullopt;
    if (auto wait =
            mail_limiter.take("mail:" + *address, options.limits.mails, detail::Clock::now())) {
      return too_many(c, *wait);
    }
    return std::nullopt;
  };

  // A password attempt on `account` (realm and e-mail address: one budget whatever the project).
  // Tokens are taken before the password is checked, so that parallel guesses cannot outrun a
  // budget, and given back when the password was not wrong. Two budgets (SignInLimits): the
  // (account, client address) pair's, and the account's unless this address signed in to it
  // before. Refused: "rate_limited" with the wait in seconds as its message.
  // A wrong two-factor code counts like a wrong password, in the same budgets: at sign-in it is
  // invalid_credentials; at confirm and disable (guarded_attempt with `wrong` naming "code").
  auto guarded_attempt = [this](const Call& c, const std::string& account,
                                const std::function<Result<void>()>& attempt,
                                const std::function<bool(const Error&)>& wrong) -> Result<void> {
    const auto now = detail::Clock::now();
    const auto& pair_limit = options.limits.failed_passwords;
    const auto& account_limit = options.limits.failed_passwords_account;
    const std::string here = account + "|addr:" + detail::address_key(c.peer.address);
    const std::string pair_key = "pair:" + here, account_key = "account:" + account;
    const bool known = known_addresses.contains(here, now);
    if (auto wait = password_limiter.take(pair_key, pair_limit, now)) {
      return fail(errc::kRateLimited, std::to_string(wait->count()));
    }
    if (!known) {
      if (auto wait = password_limiter.take(account_key, account_limit, now)) {
        password_limiter.give_back(pair_key, pair_limit, now);
        return fail(errc::kRateLimited, std::to_string(wait->count()));
      }
    }
    auto s = attempt();
    const auto after = detail::Clock::now();
    if (s || !wrong(s.error())) {
      password_limiter.give_back(pair_key, pair_limit, after);
      if (!known) password_limiter.give_back(account_key, account_limit, after);
    }
    if (s) known_addresses.add(here, after);
    return s;
  };
  auto password_attempt = [guarded_attempt](
                              const Call& c, const std::string& account,
                              const std::function<Result<service::NewSession>()>& attempt)
      -> Result<service::NewSession> {
    std::optional<service::NewSession> session;
    auto done = guarded_attempt(
        c, account,
        [&]() -> Result<void> {
          auto s = attempt();
          if (!s) return Unexpected(s.error());
          session = std::move(*s);
          return {};
        },
        [](const Error& e) { return e.code == errc::kInvalidCredentials; });
    if (!done) return Unexpected(done.error());
    return std::move(*session);
  };

  // Runs `job` after the answer (Background); false when too much is queued already.
  auto later = [this](std::function<Result<void>()> job) {
    return background.post([this, job = std::move(job)] {
      if (auto done = job(); !done) {
        // The caller had their answer already: say it here (without the address).
        options.on_warning("http: a sign-in e-mail did not go out: " + done.error().message);
      }
    });
  };

  router.add(verb::post, "/api/v1/auth/magic-link", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<2>(c.request, {"project", "email"});
    if (!f) return error_response(c.request, f.error());
    const auto& [project, email] = *f;
    if (auto limited = limit_mails(c, project, email, "magic_link")) return *limited;
    auto mailing = accounts.request_magic_link(project, email);
    if (!mailing) return error_response(c.request, mailing.error());
    if (auto sent = mail_now(*mailing); !sent) {
      // Whatever went wrong (the mail server down, or refusing the address), the person hears
      // only that the e-mail could not go out: the server's setup and what its mail server
      // accepts are the operator's to read (on_warning, without the address), not the caller's.
      options.on_warning("http: a sign-in e-mail did not go out: " + sent.error().message);
      return error_response(c.request, 503, errc::kUnavailable,
                            "the e-mail could not be sent; try again in a few minutes");
    }
    return json_response(c.request, 202, boost::json::object{});
  });

  router.add(verb::post, "/api/v1/auth/magic-link/verify", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<1>(c.request, {"token"});
    if (!f) return error_response(c.request, f.error());
    return customer_session(c, accounts.use_magic_link((*f)[0]));
  });

  router.add(verb::post, "/api/v1/auth/register", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<4>(c.request, {"project", "email", "password", "display_name"});
    if (!f) return error_response(c.request, f.error());
    const auto& [project, email, password, name] = *f;
    if (auto limited = limit_mails(c, project, email, "password")) return *limited;
    // The checks and the password's hash now; the rest (whether the address is taken, the
    // append, the e-mail) after answering, so that the answer is the same in content and time
    // for a new address and a taken one (security review M3).
    auto registration = accounts.prepare_registration(project, email, password, name);
    if (!registration) return error_response(c.request, registration.error());
    if (!later([this, mail_out, r = std::move(*registration)] {
          auto mailing = accounts.complete_registration(r);
          if (!mailing) return Result<void>(Unexpected(mailing.error()));
          return mail_out(*mailing);
        })) {
      return error_response(c.request, 503, errc::kUnavailable, "too busy; try again in a minute");
    }
    return json_response(c.request, 201, boost::json::object{});
  });

  // What an e-mailed sign-in link is for, without using it: the landing page asks "sign in as
  // …?" before it does (login CSRF: a link someone else asked for must not sign you in unasked).
  router.add(verb::post, "/api/v1/auth/link", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<1>(c.request, {"token"});
    if (!f) return error_response(c.request, f.error());
    auto info = accounts.describe_link((*f)[0]);
    if (!info) return error_response(c.request, info.error());
    return json_response(
        c.request, 200,
        boost::json::object{
            {"purpose",
             info->purpose == dom::account::Purpose::magic_link ? "magic_link" : "verify_email"},
            {"email", info->email},
            {"project", info->project}});
  });

  router.add(verb::post, "/api/v1/auth/verify-email", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<1>(c.request, {"token"});
    if (!f) return error_response(c.request, f.error());
    return customer_session(c, accounts.verify_email((*f)[0]));
  });

  router.add(verb::post, "/api/v1/auth/login", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    std::string totp;
    auto f = strings<3>(c.request, {"project", "email", "password"}, &totp);
    if (!f) return error_response(c.request, f.error());
    const auto& [project, email, password] = *f;
    // Validated before anything becomes a key: no project can have that slug (404, as the
    // accounts say), and what is not an e-mail address is nobody's account.
    if (!dom::project::valid_slug(project)) {
      return error_response(c.request, 404, errc::kNotFound, "no such project");
    }
    const auto address = dom::account::normalize_email(email);
    if (!address) {
      return error_response(c.request, 401, errc::kInvalidCredentials,
                            "the e-mail address or the password is wrong");
    }
    const auto s = password_attempt(c, "customer:" + *address, [&] {
      return accounts.sign_in(project, email, password, totp);
    });
    if (!s && s.error().code == errc::kRateLimited) return too_many(c, wait_of(s.error()));
    return customer_session(c, s);
  });

  router.add(verb::post, "/api/v1/auth/password-reset", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<2>(c.request, {"project", "email"});
    if (!f) return error_response(c.request, f.error());
    const auto& [project, email] = *f;
    if (auto limited = limit_mails(c, project, email, "password")) return *limited;
    if (auto valid = accounts.check_password_reset(project, email); !valid) {
      return error_response(c.request, valid.error());
    }
    // The same answer, in the same time, whether or not the address has an account: what
    // depends on it (the token's append, the e-mail) happens after answering (review M3).
    if (!later([this, mail_out, project, email]() -> Result<void> {
          auto mailing = accounts.request_password_reset(project, email);
          if (!mailing) return Unexpected(mailing.error());
          if (!*mailing) return {};
          return mail_out(**mailing);
        })) {
      return error_response(c.request, 503, errc::kUnavailable, "too busy; try again in a minute");
    }
    return json_response(c.request, 202, boost::json::object{});
  });

  router.add(verb::post, "/api/v1/auth/password-reset/confirm", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto f = strings<2>(c.request, {"token", "password"});
    if (!f) return error_response(c.request, f.error());
    auto done = accounts.reset_password((*f)[0], (*f)[1]);
    if (!done) return error_response(c.request, done.error());
    return no_content(c.request);
  });

  auto logout = [this](dom::Realm realm) {
    return [this, realm](const Call& c) {
      auto who = authenticate(c, realm);
      if (!who && who.error().code == errc::kCsrf) return error_response(c.request, who.error());
      if (who) {
        auto ended = accounts.sign_out(who->token);
        if (!ended) return error_response(c.request, ended.error());
        ++sign_outs;
      }
      Response r = no_content(c.request);
      r.set(beast_http::field::set_cookie,
            set_cookie(realm == dom::Realm::staff ? kStaffCookie : kCustomerCookie, "", 0,
                       secure(c)));
      return r;
    };
  };
  router.add(verb::post, "/api/v1/auth/logout", logout(dom::Realm::customer));
  router.add(verb::post, "/api/v1/staff/auth/logout", logout(dom::Realm::staff));

  // GET /api/v1/me's answer for `who`, whose state is `customer`.
  auto me = [this](const Call& c, const Authed& who,
                   const dom::customer::State& customer) -> Response {
    boost::json::array projects;
    for (const auto& slug : customer.projects) {
      auto p = portal.project(slug);
      if (p && p->exists) projects.push_back({{"slug", slug}, {"name", p->settings.name}});
    }
    auto totp = accounts.totp_enabled(who.caller);
    if (!totp) return error_response(c.request, totp.error());
    boost::json::array identities;
    for (const auto& i : customer.identities) {
      identities.push_back({{"provider", i.provider}, {"subject", i.subject}, {"email", i.email}});
    }
    boost::json::object body{{"customer", customer_json(customer)},
                             {"projects", std::move(projects)},
                             {"identities", std::move(identities)},
                             {"totp_enabled", *totp}};
    body["language"] = customer.language.empty() ? boost::json::value(nullptr)
                                                 : boost::json::value(customer.language);
    // A cookie session learns its CSRF token here (a provider's sign-in answered no JSON).
    if (who.via_cookie) {
      const std::string csrf = service::csrf_token(who.token);
      if (service::token_hash(csrf) == who.caller.csrf_hash) body["csrf"] = csrf;
    }
    return json_response(c.request, 200, body);
  };
  router.add(verb::get, "/api/v1/me", [this, me](const Call& c) {
    auto who = authenticate(c, dom::Realm::customer);
    if (!who) return error_response(c.request, who.error());
    auto customer = portal.customer(who->caller.id);
    if (!customer) return error_response(c.request, customer.error());
    return me(c, *who, *customer);
  });
  // {language}: a tag, or null for automatic (API.md "Languages").
  router.add(verb::patch, "/api/v1/me", [this, me](const Call& c) {
    auto who = authenticate(c, dom::Realm::customer);
    if (!who) return error_response(c.request, who.error());
    if (auto limited = limit_writes(c, *who)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    for (const auto& [key, value] : *body) {
      if (key != "language") {
        return error_response(c.request, 400, errc::kInvalidRequest,
                              "only language can be changed here", std::string(key));
      }
    }
    const auto* language = body->if_contains("language");
    if (language == nullptr) {
      return error_response(c.request, 400, errc::kInvalidRequest, "give language", "language");
    }
    if (!language->is_null() && !language->is_string()) {
      return error_response(c.request, 400, errc::kInvalidRequest, "language is a tag or null",
                            "language");
    }
    auto chosen = portal.choose_language(
        who->caller.id, language->is_null() ? std::string() : std::string(language->as_string()),
        meta(c, *who));
    if (!chosen) return error_response(c.request, chosen.error());
    return me(c, *who, *chosen);
  });

  // Two-factor enrolment, the same for both realms. A wrong code at confirm or disable counts
  // against the account's budget of wrong passwords: six digits cannot be guessed one by one.
  auto totp_routes = [=, this](dom::Realm realm, const std::string& base) {
    // The account's budgets are keyed by realm and address, as at sign-in.
    auto code_attempt = [this, guarded_attempt](
                            const Call& c, const service::Caller& who,
                            const std::function<Result<void>()>& attempt) -> Result<void> {
      std::string email;
      if (who.realm == dom::Realm::customer) {
        auto customer = portal.customer(who.id);
        if (!customer) return Unexpected(customer.error());
        email = customer->email;
      } else {
        auto staff = accounts.staff(who.id);
        if (!staff) return Unexpected(staff.error());
        if (*staff) email = (*staff)->email;
      }
      const std::string account = std::string(dom::to_string(who.realm)) + ":" + email;
      return guarded_attempt(c, account, attempt, [](const Error& e) { return e.field == "code"; });
    };
    router.add(verb::post, base + "/totp", [=, this](const Call& c) {
      auto who = authenticate(c, realm);
      if (!who) return error_response(c.request, who.error());
      auto started = accounts.start_totp(who->caller);
      if (!started) return error_response(c.request, started.error());
      boost::json::object body{{"secret", started->secret}, {"otpauth_url", started->otpauth_url}};
      // For the portal's page: the URL as a QR code image for the app's camera.
      if (auto qr = detail::qr_code_data_url(started->otpauth_url)) body["qr_code"] = *qr;
      return json_response(c.request, 200, body);
    });
    router.add(verb::post, base + "/totp/confirm", [=, this](const Call& c) {
      auto who = authenticate(c, realm);
      if (!who) return error_response(c.request, who.error());
      auto f = strings<1>(c.request, {"code"});
      if (!f) return error_response(c.request, f.error());
      std::vector<std::string> codes;
      auto done = code_attempt(c, who->caller, [&]() -> Result<void> {
        auto confirmed = accounts.confirm_totp(who->caller, (*f)[0]);
        if (!confirmed) return Unexpected(confirmed.error());
        codes = std::move(*confirmed);
        return {};
      });
      if (!done && done.error().code == errc::kRateLimited)
        return too_many(c, wait_of(done.error()));
      if (!done) return error_response(c.request, done.error());
      boost::json::array shown;
      for (auto& code : codes) shown.emplace_back(code);
      return json_response(c.request, 200, boost::json::object{{"recovery_codes", shown}});
    });
    router.add(verb::post, base + "/totp/disable", [=, this](const Call& c) {
      auto who = authenticate(c, realm);
      if (!who) return error_response(c.request, who.error());
      auto f = strings<1>(c.request, {"code"});
      if (!f) return error_response(c.request, f.error());
      auto done =
          code_attempt(c, who->caller, [&] { return accounts.disable_totp(who->caller, (*f)[0]); });
      if (!done && done.error().code == errc::kRateLimited)
        return too_many(c, wait_of(done.error()));
      if (!done) return error_response(c.request, done.error());
      return no_content(c.request);
    });
  };
  // The staff member signed in (an addition to API.md: the console's account page reads it).
  router.add(verb::get, "/api/v1/staff/me", [this](const Call& c) {
    auto who = authenticate(c, dom::Realm::staff);
    if (!who) return error_response(c.request, who.error());
    auto staff = accounts.staff(who->caller.id);
    if (!staff) return error_response(c.request, staff.error());
    if (!*staff) return error_response(c.request, 401, errc::kUnauthenticated, "no such staff");
    auto totp = accounts.totp_enabled(who->caller);
    if (!totp) return error_response(c.request, totp.error());
    return json_response(c.request, 200,
                         boost::json::object{{"staff",
                                              {{"id", (*staff)->id},
                                               {"display_name", (*staff)->display_name},
                                               {"email", (*staff)->email}}},
                                             {"totp_enabled", *totp}});
  });
  totp_routes(dom::Realm::customer, "/api/v1/me");
  totp_routes(dom::Realm::staff, "/api/v1/staff/me");

  router.add(verb::post, "/api/v1/staff/auth/login", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    std::string totp;
    auto f = strings<2>(c.request, {"email", "password"}, &totp);
    if (!f) return error_response(c.request, f.error());
    const auto& [email, password] = *f;
    const auto address = dom::account::normalize_email(email);
    if (!address) {
      return error_response(c.request, 401, errc::kInvalidCredentials,
                            "the e-mail address or the password is wrong");
    }
    const auto s = password_attempt(c, "staff:" + *address,
                                    [&] { return accounts.staff_sign_in(email, password, totp); });
    if (!s) {
      if (s.error().code == errc::kRateLimited) return too_many(c, wait_of(s.error()));
      return error_response(c.request, s.error());
    }
    auto staff = accounts.staff(s->subject);
    if (!staff) return error_response(c.request, staff.error());
    if (!*staff) return error_response(c.request, 401, errc::kInvalidCredentials, "no such staff");
    return session_response(c, *s,
                            {{"id", (*staff)->id},
                             {"display_name", (*staff)->display_name},
                             {"email", (*staff)->email}},
                            "staff");
  });
}

}  // namespace portico::http
