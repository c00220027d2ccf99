// The cryptography of two-factor sign-in, for Accounts: secrets sealed with a key derived from
// the server's key (libsodium secretbox), codes checked with liboath (RFC 6238: SHA-1, 6 digits,
// 30 s steps, one step either side), recovery codes and their keyed hashes. What a match means
// is decided by the domain (portico/domain/totp.hpp).
#pragma once

#include <cstdint>
#include <portico/domain/totp.hpp>
#include <portico/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::service::detail {

class SecondFactor {
 public:
  static constexpr unsigned kStepSeconds = 30;
  static constexpr std::size_t kSecretBytes = 20;  // 160 bits, as RFC 4226 recommends

  // `server_key`: the server's secret (at least 16 bytes); empty leaves two-factor unavailable.
  explicit SecondFactor(std::string_view server_key);

  bool available() const noexcept { return available_; }

  struct NewSecret {
    std::string base32;  // for the authenticator app (and the otpauth URL)
    std::string sealed;  // for the log
  };
  Result<NewSecret> new_secret() const;

  // What `presented` is against the secret (the pending one with `pending`) and the recovery
  // codes of `state`, at `now_seconds`: a 6-digit code that matches a step within one of now,
  // an unused-or-used recovery code whose hash matches, nothing, or wrong.
  domain::totp::Presented match(const domain::totp::State& state, std::string_view presented,
                                bool pending, std::int64_t now_seconds) const;

  struct RecoveryCodes {
    std::vector<std::string> codes;   // shown once: "ABCD-EFGH-IJKL-MNOP" (80 bits each)
    std::vector<std::string> hashes;  // stored: keyed BLAKE2b of the normalised code, hex
  };
  RecoveryCodes recovery_codes() const;

  // otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
  static std::string otpauth_url(std::string_view issuer, std::string_view account,
                                 std::string_view base32_secret);

 private:
  std::string unseal(std::string_view sealed) const;  // "" when it does not open
  std::string recovery_hash(std::string_view normalised_code) const;

  bool available_ = false;
  unsigned char seal_key_[32] = {};
  unsigned char hash_key_[32] = {};
};

}  // namespace portico::service::detail
