// A second process for the log tests.
//
//   log_test_child append DIR STREAM COUNT     appends COUNT events one by one, prints "done N"
//   log_test_child crash DIR THREADS           appends for ever from THREADS threads; prints
//                                              "POSITION HASH" for every acknowledged event
//   log_test_child crash-projected DIR THREADS   the same with an inline projection
//                                              (count_projection.hpp)
//   log_test_child open-projected DIR VERSION   opens with the count projection at VERSION
//                                              (rebuilding it when the version changed), prints
//                                              "ok EVENTS" or the error
//   log_test_child fsize DIR LIMIT             appends under a file-size limit (a full disk)
//                                              until refused, then lifts it and appends again
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <portico/log/log.hpp>
#include <string>
#include <thread>
#include <vector>

#include "count_projection.hpp"

namespace plog = portico::log;

namespace {

plog::EventData event(std::string body) {
  plog::EventData e;
  e.type = "MessagePosted";
  e.actor = {plog::Realm::customer, "child"};
  e.payload = {{"body", std::move(body)}, {"pid", ::getpid()}};
  return e;
}

std::unique_ptr<plog::Log> open_or_die(const char* dir, plog::Options options = {}) {
  auto log = plog::Log::open(dir, std::move(options));
  if (!log) {
    std::printf("open failed: %s\n", log.error().message.c_str());
    std::exit(2);
  }
  return std::move(*log);
}

int append(const char* dir, const std::string& stream, int count) {
  auto log = open_or_die(dir);
  for (int i = 0; i < count; ++i) {
    auto r = log->append({stream, plog::ExpectedVersion::any(), {event(std::to_string(i))}});
    if (!r) {
      std::printf("append failed: %s\n", r.error().message.c_str());
      return 1;
    }
  }
  std::printf("done %d\n", count);
  return 0;
}

[[noreturn]] void crash(const char* dir, int threads, bool projected) {
  plog::Options options;
  if (projected) options.projections.push_back(std::make_shared<portico::test::CountProjection>());
  auto log = open_or_die(dir, std::move(options));
  std::mutex out_mu;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string stream = "crash-" + std::to_string(::getpid()) + "-" + std::to_string(t);
      for (int i = 0;; ++i) {
        // Mix single events with small multi-event appends.
        plog::StreamWrite w{stream, plog::ExpectedVersion::any(), {}};
        for (int k = 0; k <= i % 3; ++k)
          w.events.push_back(event(std::string(200, static_cast<char>('a' + k))));
        auto r = log->append(w);
        if (!r) {
          std::printf("append failed: %s\n", r.error().message.c_str());
          std::fflush(stdout);
          std::_Exit(1);
        }
        // Acknowledged: report each event; a single write() per line keeps lines whole.
        std::string lines;
        for (const auto& a : r->events) {
          lines += std::to_string(a.position) + " " + plog::to_hex(a.hash) + "\n";
        }
        std::lock_guard lock(out_mu);
        if (::write(1, lines.data(), lines.size()) < 0) std::_Exit(3);
      }
    });
  }
  for (auto& w : workers) w.join();
  std::_Exit(0);
}

int open_projected(const char* dir, std::uint32_t version) {
  plog::Options options;
  options.projections.push_back(std::make_shared<portico::test::CountProjection>(version));
  auto log = plog::Log::open(dir, std::move(options));
  if (!log) {
    std::printf("open failed: %s\n", log.error().message.c_str());
    return 1;
  }
  long events = -1;
  auto ok = (*log)->read_projection("counts", [&](const plog::TableReader& t) {
    events = portico::test::CountProjection::read(t, 1, "events");
  });
  std::printf("ok %ld %s\n", events, ok ? "" : ok.error().message.c_str());
  return 0;
}

int fsize(const char* dir, long limit) {
  ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG instead
  auto log = open_or_die(dir);
  rlimit rl{};
  ::getrlimit(RLIMIT_FSIZE, &rl);
  const rlimit original = rl;
  rl.rlim_cur = static_cast<rlim_t>(limit);
  ::setrlimit(RLIMIT_FSIZE, &rl);
  int accepted = 0;
  for (;; ++accepted) {
    auto r = log->append({"disk", plog::ExpectedVersion::any(), {event(std::string(3000, 'x'))}});
    if (!r) {
      std::printf("refused %s after %d: %s\n", std::string(plog::to_string(r.error().code)).c_str(),
                  accepted, r.error().message.c_str());
      break;
    }
    if (accepted > 100'000) {
      std::printf("never refused\n");
      return 1;
    }
  }
  auto head = log->head();
  std::printf("head %llu\n", static_cast<unsigned long long>(head ? *head : 0));
  ::setrlimit(RLIMIT_FSIZE, &original);  // space returns
  auto again = log->append({"disk", plog::ExpectedVersion::any(), {event("after")}});
  std::printf("after %s\n", again ? "ok" : again.error().message.c_str());
  auto verified = log->verify();
  std::printf("verify %s\n", verified && verified->ok ? "ok" : "failed");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "append" && argc == 5) return append(argv[2], argv[3], std::atoi(argv[4]));
  if (mode == "crash" && argc == 4) crash(argv[2], std::atoi(argv[3]), false);
  if (mode == "crash-projected" && argc == 4) crash(argv[2], std::atoi(argv[3]), true);
  if (mode == "fsize" && argc == 4) return fsize(argv[2], std::atol(argv[3]));
  if (mode == "open-projected" && argc == 4) {
    return open_projected(argv[2], static_cast<std::uint32_t>(std::atoi(argv[3])));
  }
  std::fprintf(stderr, "usage: log_test_child append|crash|fsize ...\n");
  return 2;
}
