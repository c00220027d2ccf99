// portico-projection-bench — what the portal's read models (portico::projections::Views, the
// inline "views" projection) cost on this machine as a project grows (issue 4).
//
//   portico-projection-bench [--dir DIR] [--keep] [--sizes N,N,...] [--reads R] [--batch B]
//                            [--customers K] [--no-baseline] [--quick]
//
//   --dir DIR       where the logs go (default: a fresh mkdtemp directory under the system temp
//                   directory). What the bench creates there is removed at the end unless --keep.
//   --sizes N,...   tickets in the project, one fresh log per size (default 10000,100000,1000000)
//   --reads R       timed reads per list figure (default 500)
//   --batch B       tickets per append while filling (default 1000)
//   --customers K   member customers of the project (default 1000): customer 0 holds every 8th
//                   ticket, the others share the rest
//   --no-baseline   skip the second fill of each size into a log without the projection (which
//                   gives the ingest rate without it and splits the disk cost into log and views)
//   --quick         sizes 10000,30000 and 100 reads (under 10 s) for a smoke run;
//                   explicit flags still win
//
// For each size N, on a fresh durable log with Views::projection() registered inline:
//   1. fill: one project ("acme", organisations off), K customers who signed in on it, then N
//      tickets appended directly with Log::append (not through the Portal), B tickets per call,
//      each ticket its own stream with "no stream" expected. Every 8th ticket belongs to one
//      heavy customer (N/8 tickets), the rest are spread over the other K - 1 (about N/K each).
//      Half the tickets change status one batch later (StatusChanged to in_progress 20%,
//      awaiting_customer 10%, resolved 10%; TicketClosed 10%), which moves them up the lists.
//      The same events go into a second log without the projection (unless --no-baseline).
//      Figures: tickets/s inside Log::append, CPU per ticket, and bytes the commits wrote per
//      ticket ("wchar" of /proc/self/io: LMDB writes every page a commit dirtied).
//   2. disk: data.mdb and a compacted backup (Log::backup) of both logs; the difference is what
//      the views cost.
//   3. reads: the log is closed and opened again (a fresh memory map), then each list figure is
//      read R times after 10 untimed reads, the figures taking turns in 5 rounds: first pages of
//      limit 20 of a typical customer's list, the heavy customer's (all, and filtered by status)
//      and the staff queue (no filter, one status, three statuses), and page 51 of the heavy
//      customer's list and of the queue (the cursor is found by walking 50 pages first, then that
//      one page is read R times).
//   4. memory: the heap (RssAnon of /proc/self/status, after malloc_trim) after the fill and
//      after the reads; the pages of data.mdb mapped into this process (the Rss of its mapping in
//      /proc/self/smaps) after all reads; and, for each list figure, one read alone on a freshly
//      opened log (a new memory map): the Rss it adds, an upper bound on the pages it touched
//      (each page fault also maps the page's neighbours in the page cache: fault-around, whole
//      large folios; about 90 KiB per fault here), and its minor page faults, a lower bound. LMDB
//      reads through a shared read-only mmap, so the views hold no memory of their own per ticket;
//      what a read costs in memory is the file pages it touches, from the page cache.
//   5. Log::rebuild_projections() and Log::check_projections(): events/s over the whole log (and
//      for the rebuild, CPU and bytes written per event); the staff queue must read the same
//      after the rebuild and the check must find no difference.
// Reads run on a warm page cache (the fill just wrote the files) on one thread.
//
// Figures go to stdout as Markdown (for docs/performance.md), progress to stderr. Nothing here
// asserts on timing; the program fails only when the log or the views report an error, or a list
// answers something other than what was appended.
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <portico/log/log.hpp>
#include <portico/projections/views.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace {

using namespace portico::bench;

namespace fs = std::filesystem;
namespace plog = portico::log;
namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
namespace dp = portico::domain::project;
namespace dc = portico::domain::customer;
namespace proj = portico::projections;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProject = "acme";
// Member customers of the project (--customers); customer 0 is the heavy one.
std::uint64_t g_customers = 1'000;
constexpr std::uint64_t kHeavyEvery = 8;  // every 8th ticket is the heavy customer's
constexpr std::size_t kLimit = 20;
constexpr std::size_t kDeepPages = 50;  // page kDeepPages + 1 is the deep page
constexpr std::size_t kWarmupReads = 10;
constexpr dom::TimeUs kStart = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
constexpr dom::TimeUs kTicketEvery = 30 * dom::kSecond;
constexpr std::string_view kBody =
    "Thanks for the quick answer. The export still fails after the update to 4.2; the job log "
    "says the archive is locked by another process. I restarted the worker twice and cleared "
    "the cache as suggested. Could you have a look today?";
constexpr std::string_view kPriorities[] = {"low", "normal", "normal", "high", "urgent"};
constexpr std::string_view kTeams[] = {"", "billing", "tech", "tech"};

