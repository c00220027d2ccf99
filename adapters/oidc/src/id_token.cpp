#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <boost/json/parse.hpp>
#include <portico/encoding.hpp>
#include <portico/errc.hpp>
#include <portico/oidc/id_token.hpp>

namespace portico::oidc {

namespace json = boost::json;

struct KeySet::Key {
  std::string kid;
  std::string alg;  // RS256 or ES256: the only one this key verifies
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

std::string string_of(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

Unexpected<Error> refused(std::string why) { return fail(kInvalidToken, std::move(why)); }

using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)>;
using Params = std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)>;
using Bn = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;

Bn bignum(const std::string& big_endian) {
  return Bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                      static_cast<int>(big_endian.size()), nullptr),
            &BN_free);
}

// An EVP_PKEY from OSSL parameters of `type` ("RSA" or "EC").
EVP_PKEY* from_params(const char* type, OSSL_PARAM* params) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr), &EVP_PKEY_CTX_free);
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
    return nullptr;
  }
  return pkey;
}

EVP_PKEY* rsa_key(const std::string& n, const std::string& e) {
  if (n.size() < 256) return nullptr;  // RSA under 2048 bits is refused
  Bn bn_n = bignum(n), bn_e = bignum(e);
  ParamBld bld(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
  if (!bn_n || !bn_e || !bld ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()), &OSSL_PARAM_free);
  return params ? from_params("RSA", params.get()) : nullptr;
}

EVP_PKEY* p256_key(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;  // uncompressed
  ParamBld bld(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()), &OSSL_PARAM_free);
  return params ? from_params("EC", params.get()) : nullptr;
}

// JOSE's ES256 signature is r || s (32 bytes each); OpenSSL verifies DER.
std::optional<std::string> es256_der(const std::string& raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool signature_holds(EVP_PKEY* key, std::string_view signed_part, const std::string& signature) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
         EVP_DigestVerify(
             ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
             reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
}

std::optional<std::int64_t> seconds(const json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() < (1ull << 62))
    return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

}  // namespace

KeySet::KeySet() = default;
KeySet::~KeySet() = default;
KeySet::KeySet(KeySet&&) noexcept = default;
KeySet& KeySet::operator=(KeySet&&) noexcept = default;

Result<KeySet> KeySet::parse(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("keys") ||
      !doc.as_object().at("keys").is_array()) {
    return fail(errc::kInvalidRequest, "a JWKS is an object with a \"keys\" array");
  }
  KeySet set;
  for (const auto& v : doc.as_object().at("keys").as_array()) {
    if (!v.is_object()) continue;
    const auto& k = v.as_object();
    const std::string kty = string_of(k, "kty"), use = string_of(k, "use"),
                      alg = string_of(k, "alg");
    if (!use.empty() && use != "sig") continue;
    auto key = std::make_unique<Key>();
    key->kid = string_of(k, "kid");
    if (kty == "RSA" && (alg.empty() || alg == "RS256")) {
      auto n = unbase64url(string_of(k, "n")), e = unbase64url(string_of(k, "e"));
      key->alg = "RS256";
      key->pkey = n && e ? rsa_key(*n, *e) : nullptr;
    } else if (kty == "EC" && string_of(k, "crv") == "P-256" && (alg.empty() || alg == "ES256")) {
      auto x = unbase64url(string_of(k, "x")), y = unbase64url(string_of(k, "y"));
      key->alg = "ES256";
      key->pkey = x && y ? p256_key(*x, *y) : nullptr;
    } else {
      continue;  // another type, curve or algorithm: not one this client verifies
    }
    if (!key->pkey) {
      return fail(errc::kInvalidRequest, "the JWKS key '" + key->kid + "' does not decode");
    }
    set.keys_.push_back(std::move(key));
  }
  return set;
}

