// Tampering and corruption are found, at the right position; portico-audit reports them.
#include <doctest/doctest.h>
#include <lmdb.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../support/child_process.hpp"
#include "fixtures.hpp"
#include "map_trap.hpp"
#include "record_codec.hpp"

namespace plog = portico::log;
using portico::test::open_log;
using portico::test::TempDir;
using portico::test::write;
using EV = plog::ExpectedVersion;

namespace {

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return out;
}

// Edits the events database behind the log's back, as an attacker with file access could.
// The Log must be closed (LMDB allows one open environment per directory and process).
void raw_edit(const std::filesystem::path& dir, std::uint64_t position,
              const std::function<std::optional<std::string>(std::string)>& edit) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, "events", 0, &dbi) == 0);
  std::string key = be64(position);
  MDB_val k{key.size(), key.data()}, v{};
  REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
  auto edited = edit(std::string(static_cast<const char*>(v.mv_data), v.mv_size));
  if (edited) {
    MDB_val nv{edited->size(), edited->data()};
    REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == 0);
  } else {
    REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
  }
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

void fill(const std::filesystem::path& dir, int n) {
  auto log = open_log(dir);
  for (int i = 1; i <= n; ++i) {
    REQUIRE(log->append(write("s" + std::to_string(i % 3), EV::any(), 1,
                              "message-" + std::to_string(i) + "-marker")));
  }
}

plog::VerifyReport verify(const std::filesystem::path& dir) {
  auto log = open_log(dir);
  auto report = log->verify();
  REQUIRE(report);
  return *report;
}

}  // namespace

TEST_CASE("an intact log verifies") {
  TempDir dir;
  fill(dir.path(), 20);
  auto report = verify(dir.path());
  CHECK(report.ok);
  CHECK(report.events == 20);
  CHECK(report.streams == 3);
  CHECK(report.problem.empty());
}

TEST_CASE("an empty log verifies") {
  TempDir dir;
  auto log = open_log(dir.path());
  auto report = log->verify();
  CHECK(report->ok);
  CHECK(report->events == 0);
}

TEST_CASE("a byte changed in the data file is found at the record that holds it") {
  TempDir dir;
  fill(dir.path(), 20);
  // Flip one byte of record 7's payload wherever it sits in the file.
  const std::string marker = "message-7-marker";
  std::string data;
  {
    std::ifstream in(dir / "data.mdb", std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::size_t hits = 0;
  for (auto at = data.find(marker); at != std::string::npos; at = data.find(marker, at + 1)) {
    data[at + 8] = '8';  // "message-7-marker" -> "message-8-marker"
    ++hits;
  }
  REQUIRE(hits >= 1);
  {
    std::ofstream out(dir / "data.mdb", std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  auto report = verify(dir.path());
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_position == 7);
  CHECK(report.problem.find("altered") != std::string::npos);

  auto ran = portico::test::run({PORTICO_AUDIT, "verify", dir.path().string()});
  CHECK(ran.exit_code == 1);
  CHECK(ran.out.find("FAILED at position 7") != std::string::npos);
}

TEST_CASE("a record rewritten with a fresh hash breaks the chain at the next record") {
  TempDir dir;
  fill(dir.path(), 10);
  raw_edit(dir.path(), 4, [](std::string bytes) -> std::optional<std::string> {
    auto r = portico::log::codec::decode(bytes);
    plog::EventData e;
    e.id = r->id;
    e.type = r->type;
    e.actor = r->actor;
    std::string forged = portico::log::codec::encode_unsealed(r->stream, e, R"({"body":"forged"})");
    portico::log::codec::seal(forged, r->position, r->stream_version, r->recorded_at_us,
                              r->prev_hash);
    return forged;
  });
  auto report = verify(dir.path());
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_position == 5);
  CHECK(report.problem.find("chain") != std::string::npos);
}

TEST_CASE("a garbled record is reported as corrupt - and reads name its position") {
  TempDir dir;
  fill(dir.path(), 10);
  raw_edit(dir.path(), 6, [](std::string bytes) -> std::optional<std::string> {
    return bytes.substr(0, bytes.size() / 2);
  });
  CHECK(verify(dir.path()).first_bad_position == 6);
  auto log = open_log(dir.path());
  auto r = log->read_all(1, 100);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == plog::Errc::corrupt);
  CHECK(r.error().position == 6);
  CHECK(log->read_all(1, 5)->size() == 5);  // what precedes it still reads
}

TEST_CASE("a deleted record is found as a gap in the positions") {
  TempDir dir;
  fill(dir.path(), 10);
  raw_edit(dir.path(), 3, [](std::string) -> std::optional<std::string> { return std::nullopt; });
  auto report = verify(dir.path());
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_position == 3);
  CHECK(report.problem.find("missing") != std::string::npos);
  // Reads report the gap instead of skipping it.
  auto log = open_log(dir.path());
  auto r = log->read_all(1, 100);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == plog::Errc::corrupt);
  CHECK(r.error().position == 3);
  CHECK(log->read_all(1, 2)->size() == 2);
}

