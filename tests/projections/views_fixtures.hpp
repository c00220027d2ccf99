// A Desk (tests/core/service) whose log keeps the "views" projection, with Views over it.
#pragma once

#include <portico/projections/views.hpp>

#include "../core/service/service_fixtures.hpp"

namespace doctest {
template <>
struct StringMaker<std::vector<std::uint64_t>> {
  static String convert(const std::vector<std::uint64_t>& v) {
    std::string out = "{";
    for (auto n : v) out += (out.size() > 1 ? ", " : "") + std::to_string(n);
    return (out + "}").c_str();
  }
};
}  // namespace doctest

namespace portico::test {

namespace proj = portico::projections;

inline log::Options views_options() {
  log::Options o;
  o.projections = {proj::Views::projection()};
  return o;
}

struct ViewsDesk : Desk {
  explicit ViewsDesk(dom::project::Settings settings = default_settings())
      : Desk(std::move(settings), views_options()), views(*log) {}

  std::vector<std::uint64_t> numbers(const std::string& customer, proj::ListQuery q = {},
                                     const std::string& project = "acme") const {
    auto page = views.customer_tickets(customer, project, q);
    REQUIRE_MESSAGE(page, (page ? "" : page.error().message));
    std::vector<std::uint64_t> out;
    for (const auto& s : page->items) out.push_back(s.number);
    return out;
  }

  void run(std::uint64_t n, const dt::Command& c, const svc::CommandMeta& who) {
    auto r = portal->execute("acme", n, c, who);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  }

  void tick(dom::TimeUs by = dom::kSecond) { now += by; }

  proj::Views views;
};

}  // namespace portico::test
