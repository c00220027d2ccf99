// Sign-in, sessions and /me (API.md "Customer sign-in", "Staff" login).
#include <boost/json/array.hpp>
#include <portico/mail/sign_in.hpp>

#include "app_impl.hpp"
#include "render.hpp"

namespace portico::http {

using beast_http::verb;

namespace {

std::string lowered(std::string_view s) {
  std::string out(domain::trim(s));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string set_cookie(std::string_view name, std::string_view value, long max_age, bool secure) {
  std::string c = std::string(name) + "=" + std::string(value) +
                  "; Path=/; Max-Age=" + std::to_string(max_age) + "; HttpOnly; SameSite=Lax";
  if (secure) c += "; Secure";
  return c;
}

}  // namespace

void App::Impl::add_auth_routes() {
  // The answer to a sign-in: the session cookie and {token, csrf, customer|staff}.
  auto session_response = [this](const Call& c, const service::NewSession& s,
                                 boost::json::object who, std::string_view key) {
    ++sign_ins;
    boost::json::object body{{"token", s.token}, {"csrf", s.csrf}};
    body[key] = std::move(who);
    Response r = json_response(c.request, 200, body);
    const long max_age = static_cast<long>(options.accounts.session_absolute / dom::kSecond);
    r.set(beast_http::field::set_cookie,
          set_cookie(s.realm == dom::Realm::staff ? kStaffCookie : kCustomerCookie, s.token,
                     max_age, secure(c)));
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
  // At most a few sign-in e-mails per address: nobody's inbox is flooded through us.
  auto limit_mails = [this](const Call& c, std::string_view email) -> std::optional<Response> {
    if (auto wait =
            limiter.take("mail:" + lowered(email), options.limits.mails, detail::Clock::now())) {
      return too_many(c, *wait);
    }
    return std::nullopt;
  };

  router.add(verb::post, "/api/v1/auth/magic-link", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto project = string_field(*body, "project");
    auto email = string_field(*body, "email");
    if (!project) return error_response(c.request, project.error());
    if (!email) return error_response(c.request, email.error());
    if (auto limited = limit_mails(c, *email)) return *limited;
    auto mailing = accounts.request_magic_link(*project, *email);
    if (!mailing) return error_response(c.request, mailing.error());
    if (auto sent = mail_out(*mailing); !sent) return error_response(c.request, sent.error());
    return json_response(c.request, 202, boost::json::object{});
  });

  router.add(verb::post, "/api/v1/auth/magic-link/verify", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto token = string_field(*body, "token");
    if (!token) return error_response(c.request, token.error());
    return customer_session(c, accounts.use_magic_link(*token));
  });

  router.add(verb::post, "/api/v1/auth/register", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto project = string_field(*body, "project");
    auto email = string_field(*body, "email");
    auto password = string_field(*body, "password");
    auto name = string_field(*body, "display_name");
    for (const auto* f : {&project, &email, &password, &name}) {
      if (!*f) return error_response(c.request, f->error());
    }
    if (auto limited = limit_mails(c, *email)) return *limited;
    auto mailing = accounts.register_customer(*project, *email, *password, *name);
    if (!mailing) return error_response(c.request, mailing.error());
    if (auto sent = mail_out(*mailing); !sent) return error_response(c.request, sent.error());
    return json_response(c.request, 201, boost::json::object{});
  });

