// Sign-in with an identity provider (API.md part 2): the start and the callback of the
// authorization code flow, and a customer's identities (add, remove). The protocol is
// portico::oidc's; what a checked ID token proves is recorded by the accounts.
#include <boost/json/array.hpp>
#include <portico/domain/account.hpp>
#include <portico/domain/project.hpp>
#include <portico/encoding.hpp>
#include <portico/errc.hpp>
#include <portico/service/tokens.hpp>

#include "app_impl.hpp"

namespace portico::http {

using beast_http::verb;

namespace {

inline constexpr std::string_view kFlowCookie = "portico_oidc";

Response redirect(const Request& request, const std::string& location) {
  Response r{beast_http::status::found, request.version()};
  r.set(beast_http::field::location, location);
  r.set(beast_http::field::cache_control, "no-store");
  r.keep_alive(request.keep_alive());
  r.prepare_payload();
  return r;
}

// A path on this server: "/" then no second "/" or "\" (which browsers read as another host),
// printable ASCII only, at most 2,000 characters.
bool local_path(std::string_view path) {
  if (path.empty() || path.size() > 2000 || path[0] != '/') return false;
  if (path.size() > 1 && (path[1] == '/' || path[1] == '\\')) return false;
  for (char c : path) {
    if (c <= 0x20 || c >= 0x7f || c == '\\') return false;
  }
  return true;
}

// The browser's binding value: the cookie's when it holds one of ours, else a new one.
std::string browser_value(const Request& request) {
  auto value = cookie(request, kFlowCookie);
  if (value && value->size() == 43 &&
      value->find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos) {
    return *value;
  }
  return service::new_token();
}

// A claim that is a string, or "".
std::string text_claim(const boost::json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// email_verified as a boolean, or the string "true" some providers send.
bool verified_claim(const boost::json::object& claims) {
  const auto* v = claims.if_contains("email_verified");
  if (v == nullptr) return false;
  if (v->is_bool()) return v->as_bool();
  return v->is_string() && v->as_string() == "true";
}

std::string display_name_of(const boost::json::object& claims) {
  for (std::string_view key : {"name", "preferred_username", "nickname"}) {
    if (auto name = text_claim(claims, key); !name.empty()) return name;
  }
  return {};
}

// The state sent to the provider: the project's slug and 256 random bits, so that even a
// callback whose flow is gone (expired, used, a restart) can send the person back to their
// project's sign-in page.
std::string new_state(const std::string& project) { return project + "." + service::new_token(); }
std::string project_of_state(std::string_view state) {
  const auto dot = state.find('.');
  if (dot == std::string_view::npos) return {};
  std::string slug(state.substr(0, dot));
  return dom::project::valid_slug(slug) ? slug : std::string();
}

}  // namespace

oidc::Client* App::Impl::provider(std::string_view name) const {
  auto it = providers.find(name);
  return it == providers.end() ? nullptr : it->second.get();
}

std::vector<const oidc::ProviderConfig*> App::Impl::offered_providers(
    const dom::project::State& p) const {
  std::vector<const oidc::ProviderConfig*> out;
  for (const auto& m : p.settings.sign_in) {
    if (auto* client = provider(m)) out.push_back(&client->config());
  }
  return out;
}

void App::Impl::add_oidc_routes() {
  // The provider `name` when project `p` offers it and this server has it; else null.
  auto offered = [this](const dom::project::State& p, std::string_view name) -> oidc::Client* {
    const auto& methods = p.settings.sign_in;
    if (!p.exists || std::find(methods.begin(), methods.end(), name) == methods.end()) {
      return nullptr;
    }
    return provider(name);
  };
  auto not_offered = [](const Call& c) {
    return error_response(c.request, 404, errc::kNotFound,
                          "this project offers no sign-in with this provider");
  };
  // Where the provider sends the browser back: one fixed URL per provider, as registered there.
  auto redirect_uri = [this](std::string_view provider) {
    return base_url() + "/api/v1/auth/oauth/" + std::string(provider) + "/callback";
  };
  // Starts a flow for `provider` on `project`: 302 to the provider (or {url} for a signed-in
  // customer adding an identity), with the browser's binding cookie.
  auto begin = [this, redirect_uri](const Call& c, oidc::Client& client, const std::string& project,
                                    std::string return_to, std::string link_customer,
                                    bool as_json) {
    const std::string browser = browser_value(c.request);
    detail::OidcFlow flow{client.config().name,     project,
                          std::move(return_to),     service::new_token(),
                          service::new_token(),     service::token_hash(browser),
                          std::move(link_customer), {}};
    const std::string state = new_state(project);
    auto url = client.authorization_url(state, flow.nonce, flow.code_verifier,
                                        redirect_uri(flow.provider));
    if (!url) {
      options.on_warning("http: sign-in with " + flow.provider +
                         " cannot start: " + url.error().message);
      return error_response(c.request, 503, errc::kUnavailable,
                            "the sign-in provider cannot be reached; try again in a few minutes");
    }
    if (!oidc_flows.put(state, std::move(flow), detail::Clock::now())) {
      return error_response(c.request, 503, errc::kUnavailable, "too busy; try again in a minute");
    }
    Response r = as_json ? json_response(c.request, 200, boost::json::object{{"url", *url}})
                         : redirect(c.request, *url);
    r.set(beast_http::field::set_cookie,
          set_cookie(kFlowCookie, browser,
                     static_cast<long>(std::chrono::seconds(detail::OidcFlows::kLifetime).count()),
                     secure(c)));
    return r;
  };

  router.add(verb::get, "/api/v1/auth/oauth/{provider}/start", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    const std::string slug = c.query("project").value_or("");
    auto p = dom::project::valid_slug(slug) ? portal.project(slug)
                                            : Result<dom::project::State>(dom::project::State{});
    if (!p) return error_response(c.request, p.error());
    auto* client = offered(*p, c.param("provider"));
    if (client == nullptr) return not_offered(c);
    std::string return_to = c.query("return_to").value_or("/p/" + slug + "/");
    if (!local_path(return_to)) {
      return error_response(c.request, 400, errc::kInvalidRequest,
                            "return_to must be a path on this server", "return_to");
    }
    return begin(c, *client, slug, std::move(return_to), {}, false);
  });

