#include "oidc_flows.hpp"

namespace portico::http::detail {

bool OidcFlows::put(const std::string& state, OidcFlow flow, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (flows_.size() >= capacity_) sweep(now);
  if (flows_.size() >= capacity_) return false;
  flow.started = now;
  flows_.insert_or_assign(state, std::move(flow));
  return true;
}

std::optional<OidcFlow> OidcFlows::take(const std::string& state, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = flows_.find(state);
  if (it == flows_.end()) return std::nullopt;
  OidcFlow flow = std::move(it->second);
  flows_.erase(it);
  if (now - flow.started > kLifetime) return std::nullopt;
  return flow;
}

std::size_t OidcFlows::size() const {
  std::lock_guard lock(mu_);
  return flows_.size();
}

void OidcFlows::sweep(Clock::time_point now) {
  std::erase_if(flows_, [&](const auto& entry) { return now - entry.second.started > kLifetime; });
}

}  // namespace portico::http::detail
