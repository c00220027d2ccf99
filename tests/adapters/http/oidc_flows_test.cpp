// The sign-ins under way at identity providers (adapters/http/src/oidc_flows.hpp): single use,
// ten minutes, and a bounded table — on a clock the test moves.
#include "oidc_flows.hpp"

#include <doctest/doctest.h>

namespace {

using portico::http::detail::OidcFlow;
using portico::http::detail::OidcFlows;
using namespace std::chrono_literals;

OidcFlow flow(const std::string& project) {
  OidcFlow f;
  f.provider = "google";
  f.project = project;
  f.return_to = "/p/" + project + "/";
  f.nonce = "nonce";
  f.code_verifier = "verifier";
  f.browser_hash = "browser";
  return f;
}

}  // namespace

TEST_CASE("a sign-in flow is taken once and only within ten minutes") {
  OidcFlows flows(10);
  const auto t0 = OidcFlows::Clock::now();
  REQUIRE(flows.put("acme.a", flow("acme"), t0));
  auto taken = flows.take("acme.a", t0 + 9min);
  REQUIRE(taken);
  CHECK(taken->project == "acme");
  CHECK(taken->nonce == "nonce");
  CHECK_FALSE(flows.take("acme.a", t0 + 9min));  // used
  REQUIRE(flows.put("acme.b", flow("acme"), t0));
  CHECK_FALSE(flows.take("acme.b", t0 + 10min + 1s));  // too old
  CHECK_FALSE(flows.take("acme.b", t0));               // and gone
  CHECK_FALSE(flows.take("acme.never", t0));
  CHECK(flows.size() == 0);
}

TEST_CASE("the table of sign-in flows is bounded - expired ones make room and live ones do not") {
  OidcFlows flows(3);
  const auto t0 = OidcFlows::Clock::now();
  for (const char* s : {"a", "b", "c"}) REQUIRE(flows.put(s, flow("acme"), t0));
  CHECK_FALSE(flows.put("d", flow("acme"), t0 + 1min));  // full of live flows: refused
  CHECK(flows.size() == 3);
  CHECK(flows.take("a", t0 + 1min));  // the live ones still work
  CHECK(flows.put("d", flow("acme"), t0 + 1min));
  // Later the old ones have expired and are swept when room is needed.
  CHECK(flows.put("e", flow("acme"), t0 + 11min));
  CHECK(flows.size() == 2);  // d and e
  CHECK(flows.take("d", t0 + 11min));
}
