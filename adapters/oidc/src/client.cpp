#include <curl/curl.h>
#include <openssl/evp.h>

#include <boost/json/parse.hpp>
#include <map>
#include <mutex>
#include <portico/encoding.hpp>
#include <portico/errc.hpp>
#include <portico/oidc/client.hpp>

namespace portico::oidc {

namespace json = boost::json;
using Steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxAnswer = 1 << 20;
constexpr auto kMetadataFor = std::chrono::hours(1);
// An unknown kid fetches the keys again (a rotation), but not more than once a second, and not
// again within a minute for the same kid: tokens with made-up kids cannot hammer the provider.
constexpr auto kKeysAtMostEvery = std::chrono::seconds(1);
constexpr auto kSameKidAtMostEvery = std::chrono::minutes(1);

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// https://, or plain HTTP on the loopback (a test's provider).
bool acceptable(std::string_view url) {
  if (url.starts_with("https://")) return true;
  return url.starts_with("http://127.0.0.1:") || url.starts_with("http://127.0.0.1/") ||
         url.starts_with("http://localhost:") || url.starts_with("http://localhost/");
}

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kMaxAnswer) return 0;  // too large: the transfer fails
  body->append(data, size * count);
  return size * count;
}

struct Answer {
  long status = 0;
  std::string body;
};

struct Request {
  std::string url;
  const std::string* form = nullptr;  // POST this body (form-encoded)
  std::string basic_user, basic_password;
  std::string bearer;
};

Result<Answer> fetch(const ProviderConfig& config, const Request& r) {
  if (!acceptable(r.url)) {
    return fail(errc::kUnavailable, "the provider's URL is not https://: " + r.url);
  }
  init_curl_once();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), &curl_easy_cleanup);
  if (!c) return fail(errc::kUnavailable, "out of memory");
  Answer answer;
  char error[CURL_ERROR_SIZE] = {0};
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Accept: application/json"), &curl_slist_free_all);
  curl_easy_setopt(c.get(), CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config.ca_file.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, config.ca_file.c_str());
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &answer.body);
  const std::string bearer = "Authorization: Bearer " + r.bearer;
  if (!r.bearer.empty()) headers.reset(curl_slist_append(headers.release(), bearer.c_str()));
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers.get());
  if (r.form != nullptr) {
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, r.form->c_str());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.form->size()));
  }
  if (!r.basic_user.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c.get(), CURLOPT_USERNAME, r.basic_user.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PASSWORD, r.basic_password.c_str());
  }
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    return fail(errc::kUnavailable, "the provider at " + r.url + " could not be reached: " +
                                        (error[0] != 0 ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  return answer;
}

Result<json::object> json_object(const Answer& a, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (ec || !v.is_object()) return fail(errc::kUnavailable, what + " is not a JSON object");
  return std::move(v.as_object());
}

std::string string_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

std::string code_challenge(std::string_view verifier) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(verifier.data(), verifier.size(), digest, &len, EVP_sha256(), nullptr);
  return base64url(std::string_view(reinterpret_cast<const char*>(digest), len));
}

struct Client::Impl {
  ProviderConfig config;
  std::mutex mutex;
  std::optional<Metadata> metadata;
  Steady::time_point metadata_at{};
  std::shared_ptr<const KeySet> keys;
  std::optional<Steady::time_point> keys_at;
  std::map<std::string, Steady::time_point> looked_for;  // kids fetched for (bounded)

  Result<Metadata> load_metadata() {
    if (!config.discovered()) {
      return Metadata{config.issuer, config.authorization_endpoint, config.token_endpoint,
                      config.userinfo_endpoint, config.jwks_uri};
    }
    auto answer = fetch(config, {config.discovery_url});
    if (!answer) return Unexpected(answer.error());
    if (answer->status != 200) {
      return fail(errc::kUnavailable,
                  "the discovery document answered " + std::to_string(answer->status));
    }
    auto doc = json_object(*answer, "the discovery document");
    if (!doc) return Unexpected(doc.error());
    Metadata m{string_of(*doc, "issuer"), string_of(*doc, "authorization_endpoint"),
               string_of(*doc, "token_endpoint"), string_of(*doc, "userinfo_endpoint"),
               string_of(*doc, "jwks_uri")};
    // OpenID Connect Discovery §4.3: the issuer it names is the one configured.
    if (m.issuer != config.issuer) {
      return fail(errc::kUnavailable, "the discovery document names the issuer '" + m.issuer +
                                          "', not '" + config.issuer + "'");
    }
    for (const std::string* url : {&m.authorization_endpoint, &m.token_endpoint, &m.jwks_uri}) {
      if (url->empty() || !acceptable(*url)) {
        return fail(errc::kUnavailable, "the discovery document lacks an https:// endpoint");
      }
    }
    if (!m.userinfo_endpoint.empty() && !acceptable(m.userinfo_endpoint))
      m.userinfo_endpoint.clear();
    return m;
  }