  router.add(verb::post, "/api/v1/auth/verify-email", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto token = string_field(*body, "token");
    if (!token) return error_response(c.request, token.error());
    return customer_session(c, accounts.verify_email(*token));
  });

  router.add(verb::post, "/api/v1/auth/login", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto project = string_field(*body, "project");
    auto email = string_field(*body, "email");
    auto password = string_field(*body, "password");
    auto totp = optional_string(*body, "totp");
    for (const auto* f : {&project, &email, &password}) {
      if (!*f) return error_response(c.request, f->error());
    }
    if (!totp) return error_response(c.request, totp.error());
    // Wrong passwords are counted per account: past the budget every attempt is refused
    // (right or wrong) until it refills, whatever address the guesses come from.
    const std::string account_key = "login:" + *project + ":" + lowered(*email);
    if (auto wait =
            limiter.check(account_key, options.limits.failed_passwords, detail::Clock::now())) {
      return too_many(c, *wait);
    }
    auto s = accounts.sign_in(*project, *email, *password);
    if (!s && s.error().code == "invalid_credentials") {
      (void)limiter.take(account_key, options.limits.failed_passwords, detail::Clock::now());
    }
    return customer_session(c, s);
  });

  router.add(verb::post, "/api/v1/auth/password-reset", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto project = string_field(*body, "project");
    auto email = string_field(*body, "email");
    if (!project) return error_response(c.request, project.error());
    if (!email) return error_response(c.request, email.error());
    if (auto limited = limit_mails(c, *email)) return *limited;
    auto mailing = accounts.request_password_reset(*project, *email);
    if (!mailing) return error_response(c.request, mailing.error());
    if (*mailing) {
      if (auto sent = mail_out(**mailing); !sent) return error_response(c.request, sent.error());
    }
    // The same answer whether or not the address has an account.
    return json_response(c.request, 202, boost::json::object{});
  });

  router.add(verb::post, "/api/v1/auth/password-reset/confirm", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto token = string_field(*body, "token");
    auto password = string_field(*body, "password");
    if (!token) return error_response(c.request, token.error());
    if (!password) return error_response(c.request, password.error());
    auto done = accounts.reset_password(*token, *password);
    if (!done) return error_response(c.request, done.error());
    return no_content(c.request);
  });

  // OpenID Connect and OAuth 2 sign-in come with a later issue: no provider is configured yet.
  router.add(verb::get, "/api/v1/auth/oauth/{provider}/start", [](const Call& c) {
    return error_response(c.request, 404, "not_found", "no such sign-in provider");
  });
  router.add(verb::get, "/api/v1/auth/oauth/{provider}/callback", [](const Call& c) {
    return error_response(c.request, 404, "not_found", "no such sign-in provider");
  });

  auto logout = [this](dom::Realm realm) {
    return [this, realm](const Call& c) {
      auto who = authenticate(c, realm);
      if (!who && who.error().code == "csrf") return error_response(c.request, who.error());
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

  router.add(verb::get, "/api/v1/me", [this](const Call& c) {
    auto who = authenticate(c, dom::Realm::customer);
    if (!who) return error_response(c.request, who.error());
    auto customer = portal.customer(who->caller.id);
    if (!customer) return error_response(c.request, customer.error());
    boost::json::array projects;
    for (const auto& slug : customer->projects) {
      auto p = portal.project(slug);
      if (p && p->exists) projects.push_back({{"slug", slug}, {"name", p->settings.name}});
    }
    return json_response(c.request, 200,
                         boost::json::object{{"customer", customer_json(*customer)},
                                             {"projects", std::move(projects)}});
  });

  router.add(verb::post, "/api/v1/staff/auth/login", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    auto body = parse_body(c.request);
    if (!body) return error_response(c.request, body.error());
    auto email = string_field(*body, "email");
    auto password = string_field(*body, "password");
    auto totp = optional_string(*body, "totp");
    if (!email) return error_response(c.request, email.error());
    if (!password) return error_response(c.request, password.error());
    if (!totp) return error_response(c.request, totp.error());
    const std::string account_key = "staff-login:" + lowered(*email);
    if (auto wait =
            limiter.check(account_key, options.limits.failed_passwords, detail::Clock::now())) {
      return too_many(c, *wait);
    }
    auto s = accounts.staff_sign_in(*email, *password);
    if (!s) {
      if (s.error().code == "invalid_credentials") {
        (void)limiter.take(account_key, options.limits.failed_passwords, detail::Clock::now());
      }
      return error_response(c.request, s.error());
    }
    auto staff = accounts.staff(s->subject);
    if (!staff) return error_response(c.request, staff.error());
    if (!*staff) return error_response(c.request, 401, "invalid_credentials", "no such staff");
    return session_response(c, *s,
                            {{"id", (*staff)->id},
                             {"display_name", (*staff)->display_name},
                             {"email", (*staff)->email}},
                            "staff");
  });
}

}  // namespace portico::http
