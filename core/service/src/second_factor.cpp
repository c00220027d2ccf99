#include "second_factor.hpp"

#include <liboath/oath.h>
#include <sodium.h>

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <portico/encoding.hpp>
#include <portico/errc.hpp>

namespace portico::service::detail {

namespace totp = domain::totp;

namespace {

void init_oath_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (oath_init() != OATH_OK) std::abort();
  });
}

// A key for one purpose, derived from the server's key (BLAKE2b keyed with it).
void derive(unsigned char (&out)[32], std::string_view server_key, std::string_view purpose) {
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(purpose.data()),
                     purpose.size(), reinterpret_cast<const unsigned char*>(server_key.data()),
                     std::min<std::size_t>(server_key.size(), crypto_generichash_KEYBYTES_MAX));
}

std::string base32(const unsigned char* bytes, std::size_t n) {
  char* out = nullptr;
  size_t len = 0;
  if (oath_base32_encode(reinterpret_cast<const char*>(bytes), n, &out, &len) != OATH_OK) {
    return {};
  }
  std::string s(out, len);
  std::free(out);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out(2 * n + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

// A recovery code as typed: upper case, without dashes and spaces.
std::string normalised(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

bool six_digits(std::string_view s) {
  return s.size() == 6 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

SecondFactor::SecondFactor(std::string_view server_key) {
  init_oath_once();
  if (sodium_init() < 0) std::abort();
  if (server_key.size() < 16) return;
  derive(seal_key_, server_key, "portico/totp-secret/v1");
  derive(hash_key_, server_key, "portico/totp-recovery/v1");
  available_ = true;
}

Result<SecondFactor::NewSecret> SecondFactor::new_secret() const {
  if (!available_) {
    return fail(errc::kUnavailable, "this server has no key to keep two-factor secrets with");
  }
  unsigned char secret[kSecretBytes];
  randombytes_buf(secret, sizeof secret);
  // Sealed: nonce, then the secretbox of the secret, in base64.
  unsigned char box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + kSecretBytes];
  randombytes_buf(box, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, secret, sizeof secret, box, seal_key_);
  std::string sealed(sodium_base64_ENCODED_LEN(sizeof box, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(sealed.data(), sealed.size(), box, sizeof box, sodium_base64_VARIANT_ORIGINAL);
  sealed.pop_back();  // the terminating NUL
  NewSecret out{base32(secret, sizeof secret), std::move(sealed)};
  sodium_memzero(secret, sizeof secret);
  if (out.base32.empty()) return fail(errc::kUnavailable, "cannot encode a two-factor secret");
  return out;
}

std::string SecondFactor::unseal(std::string_view sealed) const {
  if (!available_) return {};
  unsigned char box[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + kSecretBytes];
  size_t len = 0;
  if (sodium_base642bin(box, sizeof box, sealed.data(), sealed.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != sizeof box) {
    return {};
  }
  std::string secret(kSecretBytes, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(secret.data()),
                                 box + crypto_secretbox_NONCEBYTES,
                                 sizeof box - crypto_secretbox_NONCEBYTES, box, seal_key_) != 0) {
    return {};  // another server's key, or altered
  }
  return secret;
}

std::string SecondFactor::recovery_hash(std::string_view code) const {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(code.data()),
                     code.size(), hash_key_, sizeof hash_key_);
  return hex(out, sizeof out);
}

totp::Presented SecondFactor::match(const totp::State& state, std::string_view presented,
                                    bool pending, std::int64_t now_seconds) const {
  using Kind = totp::Presented::Kind;
  if (presented.empty()) return {Kind::nothing};
  if (six_digits(presented)) {
    std::string secret = unseal(pending ? state.pending_secret : state.secret);
    if (secret.empty()) return {Kind::wrong};
    int position = 0;
    uint64_t counter = 0;
    const std::string code(presented);
    const int rc =
        oath_totp_validate3(secret.data(), secret.size(), static_cast<time_t>(now_seconds),
                            kStepSeconds, 0, 1, &position, &counter, code.c_str());
    sodium_memzero(secret.data(), secret.size());
    if (rc < 0) return {Kind::wrong};
    return {Kind::code, static_cast<std::int64_t>(counter), 0};
  }
  if (pending || presented.size() > 64) return {Kind::wrong};
  const std::string hash = recovery_hash(normalised(presented));
  for (std::size_t i = 0; i < state.recovery_hashes.size(); ++i) {
    if (state.recovery_hashes[i].size() == hash.size() &&
        sodium_memcmp(hash.data(), state.recovery_hashes[i].data(), hash.size()) == 0) {
      return {Kind::recovery, 0, static_cast<std::uint32_t>(i)};
    }
  }
  return {Kind::wrong};
}

SecondFactor::RecoveryCodes SecondFactor::recovery_codes() const {
  RecoveryCodes out;
  for (std::size_t i = 0; i < totp::kRecoveryCodes; ++i) {
    unsigned char raw[10];  // 80 bits: 16 base32 characters
    randombytes_buf(raw, sizeof raw);
    const std::string plain = base32(raw, sizeof raw);
    std::string shown;
    for (std::size_t j = 0; j < plain.size(); ++j) {
      if (j > 0 && j % 4 == 0) shown.push_back('-');
      shown.push_back(plain[j]);
    }
    out.hashes.push_back(recovery_hash(plain));
    out.codes.push_back(std::move(shown));
  }
  return out;
}

std::string SecondFactor::otpauth_url(std::string_view issuer, std::string_view account,
                                      std::string_view secret) {
  const std::string who = percent_encoded(issuer);
  return "otpauth://totp/" + who + ":" + percent_encoded(account) +
         "?secret=" + std::string(secret) + "&issuer=" + who + "&algorithm=SHA1&digits=6&period=30";
}

}  // namespace portico::service::detail
