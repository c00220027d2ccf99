// A second process for the projection tests.
//
//   projections_test_child runner DIR   feeds the async projections "outbox" and "counts" from the
//                                       log in DIR with two Runners; prints "position P" each time
//                                       both have reached a new position P; runs until killed
#include <cstdio>
#include <portico/projections/outbox.hpp>
#include <portico/projections/runner.hpp>
#include <string>
#include <thread>

#include "../core/log/count_projection.hpp"

namespace plog = portico::log;
namespace proj = portico::projections;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc != 3 || std::string(argv[1]) != "runner") {
    std::fprintf(stderr, "usage: projections_test_child runner DIR\n");
    return 2;
  }
  plog::Options options;
  options.create = false;
  options.async_projections = {proj::Outbox::projection(),
                               std::make_shared<portico::test::CountProjection>()};
  auto log = plog::Log::open(argv[2], std::move(options));
  if (!log) {
    std::printf("open failed: %s\n", log.error().message.c_str());
    return 1;
  }
  proj::RunnerOptions ro;
  ro.batch = 64;  // many small transactions: many moments to be killed in
  proj::Runner outbox(**log, "outbox", ro), counts(**log, "counts", ro);
  if (!outbox.start() || !counts.start()) return 1;
  std::uint64_t reported = ~std::uint64_t{0};
  for (;;) {
    const std::uint64_t p = std::min(outbox.position(), counts.position());
    if (p != reported) {
      std::printf("position %llu\n", static_cast<unsigned long long>(p));
      reported = p;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}
