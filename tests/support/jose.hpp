// JOSE for the tests: signing keys made with OpenSSL, their JWKs, and ID tokens signed with them
// (RS256, ES256), as an OpenID provider would.
#pragma once

#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>
#include <portico/encoding.hpp>
#include <string>

namespace portico::test {

inline std::string bn_bytes(EVP_PKEY* key, const char* name, std::size_t pad = 0) {
  BIGNUM* bn = nullptr;
  REQUIRE(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
  std::string out(std::max<std::size_t>(pad, static_cast<std::size_t>(BN_num_bytes(bn))), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

// A signing key of the test's provider, and its JWK.
struct Signer {
  EVP_PKEY* key = nullptr;
  std::string alg, kid;
  Signer(std::string a, std::string k, int rsa_bits = 2048) : alg(std::move(a)), kid(std::move(k)) {
    key = alg == "ES256" ? EVP_EC_gen("P-256") : EVP_RSA_gen(static_cast<unsigned>(rsa_bits));
    REQUIRE(key != nullptr);
  }
  ~Signer() { EVP_PKEY_free(key); }
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  boost::json::object jwk() const {
    if (alg == "ES256") {
      return {{"kty", "EC"},
              {"crv", "P-256"},
              {"kid", kid},
              {"use", "sig"},
              {"x", portico::base64url(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
              {"y", portico::base64url(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
    }
    return {{"kty", "RSA"},
            {"kid", kid},
            {"alg", "RS256"},
            {"n", portico::base64url(bn_bytes(key, OSSL_PKEY_PARAM_RSA_N))},
            {"e", portico::base64url(bn_bytes(key, OSSL_PKEY_PARAM_RSA_E))}};
  }

  std::string sign(const boost::json::object& claims, boost::json::object header = {}) const {
    if (!header.contains("alg")) header["alg"] = alg;
    if (!header.contains("kid")) header["kid"] = kid;
    const std::string input = portico::base64url(boost::json::serialize(header)) + "." +
                              portico::base64url(boost::json::serialize(claims));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    REQUIRE(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1);
    REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    std::string sig(len, '\0');
    REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    if (alg == "ES256") {  // DER to r || s
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      REQUIRE(s != nullptr);
      std::string raw(64, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
      ECDSA_SIG_free(s);
      sig = raw;
    }
    return input + "." + portico::base64url(sig);
  }
};

}  // namespace portico::test