std::uint64_t file_bytes(const fs::path& file) {
  std::error_code ec;
  const auto n = fs::file_size(file, ec);
  return ec ? 0 : n;
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// ---- The events ----

std::string customer_id(std::uint64_t i) { return fmt::format("c-{:04}", i); }

std::uint64_t creator_of(std::uint64_t number) {
  return number % kHeavyEvery == 0 ? 0 : 1 + number % (g_customers - 1);
}

// A fixed scramble of the ticket number, so that statuses, priorities and teams do not line up
// with the creator.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The status ticket `number` ends in: half stay open, the rest change one batch after opening.
dom::Status final_status(std::uint64_t number) {
  const std::uint64_t r = mix(number) % 100;
  if (r < 50) return dom::Status::open;
  if (r < 70) return dom::Status::in_progress;
  if (r < 80) return dom::Status::awaiting_customer;
  if (r < 90) return dom::Status::resolved;
  return dom::Status::closed;
}

dom::TimeUs opened_at(std::uint64_t number) {
  return kStart + static_cast<dom::TimeUs>(number) * kTicketEvery;
}

// An event as the service stores it (the functions are found by argument-dependent lookup, in
// the event's aggregate namespace).
template <class Event>
plog::EventData as_data(const Event& event, plog::Actor actor) {
  plog::EventData d;
  d.type = std::string(type_name(event));
  d.schema_version = schema_version(event);
  d.actor = std::move(actor);
  d.payload = to_payload(event);
  return d;
}

// The project and its customers, who all signed in on it.
std::vector<plog::StreamWrite> setup_writes() {
  std::vector<plog::StreamWrite> writes;
  dp::Settings settings;
  settings.name = "Acme Support";
  const dp::Event created = dp::ProjectCreated{kStart - dom::kDay, std::string(kProject), settings};
  writes.push_back(
      {dp::stream_id(kProject), plog::ExpectedVersion::no_stream(), {as_data(created, {})}});
  for (std::uint64_t i = 0; i < g_customers; ++i) {
    const std::string id = customer_id(i);
    const dom::TimeUs at = kStart - dom::kHour + static_cast<dom::TimeUs>(i);
    const dc::Event registered =
        dc::CustomerRegistered{at, id, fmt::format("user{}@org{}.test", i, i % 10),
                               fmt::format("User {}", i), fmt::format("user{}", i)};
    const dc::Event joined = dc::MembershipJoined{at, std::string(kProject)};
    const plog::Actor who{plog::Realm::customer, id};
    writes.push_back({dc::stream_id(id),
                      plog::ExpectedVersion::no_stream(),
                      {as_data(registered, who), as_data(joined, who)}});
  }
  return writes;
}

plog::StreamWrite open_write(std::uint64_t number) {
  const std::string creator = customer_id(creator_of(number));
  dt::TicketOpened e;
  e.at = opened_at(number);
  e.project = std::string(kProject);
  e.number = number;
  e.creator = creator;
  e.subject = fmt::format("Export fails after the update to 4.2 (case {})", number);
  e.message_id = fmt::format("m-{}", number);
  e.body = std::string(kBody);
  const std::uint64_t r = mix(number) >> 32;
  e.priority = std::string(kPriorities[r % std::size(kPriorities)]);
  e.team = std::string(kTeams[(r / 8) % std::size(kTeams)]);
  const dt::Event event = std::move(e);
  return {dt::stream_id(kProject, number),
          plog::ExpectedVersion::no_stream(),
          {as_data(event, {plog::Realm::customer, creator})}};
}

// The status change of ticket `number`, `lag` tickets after it was opened (none for a ticket
// that stays open).
std::optional<plog::StreamWrite> change_write(std::uint64_t number, std::uint64_t lag) {
  const dom::Status to = final_status(number);
  if (to == dom::Status::open) return std::nullopt;
  const dom::TimeUs at = opened_at(number + lag) + 1;
  const dom::Actor staff{dom::Realm::staff, fmt::format("s-{:02}", number % 8)};
  const dt::Event event = to == dom::Status::closed
                              ? dt::Event(dt::TicketClosed{at, dom::Status::open, staff, "staff"})
                              : dt::Event(dt::StatusChanged{at, dom::Status::open, to, staff});
  return plog::StreamWrite{dt::stream_id(kProject, number),
                           plog::ExpectedVersion::exactly(1),
                           {as_data(event, {plog::Realm::staff, staff.id})}};
}

// Bytes this process has handed to write(2)/pwrite(2) so far ("wchar" of /proc/self/io): LMDB
// writes every page a commit dirtied, so this is what the commits wrote.
std::uint64_t written_bytes() {
  std::ifstream in("/proc/self/io");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("wchar:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

struct Fill {
  std::uint64_t tickets = 0;
  std::uint64_t events = 0;   // the whole log, setup included
  double append_seconds = 0;  // inside Log::append only (building the events is not counted)
  double cpu_seconds = 0;     // user + sys of the whole process over the fill
  std::uint64_t written = 0;  // bytes written by the commits of the fill
  std::uint64_t appends = 0;
};

// Appends the setup, then tickets 1..n, `batch` per call; each call also carries the status
// changes of the tickets opened by the call before it.
Fill fill(plog::Log& log, std::uint64_t n, std::uint64_t batch, std::string_view label) {
  Fill out;
  out.tickets = n;
  const double cpu0 = cpu_seconds();
  const std::uint64_t written0 = written_bytes();
  auto append = [&](const std::vector<plog::StreamWrite>& writes) {
    const auto t0 = Clock::now();
    auto appended = log.append(writes);
    out.append_seconds += seconds_since(t0);
    if (!appended) die(fmt::format("fill {}", label), appended.error());
    for (const auto& w : writes) out.events += w.events.size();
    ++out.appends;
  };
  append(setup_writes());
  const std::uint64_t report_every = std::max<std::uint64_t>(n / 5, 1);
  std::uint64_t next_report = report_every;
  std::vector<plog::StreamWrite> writes;
  for (std::uint64_t lo = 1; lo <= n + batch; lo += batch) {
    writes.clear();
    for (std::uint64_t t = lo; t < lo + batch && t <= n; ++t) writes.push_back(open_write(t));
    for (std::uint64_t t = lo > batch ? lo - batch : 1; t < lo && t <= n; ++t) {
      if (auto w = change_write(t, batch)) writes.push_back(std::move(*w));
    }
    if (!writes.empty()) append(writes);
    if (lo + batch - 1 >= next_report && lo + batch - 1 < n) {
      fmt::print(stderr, "  {}: {} of {} tickets\n", label, grouped(lo + batch - 1), grouped(n));
      next_report += report_every;
    }
  }
  out.cpu_seconds = cpu_seconds() - cpu0;
  out.written = written_bytes() - written0;
  return out;
}

// ---- Memory ----

// A field of /proc/self/status in kB ("RssAnon", "VmHWM", …); 0 when missing.
std::uint64_t status_kb(std::string_view field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return 0;
}

// kB of this process's mappings of `file` that are resident (the Rss of its smaps entries): the
// pages reads touched, plus the neighbours the kernel maps along with each page fault
// (fault-around, whole large folios), so an upper bound on the pages touched.
std::uint64_t mapped_kb(const fs::path& file) {
  std::error_code ec;
  const std::string target = fs::canonical(file, ec).string();
  if (ec) return 0;
  std::ifstream in("/proc/self/smaps");
  std::uint64_t total = 0;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const bool header = std::isxdigit(static_cast<unsigned char>(line[0])) &&
                        line.find('-') < line.find(' ') && line.find(':') > line.find(' ');
    if (header) {
      const auto slash = line.find('/');
      inside = slash != std::string::npos && line.compare(slash, std::string::npos, target) == 0;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      total += std::strtoull(line.c_str() + 4, nullptr, 10);
    }
  }
  return total;
}

// Minor page faults of the process so far: a first touch of a page of a mapped file that is in
// the page cache costs one (which maps its neighbours too).
std::uint64_t minor_faults() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_minflt);
}

