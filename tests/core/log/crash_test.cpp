// Crash safety: a child appends under load and reports each acknowledged event; it is killed with
// SIGKILL at random moments; every acknowledged event must survive with the same bytes.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <sstream>

#include "../../support/child_process.hpp"
#include "fixtures.hpp"

namespace plog = portico::log;
using namespace std::chrono_literals;
using portico::test::open_log;
using portico::test::TempDir;

TEST_CASE("every acknowledged event survives SIGKILL at random moments (50 kills)") {
  TempDir dir;
  constexpr int kKills = 50;
  std::mt19937 rng(20261122);
  std::map<std::uint64_t, std::string> acked;  // position -> hash the child was told
  std::size_t kills_during_appends = 0;

  auto take = [&](const std::string& line) {
    std::istringstream in(line);
    std::uint64_t position = 0;
    std::string hash;
    in >> position >> hash;
    REQUIRE_MESSAGE((position > 0 && hash.size() == 64), "unexpected child output: " << line);
    auto [it, fresh] = acked.emplace(position, hash);
    // Two acknowledgements of one position must agree: positions are never reused.
    CHECK_MESSAGE(it->second == hash, "position " << position << " acknowledged twice");
    return fresh;
  };

  for (int round = 0; round < kKills; ++round) {
    const std::size_t before = acked.size();
    const std::uint64_t high_before = acked.empty() ? 0 : acked.rbegin()->first;
    {
      portico::test::ChildProcess child(
          {PORTICO_LOG_TEST_CHILD, "crash", dir.path().string(), "4"});
      // Let it run until it has acknowledged something, then a random while longer.
      if (auto first = child.read_line(30s)) take(*first);
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(rng() % 120);
      while (std::chrono::steady_clock::now() < until) {
        auto line = child.read_line(5ms);
        if (line) take(*line);
      }
      child.kill(SIGKILL);
      std::istringstream rest(child.read_rest());  // acks written before it died
      for (std::string line; std::getline(rest, line);) take(line);
      const int status = child.wait();
      CHECK(WIFSIGNALED(status));
    }
    if (acked.size() > before) ++kills_during_appends;

    // Reopen as the next process would, and check what this round acknowledged.
    auto log = open_log(dir.path());
    for (auto it = acked.upper_bound(high_before); it != acked.end(); ++it) {
      auto r = log->read_all(it->first, 1);
      REQUIRE(r);
      REQUIRE_MESSAGE(r->size() == 1, "acknowledged position " << it->first << " is gone");
      CHECK(plog::to_hex(r->front().hash) == it->second);
    }
    auto report = log->verify();
    REQUIRE(report);
    REQUIRE_MESSAGE(report->ok, "round " << round << ": " << report->problem);
  }

  // Finally every acknowledgement of every round, against the whole log.
  auto log = open_log(dir.path());
  std::uint64_t checked = 0;
  for (std::uint64_t next = 1;;) {
    auto chunk = log->read_all(next, 4096);
    REQUIRE(chunk);
    if (chunk->empty()) break;
    for (const auto& r : *chunk) {
      if (auto it = acked.find(r.position); it != acked.end()) {
        CHECK(plog::to_hex(r.hash) == it->second);
        ++checked;
      }
    }
    next = chunk->back().position + 1;
  }
  CHECK(checked == acked.size());
  CHECK(kills_during_appends >= kKills * 9 / 10);
  MESSAGE(acked.size() << " acknowledged events over " << kKills << " kills; log head "
                       << log->head().value());
  auto audit = portico::test::run({PORTICO_AUDIT, "verify", dir.path().string()});
  CHECK(audit.exit_code == 0);
}
