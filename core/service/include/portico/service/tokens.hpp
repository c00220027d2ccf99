// Secrets handed to people (sessions, sign-in links, invite links): random, and stored only as
// hashes.
#pragma once

#include <string>
#include <string_view>

namespace portico::service {

// 256 random bits from the operating system's CSPRNG, base64url without padding (43 characters).
std::string new_token();
// What is stored and looked up instead of the token: SHA-256, lower-case hex.
std::string token_hash(std::string_view token);

}  // namespace portico::service
