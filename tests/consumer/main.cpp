#include <cstdio>
#include <portico/log/log.hpp>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto log = portico::log::Log::open(argv[1]);
  if (!log) return 1;
  portico::log::EventData e;
  e.type = "ConsumerStarted";
  auto r = (*log)->append({"consumer", portico::log::ExpectedVersion::any(), {e}});
  if (!r) return 1;
  std::printf("consumer appended at position %llu\n",
              static_cast<unsigned long long>(r->events[0].position));
  return 0;
}