  router.add(verb::get, "/api/v1/auth/oauth/{provider}/callback", [=, this](const Call& c) {
    if (auto limited = limit_address(c)) return *limited;
    const std::string state = c.query("state").value_or("");
    const std::string slug = project_of_state(state);
    const std::string home = slug.empty() ? "/" : "/p/" + slug + "/";
    auto flow = state.empty() ? std::nullopt : oidc_flows.take(state, detail::Clock::now());
    auto browser = cookie(c.request, kFlowCookie);
    if (!flow || flow->provider != c.param("provider") || !browser ||
        service::token_hash(*browser) != flow->browser_hash) {
      return redirect(c.request, home + "?sign_in_error=invalid_state");
    }
    const std::string back = flow->link_customer.empty() ? home : home + "profile";
    auto failed = [&](std::string_view code) {
      return redirect(c.request, back + "?sign_in_error=" + std::string(code));
    };
    auto* client = provider(flow->provider);
    if (client == nullptr) return failed("not_offered");
    if (auto error = c.query("error")) {
      return failed(*error == "access_denied" ? "cancelled" : "provider_error");
    }
    const std::string code = c.query("code").value_or("");
    if (code.empty()) return failed("provider_error");
    auto tokens = client->exchange(code, flow->code_verifier, redirect_uri(flow->provider));
    if (!tokens) {
      options.on_warning("http: sign-in with " + flow->provider +
                         ": the code exchange failed: " + tokens.error().message);
      return failed(tokens.error().code == errc::kUnavailable ? "provider_unavailable"
                                                              : "provider_error");
    }
    auto verified = client->verify(tokens->id_token, flow->nonce, portal.now() / dom::kSecond);
    if (!verified) {
      options.on_warning("http: sign-in with " + flow->provider +
                         ": the ID token was refused: " + verified.error().message);
      return failed(verified.error().code == errc::kUnavailable ? "provider_unavailable"
                                                                : "invalid_token");
    }
    boost::json::object claims = std::move(*verified);
    // The userinfo endpoint when the token lacks the address or the name (OpenID Connect Core
    // §5.3: its sub must be the token's).
    if ((!claims.contains("email") || display_name_of(claims).empty()) &&
        !tokens->access_token.empty()) {
      if (auto info = client->userinfo(tokens->access_token);
          info && text_claim(*info, "sub") == text_claim(claims, "sub")) {
        for (const auto& [key, value] : *info) {
          if (!claims.contains(key)) claims[key] = value;
        }
      }
    }
    dom::account::ProviderClaims who{flow->provider,
                                     text_claim(claims, "iss"),
                                     text_claim(claims, "sub"),
                                     text_claim(claims, "email"),
                                     verified_claim(claims),
                                     display_name_of(claims)};
    if (!flow->link_customer.empty()) {
      auto linked = accounts.link_identity(flow->link_customer, who);
      if (!linked) {
        return failed(linked.error().message == "identity_taken" ? "identity_taken"
                      : linked.error().code == errc::kConflict   ? "already_linked"
                                                                 : "unavailable");
      }
      return redirect(c.request, flow->return_to);
    }
    auto session = accounts.sign_in_with_identity(flow->project, who);
    if (!session) {
      const auto& e = session.error();
      if (e.code == errc::kDomainNotAllowed) return failed("domain_not_allowed");
      // The address's customer has another identity of this provider (link_identity).
      if (e.code == errc::kConflict) return failed("already_linked");
      if (e.code == errc::kForbidden || e.code == errc::kNotFound) return failed("not_offered");
      options.on_warning("http: sign-in with " + flow->provider + " failed: " + e.message);
      return failed("unavailable");
    }
    ++sign_ins;
    Response r = redirect(c.request, flow->return_to);
    r.set(beast_http::field::set_cookie, session_cookie(c, *session));
    r.insert(beast_http::field::set_cookie, set_cookie(kFlowCookie, "", 0, secure(c)));
    return r;
  });

