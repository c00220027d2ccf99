#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <portico/encoding.hpp>
#include <portico/service/tokens.hpp>

namespace portico::service {

namespace {

std::string mac(std::string_view secret, std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

std::string new_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    std::abort();  // no randomness: never hand out a guessable secret
  }
  return base64url(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string new_passphrase(int groups) {
  if (sodium_init() < 0) std::abort();  // no randomness: never hand out a guessable secret
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // no l, o, 0, 1
  for (;;) {
    std::string out;
    for (int g = 0; g < groups; ++g) {
      if (g > 0) out.push_back('-');
      for (int i = 0; i < 4; ++i)
        out.push_back(kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)]);
    }
    // Digits only would be refused as a password (and is as likely as any other draw).
    if (out.find_first_not_of("23456789-") != std::string::npos) return out;
  }
}

std::string token_hash(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::string derived_token(std::string_view secret, std::string_view input) {
  return base64url(mac(secret, "portico/derived\n" + std::string(input)));
}

std::string csrf_token(std::string_view session_token) {
  return base64url(mac(session_token, "portico/csrf"));
}

std::string survey_token(std::string_view secret, const SurveyRef& survey) {
  const std::string payload =
      survey.project + "\n" + std::to_string(survey.number) + "\n" + survey.survey_id;
  return base64url(payload) + "." + base64url(mac(secret, "portico/survey\n" + payload));
}

std::optional<SurveyRef> parse_survey_token(std::string_view secret, std::string_view token) {
  if (token.size() > 512) return std::nullopt;
  const auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto payload = unbase64url(token.substr(0, dot));
  auto signature = unbase64url(token.substr(dot + 1));
  if (!payload || !signature) return std::nullopt;
  const std::string expected = mac(secret, "portico/survey\n" + *payload);
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return std::nullopt;
  }
  const auto a = payload->find('\n');
  const auto b = payload->find('\n', a == std::string::npos ? a : a + 1);
  if (a == std::string::npos || b == std::string::npos) return std::nullopt;
  SurveyRef ref;
  ref.project = payload->substr(0, a);
  const std::string_view number(payload->data() + a + 1, b - a - 1);
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), ref.number);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  ref.survey_id = payload->substr(b + 1);
  return ref;
}

}  // namespace portico::service