const KeySet::Key* KeySet::find(std::string_view kid) const noexcept {
  if (kid.empty()) return keys_.size() == 1 ? keys_.front().get() : nullptr;
  for (const auto& k : keys_) {
    if (k->kid == kid) return k.get();
  }
  return nullptr;
}

std::string token_kid(std::string_view token) {
  auto header_text = unbase64url(token.substr(0, std::min(token.find('.'), std::size_t{4096})));
  if (!header_text) return {};
  boost::system::error_code ec;
  json::value header = json::parse(*header_text, ec);
  return !ec && header.is_object() ? string_of(header.as_object(), "kid") : std::string();
}

Result<json::object> verify_id_token(std::string_view token, const KeySet& keys,
                                     const Expected& expected) {
  if (token.size() > 16 * 1024) return refused("the ID token is too long");
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return refused("the ID token is not a compact JWS");
  }
  auto header_text = unbase64url(token.substr(0, first));
  auto payload_text = unbase64url(token.substr(first + 1, second - first - 1));
  auto signature = unbase64url(token.substr(second + 1));
  if (!header_text || !payload_text || !signature) return refused("the ID token is not base64url");
  boost::system::error_code ec;
  json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return refused("the ID token's header is not JSON");
  const std::string alg = string_of(header.as_object(), "alg");
  if (alg != "RS256" && alg != "ES256")
    return refused("the ID token's algorithm '" + alg + "' is not accepted");
  if (header.as_object().contains("crit")) return refused("the ID token has critical extensions");

  const KeySet::Key* key = keys.find(string_of(header.as_object(), "kid"));
  if (!key) return fail(kUnknownKey, "no key of the provider signed this ID token");
  if (key->alg != alg) return refused("the ID token's algorithm is not its key's");
  std::string sig = *signature;
  if (alg == "ES256") {
    auto der = es256_der(sig);
    if (!der) return refused("the ID token's signature is malformed");
    sig = std::move(*der);
  }
  if (!signature_holds(key->pkey, token.substr(0, second), sig)) {
    return refused("the ID token's signature does not verify");
  }

  json::value payload = json::parse(*payload_text, ec);
  if (ec || !payload.is_object()) return refused("the ID token's claims are not JSON");
  json::object claims = std::move(payload.as_object());

  std::string issuer = expected.issuer;
  if (const auto at = issuer.find("{tenantid}"); at != std::string::npos) {
    const std::string tid = string_of(claims, "tid");
    if (tid.empty()) return refused("the ID token names no tenant (tid)");
    issuer.replace(at, 10, tid);
  }
  if (string_of(claims, "iss") != issuer)
    return refused("the ID token's issuer is not the provider");
  if (string_of(claims, "sub").empty()) return refused("the ID token names no subject");

  std::size_t audiences = 0;
  bool ours = false;
  if (const auto* aud = claims.if_contains("aud")) {
    if (aud->is_string()) {
      audiences = 1;
      ours = aud->get_string() == expected.client_id;
    } else if (aud->is_array()) {
      for (const auto& a : aud->get_array()) {
        ++audiences;
        ours = ours || (a.is_string() && a.get_string() == expected.client_id);
      }
    }
  }
  if (!ours) return refused("the ID token is not for this client (aud)");
  const std::string azp = string_of(claims, "azp");
  if ((audiences > 1 || claims.contains("azp")) && azp != expected.client_id) {
    return refused("the ID token was issued to another party (azp)");
  }
  const auto exp = seconds(claims, "exp"), iat = seconds(claims, "iat");
  if (!exp || !iat) return refused("the ID token has no exp or iat");
  if (*exp + expected.leeway <= expected.now) return refused("the ID token has expired");
  if (*iat - expected.leeway > expected.now)
    return refused("the ID token was issued in the future");
  if (expected.nonce.empty() || string_of(claims, "nonce") != expected.nonce) {
    return refused("the ID token's nonce is not this sign-in's");
  }
  return claims;
}

}  // namespace portico::oidc