TEST_CASE("a damaged last record stops appends instead of being chained onto") {
  TempDir dir;
  fill(dir.path(), 4);
  raw_edit(dir.path(), 4,
           [](std::string) -> std::optional<std::string> { return std::string(10, '\x01'); });
  auto log = open_log(dir.path());
  auto r = log->append(write("s", EV::any()));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == plog::Errc::corrupt);
  CHECK(r.error().position == 4);
  CHECK(log->head().value() == 4);
}

TEST_CASE("the last record deleted is found too") {
  TempDir dir;
  fill(dir.path(), 5);
  raw_edit(dir.path(), 5, [](std::string) -> std::optional<std::string> { return std::nullopt; });
  // The tail is now 4, but the indexes still count five events.
  auto report = verify(dir.path());
  CHECK_FALSE(report.ok);
  CHECK(report.problem.find("indexes disagree") != std::string::npos);
}

TEST_CASE("portico-audit dump prints JSON lines - by stream and from a position") {
  TempDir dir;
  fill(dir.path(), 6);
  auto all = portico::test::run({PORTICO_AUDIT, "dump", dir.path().string()});
  CHECK(all.exit_code == 0);
  CHECK(std::count(all.out.begin(), all.out.end(), '\n') == 6);
  CHECK(all.out.find(R"("position":1,)") != std::string::npos);
  CHECK(all.out.find(R"("body":"message-1-marker")") != std::string::npos);

  auto from = portico::test::run({PORTICO_AUDIT, "dump", dir.path().string(), "--from", "5"});
  CHECK(std::count(from.out.begin(), from.out.end(), '\n') == 2);
  CHECK(from.out.rfind(R"({"position":5,)", 0) == 0);

  auto stream = portico::test::run({PORTICO_AUDIT, "dump", dir.path().string(), "--stream", "s1"});
  CHECK(std::count(stream.out.begin(), stream.out.end(), '\n') == 2);  // positions 1 and 4
  CHECK(stream.out.find(R"("stream":"s2")") == std::string::npos);

  CHECK(portico::test::run({PORTICO_AUDIT, "dump", dir.path().string(), "--from", "x"}).exit_code ==
        2);
  CHECK(portico::test::run({PORTICO_AUDIT, "dump", (dir / "missing").string()}).exit_code == 2);
  CHECK(portico::test::run({PORTICO_AUDIT, "frobnicate"}).exit_code == 2);
}

TEST_CASE("portico-audit backup makes a compacted copy that verifies and holds every event") {
  TempDir dir;
  fill(dir.path(), 50);
  auto ran =
      portico::test::run({PORTICO_AUDIT, "backup", dir.path().string(), (dir / "copy").string()});
  CHECK(ran.exit_code == 0);
  auto ok = portico::test::run({PORTICO_AUDIT, "verify", (dir / "copy").string()});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("ok: 50 events in 3 streams") != std::string::npos);
  // A second backup into the same place is refused rather than overwriting it.
  CHECK(portico::test::run({PORTICO_AUDIT, "backup", dir.path().string(), (dir / "copy").string()})
            .exit_code == 2);
}

TEST_CASE("a backup taken while appends go on is a consistent log") {
  TempDir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append(write("a", EV::any(), 500, std::string(300, 'b'))));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) CHECK(log->append(write("a", EV::any())));
  });
  auto done = log->backup(dir / "hot");
  stop = true;
  writer.join();
  REQUIRE(done);
  log.reset();
  auto copy = open_log(dir / "hot");
  auto report = copy->verify();
  CHECK(report->ok);
  CHECK(report->events >= 500);
}