  Result<std::shared_ptr<const KeySet>> load_keys(const std::string& uri) {
    auto answer = fetch(config, {uri});
    if (!answer) return Unexpected(answer.error());
    if (answer->status != 200) {
      return fail(errc::kUnavailable,
                  "the provider's keys answered " + std::to_string(answer->status));
    }
    auto set = KeySet::parse(answer->body);
    if (!set) return fail(errc::kUnavailable, "the provider's keys: " + set.error().message);
    return std::make_shared<const KeySet>(std::move(*set));
  }
};

Client::Client(ProviderConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
}
Client::~Client() = default;

const ProviderConfig& Client::config() const noexcept { return impl_->config; }

Result<Metadata> Client::metadata() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->metadata && Steady::now() - impl_->metadata_at < kMetadataFor) return *impl_->metadata;
  auto m = impl_->load_metadata();
  if (!m) {
    if (impl_->metadata) return *impl_->metadata;  // a provider down keeps what it said before
    return Unexpected(m.error());
  }
  impl_->metadata = *m;
  impl_->metadata_at = Steady::now();
  return *m;
}

Result<std::string> Client::authorization_url(std::string_view state, std::string_view nonce,
                                              std::string_view verifier,
                                              std::string_view redirect_uri) {
  auto m = metadata();
  if (!m) return Unexpected(m.error());
  const auto& c = impl_->config;
  std::string url = m->authorization_endpoint;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "response_type=code&client_id=" + percent_encoded(c.client_id) +
         "&redirect_uri=" + percent_encoded(redirect_uri) + "&scope=" + percent_encoded(c.scopes) +
         "&state=" + percent_encoded(state) + "&nonce=" + percent_encoded(nonce) +
         "&code_challenge=" + code_challenge(verifier) + "&code_challenge_method=S256";
  return url;
}

Result<Tokens> Client::exchange(std::string_view code, std::string_view verifier,
                                std::string_view redirect_uri) {
  auto m = metadata();
  if (!m) return Unexpected(m.error());
  const auto& c = impl_->config;
  const std::string form = "grant_type=authorization_code&code=" + percent_encoded(code) +
                           "&redirect_uri=" + percent_encoded(redirect_uri) +
                           "&code_verifier=" + percent_encoded(verifier);
  // RFC 6749 §2.3.1: the id and secret are form-encoded before they go into Basic.
  auto answer = fetch(c, {m->token_endpoint,
                          &form,
                          percent_encoded(c.client_id),
                          percent_encoded(c.client_secret),
                          {}});
  if (!answer) return Unexpected(answer.error());
  auto doc = json_object(*answer, "the token endpoint's answer");
  if (answer->status != 200) {
    const std::string why = doc ? string_of(*doc, "error") : std::string();
    if (answer->status == 400 || answer->status == 401) {
      return fail(errc::kInvalidRequest, "the provider refused the code (" +
                                             (why.empty() ? std::to_string(answer->status) : why) +
                                             ")");
    }
    return fail(errc::kUnavailable,
                "the token endpoint answered " + std::to_string(answer->status));
  }
  if (!doc) return Unexpected(doc.error());
  Tokens t{string_of(*doc, "id_token"), string_of(*doc, "access_token")};
  if (t.id_token.empty()) return fail(errc::kUnavailable, "the token endpoint gave no ID token");
  return t;
}

Result<json::object> Client::verify(std::string_view id_token, std::string_view nonce,
                                    std::int64_t now) {
  auto m = metadata();
  if (!m) return Unexpected(m.error());
  const Expected expected{impl_->config.issuer, impl_->config.client_id, std::string(nonce), now};
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<const KeySet> keys;
    {
      std::lock_guard lock(impl_->mutex);
      bool stale = !impl_->keys;
      if (attempt == 1) {
        const auto at = Steady::now();
        const std::string kid = token_kid(id_token);
        auto seen = impl_->looked_for.find(kid);
        stale = at - *impl_->keys_at >= kKeysAtMostEvery &&
                (seen == impl_->looked_for.end() || at - seen->second >= kSameKidAtMostEvery);
        if (!stale) break;
        if (impl_->looked_for.size() > 1000) impl_->looked_for.clear();
        impl_->looked_for[kid] = at;
      }
      if (stale) {
        auto loaded = impl_->load_keys(m->jwks_uri);
        if (!loaded) return Unexpected(loaded.error());
        impl_->keys = *loaded;
        impl_->keys_at = Steady::now();
      }
      keys = impl_->keys;
    }
    auto claims = verify_id_token(id_token, *keys, expected);
    if (claims || claims.error().code != kUnknownKey) return claims;
  }
  return fail(kInvalidToken, "no key of the provider signed this ID token");
}

Result<json::object> Client::userinfo(std::string_view access_token) {
  auto m = metadata();
  if (!m) return Unexpected(m.error());
  if (m->userinfo_endpoint.empty()) return json::object{};
  Request r{m->userinfo_endpoint};
  r.bearer = std::string(access_token);
  auto answer = fetch(impl_->config, r);
  if (!answer) return Unexpected(answer.error());
  if (answer->status != 200) {
    return fail(errc::kUnavailable,
                "the userinfo endpoint answered " + std::to_string(answer->status));
  }
  return json_object(*answer, "the userinfo answer");
}

}  // namespace portico::oidc