// The process's anonymous memory (RssAnon), after handing free heap pages back to the kernel, so
// that memory the allocator merely kept after the fill does not count.
std::uint64_t heap_kb() {
  ::malloc_trim(0);
  return status_kb("RssAnon");
}

plog::Options log_options(bool with_views) {
  plog::Options o;
  o.initial_map_size = std::uint64_t{1} << 30;
  o.max_map_size = std::uint64_t{64} << 30;
  if (with_views) o.projections = {proj::Views::projection()};
  return o;
}

std::unique_ptr<plog::Log> open_log(const fs::path& dir, bool with_views) {
  auto log = plog::Log::open(dir, log_options(with_views));
  if (!log) die(fmt::format("open {}", dir.string()), log.error());
  return std::move(*log);
}

// ---- Reads ----

struct Latency {
  std::string name;
  double p50_us = 0, p99_us = 0;
  std::size_t items = 0;        // on the page read
  bool more = false;            // the page had a next cursor
  double walk_us_per_page = 0;  // deep pages: the average page of the walk to the cursor
  // One read alone on a freshly opened log (a fresh memory map):
  std::uint64_t fresh_kb = 0;      // data.mdb mapped in by it (Rss growth)
  std::uint64_t fresh_faults = 0;  // minor page faults it took
};

using Page = proj::Page<proj::TicketSummary>;
using PageResult = portico::Result<Page>;
using PageRead = std::function<PageResult(const proj::Views&, const std::string& cursor)>;
using PageCheck = std::function<void(const Page&)>;

// One list figure: a page (the first, or the one at `cursor`) read again and again.
struct Probe {
  PageRead read;
  std::string cursor;
  PageCheck check;
  bool seen = false;              // read once already
  std::vector<std::uint32_t> ns;  // timed reads
  Latency out;
};

// The cursor of page `page` (1 is the first page: no cursor), walking from the first; the average
// microseconds per page of the walk go to `us_per_page`.
std::string cursor_of_page(const proj::Views& views, const PageRead& read, std::size_t page,
                           double& us_per_page, std::string_view name) {
  std::string cursor;
  const auto t0 = Clock::now();
  for (std::size_t p = 1; p < page; ++p) {
    auto r = read(views, cursor);
    if (!r) die(name, r.error());
    if (!r->next_cursor) fail(1, fmt::format("{}: the list ends at page {}", name, p));
    cursor = *r->next_cursor;
  }
  us_per_page = page > 1 ? seconds_since(t0) * 1e6 / static_cast<double>(page - 1) : 0;
  return cursor;
}