TEST_CASE("a backup never reads the map while appends grow it") {
  // Backup reads the size of what it copies from LMDB's environment, which lives in the memory
  // map; the commit thread resizes the map when appends fill it. Each growth here is trapped
  // (map_trap.hpp): the map stays unreadable until someone waits for the map lock, and a backup
  // is started inside that window. One that reads the environment under the lock waits; one that
  // reads it without the lock faults.
  TempDir dir;
  TempDir backups;
  plog::Options options;
  options.initial_map_size = 1 << 20;
  auto log = open_log(dir.path(), options);
  REQUIRE(log->append(write("seed", EV::any())));

  std::mutex mu;
  std::condition_variable cv;
  bool idle = false;  // the backup thread waits for a window
  bool stop = false;
  int started = 0;
  std::vector<std::filesystem::path> made;
  std::vector<std::string> failures;
  portico::test::MapTrap trap(dir.path() / "data.mdb", [&] {
    // The last backup ends soon (its copy is done: the growth waited for it), unless it is itself
    // waiting for the map lock.
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(2), [&] { return idle; })) return false;
    idle = false;
    ++started;
    cv.notify_all();
    return true;
  });
  std::thread backupper([&] {
    std::unique_lock lock(mu);
    for (int done = 0;; ++done) {
      idle = true;
      cv.notify_all();
      cv.wait(lock, [&] { return stop || started > done; });
      if (started == done) return;
      lock.unlock();
      const std::filesystem::path dest = backups / std::to_string(done);
      auto ok = log->backup(dest);
      lock.lock();
      if (ok) {
        made.push_back(dest);
      } else {
        failures.push_back(ok.error().message);
      }
    }
  });
  // Two writers fill the map until it has grown four times.
  std::atomic<int> appended{0}, refused{0};
  auto writer = [&](std::string stream) {
    for (int i = 0; i < 500 && log->stats().map_grows < 4; ++i) {
      if (log->append(write(stream, EV::any(), 4, std::string(16'000, 'x')))) {
        ++appended;
      } else {
        ++refused;
      }
    }
  };
  std::thread a(writer, "a");
  std::thread b(writer, "b");
  a.join();
  b.join();
  {
    std::lock_guard lock(mu);
    stop = true;
    cv.notify_all();
  }
  backupper.join();

  MESSAGE("growths trapped: " << trap.windows() << ", a backup waiting in " << trap.caught());
  CHECK(refused == 0);
  CHECK(log->stats().map_grows >= 4);
  CHECK(trap.trapped_bytes() > 0);
  CHECK(trap.caught() >= 3);  // a backup began while the map was unreadable, and waited
  CHECK(trap.missed() == 0);
  CHECK(failures.empty());
  CHECK(made.size() == static_cast<std::size_t>(started));
  const std::uint64_t head = log->head().value();
  CHECK(head == 1 + 4 * static_cast<std::uint64_t>(appended.load()));
  log.reset();
  for (const auto& copy_dir : made) {
    plog::Options read_only;
    read_only.read_only = true;
    read_only.create = false;
    auto copy = open_log(copy_dir, read_only);
    auto report = copy->verify();
    REQUIRE(report);
    CHECK_MESSAGE(report->ok, copy_dir << ": " << report->problem);
    CHECK(report->events >= 1);
    CHECK(report->events <= head);
  }
}

TEST_CASE("portico-audit draws progress on a terminal and stays quiet otherwise") {
  TempDir dir;
  fill(dir.path(), 30);
  const std::string verify = std::string(PORTICO_AUDIT) + " verify " + dir.path().string();
  // Standard error to a pipe: nothing but the verdict on standard output.
  auto piped = portico::test::run({"/bin/sh", "-c", verify + " 2>&1"});
  CHECK(piped.exit_code == 0);
  CHECK(piped.out.find("verify [") == std::string::npos);
  // Under a pseudo-terminal (script(1)), the bar appears.
  auto tty = portico::test::run({"/usr/bin/script", "-qec", verify, "/dev/null"});
  CHECK(tty.exit_code == 0);
  CHECK(tty.out.find("verify [##############################] 100.0% 30/30") != std::string::npos);
}