  // A signed-in customer adds an identity: the same flow, finished by adding it to them.
  router.add(verb::post, "/api/v1/me/identities/{provider}", [=, this](const Call& c) {
    auto who = authenticate(c, dom::Realm::customer);
    if (!who) return error_response(c.request, who.error());
    if (auto limited = limit_address(c)) return *limited;
    const std::string& slug = who->caller.project;
    auto p = portal.project(slug);
    if (!p) return error_response(c.request, p.error());
    auto* client = offered(*p, c.param("provider"));
    if (client == nullptr) return not_offered(c);
    std::string return_to = "/p/" + slug + "/profile";
    if (!c.request.body().empty()) {
      auto body = parse_body(c.request);
      if (!body) return error_response(c.request, body.error());
      auto given = optional_string(*body, "return_to");
      if (!given) return error_response(c.request, given.error());
      if (*given) {
        if (!local_path(**given)) {
          return error_response(c.request, 400, errc::kInvalidRequest,
                                "return_to must be a path on this server", "return_to");
        }
        return_to = **given;
      }
    }
    return begin(c, *client, slug, std::move(return_to), who->caller.id, true);
  });

  router.add(verb::delete_, "/api/v1/me/identities/{provider}", [this](const Call& c) {
    auto who = authenticate(c, dom::Realm::customer);
    if (!who) return error_response(c.request, who.error());
    auto done = accounts.unlink_identity(who->caller.id, c.param("provider"));
    if (!done) return error_response(c.request, done.error());
    return no_content(c.request);
  });
}

}  // namespace portico::http