// One read of `p`: checked on the first, the same number of items every time after.
void read_once(Probe& p, const proj::Views& views, bool timed) {
  const auto t0 = Clock::now();
  auto r = p.read(views, p.cursor);
  const auto t1 = Clock::now();
  if (!r) die(p.out.name, r.error());
  if (!p.seen) {
    p.seen = true;
    p.out.items = r->items.size();
    p.out.more = r->next_cursor.has_value();
    p.check(*r);
  } else if (r->items.size() != p.out.items) {
    fail(1, fmt::format("{}: {} items, then {}", p.out.name, p.out.items, r->items.size()));
  }
  if (timed) {
    p.ns.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
}

// kWarmupReads untimed reads of every probe, then `reads` timed reads of each, interleaved in
// kRounds rounds (so that a burst of other work on the machine spreads over every figure instead
// of shifting one).
void time_probes(std::vector<Probe>& probes, const proj::Views& views, std::size_t reads) {
  constexpr std::size_t kRounds = 5;
  for (Probe& p : probes) {
    for (std::size_t i = 0; i < kWarmupReads; ++i) read_once(p, views, false);
  }
  for (std::size_t round = 0; round < kRounds; ++round) {
    const std::size_t n = reads / kRounds + (round < reads % kRounds ? 1 : 0);
    for (Probe& p : probes) {
      fmt::print(stderr, "  round {} of {}: {}\n", round + 1, kRounds, p.out.name);
      for (std::size_t i = 0; i < n; ++i) read_once(p, views, true);
    }
  }
  for (Probe& p : probes) {
    p.out.p50_us = quantile(p.ns, 0.50) / 1000.0;
    p.out.p99_us = quantile(p.ns, 0.99) / 1000.0;
  }
}

// Items newest activity first (this data has no ties), with no number twice.
void check_order(const Page& page, std::string_view name) {
  for (std::size_t i = 1; i < page.items.size(); ++i) {
    const auto& a = page.items[i - 1];
    const auto& b = page.items[i];
    if (a.updated_at < b.updated_at || a.number == b.number) {
      fail(1, fmt::format("{}: ticket {} is listed before ticket {}", name, a.number, b.number));
    }
  }
}

std::vector<std::uint64_t> numbers_of(const Page& page) {
  std::vector<std::uint64_t> out;
  for (const auto& s : page.items) out.push_back(s.number);
  return out;
}

// The list figures of a project of `n` tickets; the deep ones walk to their cursor on `views`.
std::vector<Probe> make_probes(const proj::Views& views, std::uint64_t n) {
  const std::string typical = customer_id(1), heavy = customer_id(0);
  auto customer_list = [](const std::string& who, std::vector<dom::Status> statuses) -> PageRead {
    return [who, statuses](const proj::Views& v, const std::string& cursor) {
      proj::ListQuery q;
      q.limit = kLimit;
      q.statuses = statuses;
      q.cursor = cursor;
      return v.customer_tickets(who, std::string(kProject), q);
    };
  };
  auto queue = [](std::vector<dom::Status> statuses) -> PageRead {
    return [statuses](const proj::Views& v, const std::string& cursor) {
      proj::QueueQuery q;
      q.limit = kLimit;
      q.statuses = statuses;
      q.cursor = cursor;
      return v.staff_queue(std::string(kProject), q);
    };
  };
  auto of_creator = [](const std::string& who, std::optional<dom::Status> status,
                       std::string name) -> PageCheck {
    return [who, status, name](const Page& page) {
      check_order(page, name);
      for (const auto& s : page.items) {
        if (s.creator != who || s.role != dt::Role::creator || (status && s.status != *status)) {
          fail(1, fmt::format("{}: ticket {} should not be listed", name, s.number));
        }
      }
    };
  };
  auto of_status = [](std::vector<dom::Status> statuses, std::string name) -> PageCheck {
    return [statuses, name](const Page& page) {
      check_order(page, name);
      for (const auto& s : page.items) {
        if (!statuses.empty() &&
            std::find(statuses.begin(), statuses.end(), s.status) == statuses.end()) {
          fail(1, fmt::format("{}: ticket {} is {}", name, s.number, dom::to_string(s.status)));
        }
      }
    };
  };
  const std::vector<dom::Status> active = {dom::Status::open, dom::Status::in_progress,
                                           dom::Status::awaiting_customer};
  const std::vector<dom::Status> in_progress = {dom::Status::in_progress};

  const std::string deep = fmt::format("page {}", kDeepPages + 1);
  std::vector<Probe> probes;
  auto first_page = [&](std::string name, PageRead read, PageCheck check) {
    Probe& p = probes.emplace_back();
    p.read = std::move(read);
    p.check = std::move(check);
    p.out.name = std::move(name);
  };
  auto deep_page = [&](std::string name, PageRead read, PageCheck check) {
    fmt::print(stderr, "  walk to {}: {}\n", deep, name);
    Probe& p = probes.emplace_back();
    p.cursor = cursor_of_page(views, read, kDeepPages + 1, p.out.walk_us_per_page, name);
    p.read = std::move(read);
    p.check = std::move(check);
    p.out.name = std::move(name);
  };
  first_page("customer list, typical customer, first page", customer_list(typical, {}),
             of_creator(typical, {}, "typical customer"));
  first_page("customer list, heavy customer, first page", customer_list(heavy, {}),
             of_creator(heavy, {}, "heavy customer"));
  first_page("customer list, heavy customer, status in_progress, first page",
             customer_list(heavy, in_progress),
             of_creator(heavy, dom::Status::in_progress, "heavy customer in_progress"));
  const bool deep_fits = n / kHeavyEvery > (kDeepPages + 1) * kLimit;
  if (deep_fits) {
    deep_page("customer list, heavy customer, " + deep, customer_list(heavy, {}),
              of_creator(heavy, {}, "heavy customer deep"));
  }
  first_page("staff queue, no filter, first page", queue({}), of_status({}, "queue"));
  first_page("staff queue, status in_progress, first page", queue(in_progress),
             of_status(in_progress, "queue in_progress"));
  first_page("staff queue, 3 active statuses, first page", queue(active),
             of_status(active, "queue active"));
  if (deep_fits) {
    deep_page("staff queue, no filter, " + deep, queue({}), of_status({}, "queue deep"));
    deep_page("staff queue, status in_progress, " + deep, queue(in_progress),
              of_status(in_progress, "queue in_progress deep"));
  }
  return probes;
}

struct Reads {
  std::vector<Probe> probes;                    // their figures in .out
  std::uint64_t map_kb_after = 0;               // data.mdb mapped in after every timed read
  std::uint64_t anon_kb_after = 0;              // the heap then
  std::vector<std::uint64_t> queue_first_page;  // numbers, compared after the rebuild
};

// The timed reads, on a log just opened (what they map in is theirs).
Reads run_reads(const plog::Log& log, const fs::path& data_file, std::uint64_t n,
                std::size_t reads) {
  const proj::Views views(log);
  Reads out;
  out.probes = make_probes(views, n);
  time_probes(out.probes, views, reads);
  out.map_kb_after = mapped_kb(data_file);
  out.anon_kb_after = heap_kb();
  auto queue = views.staff_queue(std::string(kProject), proj::QueueQuery{});
  if (!queue) die("staff_queue", queue.error());
  out.queue_first_page = numbers_of(*queue);
  return out;
}

// What one read of each figure maps in on its own: the log is opened afresh for each (a new
// memory map; opening reads a few pages itself, before the count starts).
void fresh_reads(const fs::path& dir, std::vector<Probe>& probes) {
  for (Probe& p : probes) {
    auto log = open_log(dir, true);
    const proj::Views views(*log);
    const std::uint64_t kb0 = mapped_kb(dir / "data.mdb");
    const std::uint64_t faults0 = minor_faults();
    read_once(p, views, false);
    p.out.fresh_faults = minor_faults() - faults0;
    p.out.fresh_kb = mapped_kb(dir / "data.mdb") - kb0;
  }
}

// ---- One size ----

struct SizeRun {
  std::uint64_t tickets = 0;
  Fill with_views;
  std::optional<Fill> without_views;
  std::uint64_t data_bytes = 0, backup_bytes = 0;            // with the projection
  std::uint64_t base_data_bytes = 0, base_backup_bytes = 0;  // without
  std::uint64_t data_bytes_after_rebuild = 0;
  std::uint64_t anon_kb_after_fill = 0;
  Reads reads;
  std::uint64_t head = 0;
  double rebuild_seconds = 0;
  double rebuild_cpu_seconds = 0;
  std::uint64_t rebuild_written = 0;
  double check_seconds = 0;
  std::uint64_t check_entries = 0;
  std::uint64_t map_kb_after_rebuild_and_check = 0;
};

void remove_dir(const fs::path& dir, bool keep) {
  if (keep) return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

SizeRun run_size(Cleanup& cleanup, const fs::path& root, std::uint64_t n, std::uint64_t batch,
                 std::size_t reads, bool baseline, bool keep) {
  SizeRun run;
  run.tickets = n;
  const std::string tag = std::to_string(n);
  const fs::path dir = cleanup.make(root, "views-" + tag);
  const fs::path backup_dir = cleanup.make(root, "views-" + tag + "-backup");

  if (baseline) {
    const fs::path base_dir = cleanup.make(root, "log-only-" + tag);
    const fs::path base_backup = cleanup.make(root, "log-only-" + tag + "-backup");
    fmt::print(stderr, "{} tickets: fill a log without the projection\n", grouped(n));
    auto log = open_log(base_dir, false);
    run.without_views = fill(*log, n, batch, "log only");
    if (auto ok = log->backup(base_backup); !ok) die("backup", ok.error());
    log.reset();
    run.base_data_bytes = file_bytes(base_dir / "data.mdb");
    run.base_backup_bytes = file_bytes(base_backup / "data.mdb");
    remove_dir(base_dir, keep);
    remove_dir(base_backup, keep);
  }

  fmt::print(stderr, "{} tickets: fill a log with the views projection inline\n", grouped(n));
  auto log = open_log(dir, true);
  run.with_views = fill(*log, n, batch, "with views");
  run.anon_kb_after_fill = heap_kb();
  if (auto ok = log->backup(backup_dir); !ok) die("backup", ok.error());
  run.backup_bytes = file_bytes(backup_dir / "data.mdb");
  remove_dir(backup_dir, keep);
  log.reset();
  run.data_bytes = file_bytes(dir / "data.mdb");

  // A fresh map, so that what the reads touch can be told from what the fill did.
  fmt::print(stderr, "{} tickets: reads, {} per figure\n", grouped(n), reads);
  log = open_log(dir, true);
  run.reads = run_reads(*log, dir / "data.mdb", n, reads);
  auto h = log->head();
  if (!h) die("head", h.error());
  run.head = *h;
  if (run.head != run.with_views.events) {
    fail(1,
         fmt::format("the log holds {} events, {} were appended", run.head, run.with_views.events));
  }
  log.reset();
  fmt::print(stderr, "{} tickets: one read of each figure on a fresh map\n", grouped(n));
  fresh_reads(dir, run.reads.probes);
  log = open_log(dir, true);

  fmt::print(stderr, "{} tickets: rebuild_projections\n", grouped(n));
  auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  const std::uint64_t written0 = written_bytes();
  if (auto ok = log->rebuild_projections(); !ok) die("rebuild_projections", ok.error());
  run.rebuild_seconds = seconds_since(t0);
  run.rebuild_cpu_seconds = cpu_seconds() - cpu0;
  run.rebuild_written = written_bytes() - written0;
  {
    const proj::Views views(*log);
    proj::QueueQuery q;
    q.limit = kLimit;
    auto page = views.staff_queue(std::string(kProject), q);
    if (!page) die("staff_queue after rebuild", page.error());
    if (numbers_of(*page) != run.reads.queue_first_page) {
      fail(1, "the staff queue reads differently after the rebuild");
    }
  }

  fmt::print(stderr, "{} tickets: check_projections\n", grouped(n));
  t0 = Clock::now();
  auto checked = log->check_projections();
  run.check_seconds = seconds_since(t0);
  if (!checked) die("check_projections", checked.error());
  for (const plog::ProjectionCheck& c : *checked) {
    if (c.differences != 0) {
      fail(1, fmt::format("check_projections: '{}' differs in {} entries, first: {}", c.name,
                          c.differences, c.examples.empty() ? "" : c.examples.front()));
    }
    if (c.position != run.head) {
      fail(1, fmt::format("check_projections: '{}' checked up to {}, the log is at {}", c.name,
                          c.position, run.head));
    }
    run.check_entries += c.entries;
  }
  run.map_kb_after_rebuild_and_check = mapped_kb(dir / "data.mdb");
  log.reset();
  run.data_bytes_after_rebuild = file_bytes(dir / "data.mdb");
  remove_dir(dir, keep);
  return run;
}

// ---- Command line ----

struct Args {
  std::optional<fs::path> dir;
  bool keep = false;
  bool quick = false;
  bool baseline = true;
  std::vector<std::uint64_t> sizes;
  std::optional<std::size_t> reads;
  std::uint64_t batch = 1'000;
  std::uint64_t customers = 1'000;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args a;
  ArgReader args;
  auto sizes = [&](std::string_view value) {
    const std::string text(value);
    a.sizes.clear();
    for (std::size_t from = 0; from <= text.size();) {
      const std::size_t comma = std::min(text.find(',', from), text.size());
      const std::string part = text.substr(from, comma - from);
      char* end = nullptr;
      const double v = std::strtod(part.c_str(), &end);
      if (part.empty() || *end != '\0' || !(v >= 1) || v > 1e8) {
        args.usage(
            fmt::format("--sizes needs ticket counts from 1 to 100,000,000, not '{}'", part));
      }
      a.sizes.push_back(static_cast<std::uint64_t>(v));
      from = comma + 1;
    }
  };
  args.option("--dir", "DIR", &a.dir,
              "where the logs go (default: a fresh temporary directory); removed unless --keep")
      .flag("--keep", &a.keep, "keep what the bench created")
      .option("--sizes", "N,N,...", sizes,
              "tickets per log, a log each (default 10000,100000,1000000; --quick 10000,30000)")
      .option("--reads", "R", &a.reads, "timed reads per list figure (default 500; --quick 100)",
              1e7)
      // An append carries the batch's tickets and up to as many status changes.
      .option("--batch", "B", &a.batch, "tickets per append while filling (default 1000)",
              plog::kMaxEventsPerAppend / 2)
      .option("--customers", "K", &a.customers,
              "member customers of the project, at least 2 (default 1000)", 1e6)
      .flag("--no-baseline", &a.baseline,
            "skip the second fill of each size into a log without the projection", false)
      .flag("--quick", &a.quick, "small sizes for a smoke run; explicit flags still win");
  if (!args.parse(argc, argv)) return std::nullopt;
  if (a.customers < 2) args.usage("--customers needs at least 2 (a heavy one and the rest)");
  return a;
}

}  // namespace

int run(int argc, char** argv) {
  const std::optional<Args> args = parse_args(argc, argv);
  if (!args) return 0;
  std::vector<std::uint64_t> sizes = args->sizes;
  if (sizes.empty()) {
    sizes = args->quick ? std::vector<std::uint64_t>{10'000, 30'000}
                        : std::vector<std::uint64_t>{10'000, 100'000, 1'000'000};
  }
  const std::size_t reads = args->reads.value_or(args->quick ? 100 : 500);
  g_customers = args->customers;

  Cleanup cleanup(args->keep);
  const fs::path root = cleanup.root(args->dir, "portico-projection-bench");

  const auto t_all = Clock::now();
  std::vector<SizeRun> runs;
  for (std::uint64_t n : sizes) {
    runs.push_back(run_size(cleanup, root, n, args->batch, reads, args->baseline, args->keep));
  }
  const double total_seconds = seconds_since(t_all);

  // ---- Report ----
  std::string header = "| figure |", rule = "| --- |";
  for (const SizeRun& r : runs) {
    header += fmt::format(" {} tickets |", grouped(r.tickets));
    rule += " ---: |";
  }
  auto row = [&](std::string_view figure, const std::function<std::string(const SizeRun&)>& cell) {
    std::string line = fmt::format("| {} |", figure);
    for (const SizeRun& r : runs) line += fmt::format(" {} |", cell(r));
    fmt::print("{}\n", line);
  };
  auto per_ticket = [](std::uint64_t bytes, const SizeRun& r) {
    return static_cast<double>(bytes) / static_cast<double>(r.tickets);
  };

  fmt::print("## portico-projection-bench\n\n");
  fmt::print("- command: `{}`\n", command_line(argc, argv));
  fmt::print("- machine: {} hardware threads, {}, {}\n", std::thread::hardware_concurrency(),
             cpu_model(), kernel());
  fmt::print("- logs in: {} ({})\n", root.string(), filesystem_of(root));
  fmt::print(
      "- one project, {} member customers (customer 0 holds every {}th ticket, the others share "
      "the rest), half the tickets changed status one batch after opening; {} tickets per "
      "append; list pages of {}; {} timed reads per figure after {} untimed\n",
      grouped(g_customers), kHeavyEvery, grouped(args->batch), kLimit, reads, kWarmupReads);
  fmt::print("- total run time: {:.0f} s\n\n", total_seconds);

  fmt::print("### List reads: p50 / p99 µs (items on the page)\n\n");
  fmt::print("{}\n{}\n", header, rule);
  std::vector<std::string> names;  // every figure of any size, in the order read
  for (const SizeRun& r : runs) {
    for (const Probe& p : r.reads.probes) {
      if (std::find(names.begin(), names.end(), p.out.name) == names.end()) {
        names.push_back(p.out.name);
      }
    }
  }
  auto latency_rows = [&](const std::function<std::string(const Latency&)>& cell) {
    for (const std::string& name : names) {
      row(name, [&](const SizeRun& r) -> std::string {
        for (const Probe& p : r.reads.probes) {
          if (p.out.name == name) return cell(p.out);
        }
        return "–";
      });
    }
  };
  latency_rows([](const Latency& l) {
    return fmt::format("{:.1f} / {:.1f} ({}{})", l.p50_us, l.p99_us, l.items, l.more ? "+" : "");
  });
  row("walk to page 51 (first reads of those pages), customer list: µs per page",
      [&](const SizeRun& r) -> std::string {
        for (const Probe& p : r.reads.probes) {
          if (p.out.walk_us_per_page > 0 && p.out.name.starts_with("customer")) {
            return fmt::format("{:.1f}", p.out.walk_us_per_page);
          }
        }
        return "–";
      });
  row("walk to page 51 (first reads of those pages), staff queue: µs per page",
      [&](const SizeRun& r) -> std::string {
        for (const Probe& p : r.reads.probes) {
          if (p.out.walk_us_per_page > 0 && p.out.name.starts_with("staff queue, no filter")) {
            return fmt::format("{:.1f}", p.out.walk_us_per_page);
          }
        }
        return "–";
      });
  row("heavy customer's tickets / typical customer's tickets", [&](const SizeRun& r) {
    return fmt::format("{} / ~{:.0f}", grouped(r.tickets / kHeavyEvery),
                       static_cast<double>(r.tickets - r.tickets / kHeavyEvery) /
                           static_cast<double>(g_customers - 1));
  });

  fmt::print("\n### Ingest, rebuild, check\n\n");
  fmt::print("{}\n{}\n", header, rule);
  row("events in the log (setup included)", [](const SizeRun& r) { return grouped(r.head); });
  row("fill with views inline: tickets/s (events/s)", [](const SizeRun& r) {
    return fmt::format("{} ({})", grouped(rate(r.tickets, r.with_views.append_seconds)),
                       grouped(rate(r.with_views.events, r.with_views.append_seconds)));
  });
  row("fill with views inline: CPU per ticket (user + sys)", [](const SizeRun& r) {
    return fmt::format("{:.1f} µs",
                       r.with_views.cpu_seconds * 1e6 / static_cast<double>(r.tickets));
  });
  row("fill with views inline: bytes written per ticket (commits)", [](const SizeRun& r) {
    return grouped(static_cast<double>(r.with_views.written) / static_cast<double>(r.tickets));
  });
  if (args->baseline) {
    row("fill without the projection: tickets/s (events/s)", [](const SizeRun& r) {
      return fmt::format("{} ({})", grouped(rate(r.tickets, r.without_views->append_seconds)),
                         grouped(rate(r.without_views->events, r.without_views->append_seconds)));
    });
    row("fill without the projection: CPU per ticket (user + sys)", [](const SizeRun& r) {
      return fmt::format("{:.1f} µs",
                         r.without_views->cpu_seconds * 1e6 / static_cast<double>(r.tickets));
    });
    row("fill without the projection: bytes written per ticket (commits)", [](const SizeRun& r) {
      return grouped(static_cast<double>(r.without_views->written) /
                     static_cast<double>(r.tickets));
    });
  }
  row("Log::rebuild_projections(): events/s (time)", [](const SizeRun& r) {
    return fmt::format("{} ({:.1f} s)", grouped(rate(r.head, r.rebuild_seconds)),
                       r.rebuild_seconds);
  });
  row("rebuild: CPU per event (user + sys) / bytes written per event", [](const SizeRun& r) {
    const double events = static_cast<double>(r.head);
    return fmt::format("{:.1f} µs / {}", r.rebuild_cpu_seconds * 1e6 / events,
                       grouped(static_cast<double>(r.rebuild_written) / events));
  });
  row("Log::check_projections(): events/s (time)", [](const SizeRun& r) {
    return fmt::format("{} ({:.1f} s)", grouped(rate(r.head, r.check_seconds)), r.check_seconds);
  });
  row("entries compared by the check (live + rebuilt)",
      [](const SizeRun& r) { return grouped(r.check_entries); });

  fmt::print("\n### Disk and memory\n\n");
  fmt::print("{}\n{}\n", header, rule);
  row("data.mdb with views: bytes per ticket (MiB)", [&](const SizeRun& r) {
    return fmt::format("{:.0f} ({:.0f})", per_ticket(r.data_bytes, r), mib(r.data_bytes));
  });
  row("compacted backup with views: bytes per ticket",
      [&](const SizeRun& r) { return fmt::format("{:.0f}", per_ticket(r.backup_bytes, r)); });
  if (args->baseline) {
    row("data.mdb without the projection: bytes per ticket",
        [&](const SizeRun& r) { return fmt::format("{:.0f}", per_ticket(r.base_data_bytes, r)); });
    row("compacted backup without the projection: bytes per ticket", [&](const SizeRun& r) {
      return fmt::format("{:.0f}", per_ticket(r.base_backup_bytes, r));
    });
    row("the views (difference of compacted backups): bytes per ticket", [&](const SizeRun& r) {
      return fmt::format("{:.0f}", (static_cast<double>(r.backup_bytes) -
                                    static_cast<double>(r.base_backup_bytes)) /
                                       static_cast<double>(r.tickets));
    });
  }
  row("data.mdb after rebuild + check: bytes per ticket", [&](const SizeRun& r) {
    return fmt::format("{:.0f}", per_ticket(r.data_bytes_after_rebuild, r));
  });
  row("heap (RssAnon after malloc_trim) after the fill / after the reads, MiB",
      [](const SizeRun& r) {
        return fmt::format("{:.1f} / {:.1f}", static_cast<double>(r.anon_kb_after_fill) / 1024,
                           static_cast<double>(r.reads.anon_kb_after) / 1024);
      });
  row("data.mdb mapped in (Rss) after every read of the list table, KiB",
      [](const SizeRun& r) { return grouped(r.reads.map_kb_after); });
  row("data.mdb mapped in after rebuild + check, MiB", [](const SizeRun& r) {
    return fmt::format("{:.0f}", static_cast<double>(r.map_kb_after_rebuild_and_check) / 1024);
  });
  fmt::print(
      "\n### One read alone on a freshly opened log: data.mdb mapped in, KiB (minor page "
      "faults)\n\n");
  fmt::print("{}\n{}\n", header, rule);
  latency_rows([](const Latency& l) {
    return fmt::format("{} ({})", grouped(l.fresh_kb), grouped(l.fresh_faults));
  });
  fmt::print(
      "\nLatencies are one Views call each (a read snapshot, the seeks, decoding the ticket "
      "records), on one thread, on a warm page cache. \"+\" marks a page with a next cursor. "
      "Fill rates count the time inside Log::append only (one durable commit per append). "
      "Memory: LMDB reads through a shared mmap of data.mdb, served from the page cache; the "
      "views keep nothing per ticket on the heap (RssAnon). The Rss rows count the pages of "
      "data.mdb mapped into this process, which includes the neighbours the kernel maps with "
      "each page fault (fault-around, whole large folios), so they are upper bounds on the "
      "pages read; each minor "
      "fault is a first touch of at least one page, so the fault counts are lower bounds. Peak "
      "RSS of the run, mapped data.mdb pages included: {:.0f} MiB.\n",
      static_cast<double>(status_kb("VmHWM")) / 1024);
  return 0;
}

int main(int argc, char** argv) {
  portico::bench::g_program = "portico-projection-bench";
  try {
    return run(argc, argv);
  } catch (const Failure& f) {
    return f.status;
  }
}
