// The sign-ins under way at identity providers (API.md part 2): what a callback needs to finish
// one — which provider and project, where to go after, the nonce, the PKCE verifier — kept in
// memory by the server that started it, under the `state` it sent to the provider.
//
// A flow is bound to the browser that started it (the hash of a random value in a cookie only
// that browser holds: a link to a provider's page sent to someone else cannot sign them in as
// its sender, nor add their identity to the sender's account), used at most once, and good for
// ten minutes. The table is bounded: when it is full of live flows a new one is refused (the
// caller answers 503), so no client can fill the memory by starting sign-ins.
//
// A restart forgets the flows under way: a person in the middle of one is sent back to the
// sign-in page with sign_in_error=invalid_state and tries again.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace portico::http::detail {

struct OidcFlow {
  std::string provider;
  std::string project;
  std::string return_to;      // a path on this server
  std::string nonce;          // sent in the authorization request, expected in the ID token
  std::string code_verifier;  // PKCE
  std::string browser_hash;   // SHA-256 of the browser cookie's value
  std::string link_customer;  // adding an identity to this signed-in customer; "" to sign in
  std::chrono::steady_clock::time_point started;
};

class OidcFlows {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::minutes kLifetime{10};

  explicit OidcFlows(std::size_t capacity) : capacity_(capacity) {}

  // Keeps `flow` under `state`; false when the table is full of live flows.
  bool put(const std::string& state, OidcFlow flow, Clock::time_point now);
  // The flow under `state`, taken out (single use): nullopt when unknown, used, or older than
  // kLifetime.
  std::optional<OidcFlow> take(const std::string& state, Clock::time_point now);
  std::size_t size() const;

 private:
  void sweep(Clock::time_point now);

  mutable std::mutex mu_;
  std::size_t capacity_;
  std::unordered_map<std::string, OidcFlow> flows_;
};

}  // namespace portico::http::detail
