// Embedding Portico's event log: open a log in a temporary directory, append events to a stream,
// read the stream back and print it.
//
//   portico-embed-example [DIR]      (a fresh temporary directory when DIR is left out)
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <portico/log/log.hpp>
#include <string>

namespace plog = portico::log;

int main(int argc, char** argv) {
  std::filesystem::path dir;
  if (argc > 1) {
    dir = argv[1];
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-embed-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return std::perror("mkdtemp"), 1;
    dir = tmpl;
  }

  // 1. Open (or create) the log. Errors come back as values, never as exceptions.
  auto opened = plog::Log::open(dir);
  if (!opened) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), opened.error().message.c_str());
    return 1;
  }
  plog::Log& log = **opened;

  // 2. Append two events to a new stream. `no_stream` makes the append fail with a conflict if
  //    somebody else created the stream first; the call returns once the events are on disk.
  plog::StreamWrite write;
  write.stream = "ticket-demo-1";
  write.expected = plog::ExpectedVersion::no_stream();
  write.events.push_back({.type = "TicketOpened",
                          .actor = {plog::Realm::customer, "cust-42"},
                          .payload = {{"subject", "The server will not start"}}});
  write.events.push_back({.type = "MessagePosted",
                          .actor = {plog::Realm::staff, "staff-7"},
                          .payload = {{"body", "Which version are you running?"}}});
  auto appended = log.append(write);
  if (!appended) {
    std::fprintf(stderr, "append failed: %s\n", appended.error().message.c_str());
    return 1;
  }

  // 3. Appending again with the version we now know is fine; a stale version is refused.
  auto stale = log.append({.stream = "ticket-demo-1",
                           .expected = plog::ExpectedVersion::exactly(1),
                           .events = {{.type = "MessagePosted",
                                       .actor = {plog::Realm::customer, "cust-42"},
                                       .payload = {{"body", "1.2.3"}}}}});
  std::printf("append at a stale version: %s\n",
              stale ? "accepted?!" : std::string(plog::to_string(stale.error().code)).c_str());

  // 4. Read the stream back from its first version.
  auto records = log.read_stream("ticket-demo-1", 1, plog::Direction::forward, 100);
  if (!records) {
    std::fprintf(stderr, "read failed: %s\n", records.error().message.c_str());
    return 1;
  }
  std::printf("log in %s, stream ticket-demo-1:\n", dir.c_str());
  for (const plog::Record& r : *records) {
    std::printf("  #%llu v%llu %-14s by %s:%s at %s\n    payload %s\n    hash %s\n",
                static_cast<unsigned long long>(r.position),
                static_cast<unsigned long long>(r.stream_version), r.type.c_str(),
                std::string(plog::to_string(r.actor.realm)).c_str(), r.actor.id.c_str(),
                plog::format_time_us(r.recorded_at_us).c_str(), r.payload.c_str(),
                plog::to_hex(r.hash).c_str());
  }
  return 0;
}
