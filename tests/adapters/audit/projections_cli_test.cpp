// portico-audit rebuild and check: the read models kept in the log, compared with and rebuilt
// from its events, from the command line (also while another process has the log open).
#include <doctest/doctest.h>
#include <lmdb.h>

#include <filesystem>
#include <portico/projections/outbox.hpp>
#include <portico/projections/views.hpp>
#include <string>
#include <vector>

#include "../../core/service/service_fixtures.hpp"
#include "../../support/child_process.hpp"

namespace {

namespace plog = portico::log;
namespace proj = portico::projections;
using portico::test::Desk;

plog::Options views_options() {
  plog::Options o;
  o.projections = {proj::Views::projection()};
  return o;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// On failure, shows what the command wrote.
#define CHECK_HAS(out, part) CHECK_MESSAGE(has(out, part), out)
#define CHECK_LACKS(out, part) CHECK_MESSAGE(!has(out, part), out)

// portico-audit with `args`; standard error is captured with standard output.
portico::test::Ran audit(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", PORTICO_AUDIT};
  argv.insert(argv.end(), args.begin(), args.end());
  return portico::test::run(argv);
}

// A desk with a few tickets and some activity on them.
void fill(Desk& desk) {
  const std::uint64_t first = desk.open("c-ann", "Printer on fire");
  desk.open("c-bob", "Cannot log in");
  desk.open("c-cat", "Invoice missing");
  desk.now += 60'000'000;
  auto started = desk.portal->execute(
      "acme", first, portico::domain::ticket::SetStatus{portico::domain::Status::in_progress},
      Desk::as_staff("s-agent"));
  REQUIRE(started);
}

void close(Desk& desk) {
  desk.portal.reset();
  desk.log.reset();
}

// Where the views stand, read in this process (the log must not be open here).
plog::ProjectionInfo views_info(const std::filesystem::path& dir) {
  plog::Options o = views_options();
  o.read_only = true;
  o.create = false;
  auto log = plog::Log::open(dir, std::move(o));
  REQUIRE_MESSAGE(log, (log ? "" : log.error().message));
  auto info = (*log)->projection_info(proj::Views::kName);
  REQUIRE(info);
  return *info;
}

// Edits the live tables of "views" behind the log's back: changes the value of the first entry of
// "tickets" and deletes the first entry of "mine".
void tamper(const std::filesystem::path& dir, int slot) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 256) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  auto table = [&](const std::string& name) {
    MDB_dbi dbi = 0;
    const std::string db = "p/views/" + name + "/" + std::to_string(slot);
    REQUIRE(mdb_dbi_open(txn, db.c_str(), 0, &dbi) == 0);
    return dbi;
  };
  {
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, table("tickets"), &c) == 0);
    MDB_val k{}, v{};
    REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
    const std::string key(static_cast<const char*>(k.mv_data), k.mv_size);
    std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    mdb_cursor_close(c);
    value += " ";  // still JSON, other bytes
    MDB_val nk{key.size(), const_cast<char*>(key.data())};
    MDB_val nv{value.size(), value.data()};
    REQUIRE(mdb_put(txn, table("tickets"), &nk, &nv, 0) == 0);
  }
  {
    MDB_cursor* c = nullptr;
    REQUIRE(mdb_cursor_open(txn, table("mine"), &c) == 0);
    MDB_val k{}, v{};
    REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
    REQUIRE(mdb_cursor_del(c, 0) == 0);
    mdb_cursor_close(c);
  }
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

}  // namespace

TEST_CASE("audit check finds the views matching the log and rebuild swaps in fresh tables") {
  Desk desk(Desk::default_settings(), views_options());
  fill(desk);
  const auto head = desk.log->head().value();
  close(desk);
  const std::string d = desk.dir.path().string();
  const auto before = views_info(desk.dir.path());
  CHECK(before.position == head);

  auto checked = audit({"check", d});
  CHECK(checked.exit_code == 0);
  CHECK_HAS(checked.out, "views: position " + std::to_string(head) + ", ");
  CHECK_HAS(checked.out, " 0 differences");
  CHECK_HAS(checked.out, "outbox: async");
  CHECK_HAS(checked.out, "projections match the log");

  auto rebuilt = audit({"rebuild", d});
  CHECK(rebuilt.exit_code == 0);
  CHECK_HAS(rebuilt.out, "views: rebuilt, inline, version ");
  CHECK_HAS(rebuilt.out, "position " + std::to_string(head) + ", slot " +
                             std::to_string(1 - before.slot) + " (was " +
                             std::to_string(before.slot) + ")");
  CHECK_LACKS(rebuilt.out, "outbox");  // async ones only when named
  const auto after = views_info(desk.dir.path());
  CHECK(after.slot == 1 - before.slot);
  CHECK(after.position == head);

  auto again = audit({"check", d});
  CHECK(again.exit_code == 0);
  CHECK_HAS(again.out, "projections match the log");

  // Named explicitly, and twice: rebuilt once, the slot flips back.
  auto named = audit({"rebuild", d, "--projection", "views", "--projection", "views"});
  CHECK(named.exit_code == 0);
  CHECK(views_info(desk.dir.path()).slot == before.slot);
}

TEST_CASE("audit check and rebuild work while another process has the log open") {
  Desk desk(Desk::default_settings(), views_options());
  fill(desk);
  const std::string d = desk.dir.path().string();
  const auto before = desk.log->projection_info(proj::Views::kName).value();

  auto checked = audit({"check", d});
  CHECK(checked.exit_code == 0);
  CHECK_HAS(checked.out, "projections match the log");

  auto rebuilt = audit({"rebuild", d});
  CHECK(rebuilt.exit_code == 0);
  const auto after = desk.log->projection_info(proj::Views::kName).value();
  CHECK(after.slot == 1 - before.slot);

  // The "server" goes on appending, and reads its views from the rebuilt tables.
  const std::uint64_t n = desk.open("c-ann", "After the rebuild");
  proj::Views views(*desk.log);
  auto summary = views.summary("acme", n);
  REQUIRE(summary);
  REQUIRE(summary->has_value());
  CHECK((*summary)->subject == "After the rebuild");
  CHECK(views.position().value() == desk.log->head().value());

  auto again = audit({"check", d});
  CHECK(again.exit_code == 0);
  CHECK_HAS(again.out, "views: position " + std::to_string(desk.log->head().value()) + ", ");
  CHECK_HAS(again.out, "projections match the log");
}

TEST_CASE("audit check names tampered tables and rebuild repairs them") {
  Desk desk(Desk::default_settings(), views_options());
  fill(desk);
  close(desk);
  const std::string d = desk.dir.path().string();
  tamper(desk.dir.path(), views_info(desk.dir.path()).slot);

  auto checked = audit({"check", d});
  CHECK(checked.exit_code == 1);
  CHECK_HAS(checked.out, " 2 differences");
  CHECK_HAS(checked.out, "table tickets: key 'acme\\x00");
  CHECK_HAS(checked.out, "has another value live");
  CHECK_HAS(checked.out, "table mine: key ");
  CHECK_HAS(checked.out, "is in the rebuild but not live");
  CHECK_HAS(checked.out, "2 differences: run portico-audit rebuild " + d);
  CHECK_LACKS(checked.out, "projections match the log");

  auto rebuilt = audit({"rebuild", d, "--projection", "views"});
  CHECK(rebuilt.exit_code == 0);
  auto again = audit({"check", d});
  CHECK(again.exit_code == 0);
  CHECK_HAS(again.out, "projections match the log");
}

TEST_CASE("audit check reports views never built and rebuild builds them") {
  Desk desk;  // a log kept without the views projection
  fill(desk);
  close(desk);
  const std::string d = desk.dir.path().string();

  auto checked = audit({"check", d});
  CHECK(checked.exit_code == 1);
  CHECK_HAS(checked.out, "views: not built");
  CHECK_HAS(checked.out, "1 projection not built: run portico-audit rebuild " + d);

  auto rebuilt = audit({"rebuild", d});
  CHECK(rebuilt.exit_code == 0);
  CHECK_HAS(rebuilt.out, "views: rebuilt");
  auto again = audit({"check", d});
  CHECK(again.exit_code == 0);
  CHECK_HAS(again.out, "projections match the log");
}

TEST_CASE("audit rebuild resets the async outbox to the head only with force") {
  Desk desk(Desk::default_settings(), views_options());
  fill(desk);
  close(desk);
  const std::string d = desk.dir.path().string();
  auto refused = audit({"rebuild", d, "--projection", "outbox"});
  CHECK(refused.exit_code == 2);
  CHECK_HAS(refused.out, "'outbox' is a work queue");
  CHECK_HAS(refused.out, "--force");
  auto rebuilt = audit({"rebuild", d, "--projection", "outbox", "--force"});
  CHECK(rebuilt.exit_code == 0);
  CHECK_HAS(rebuilt.out, "outbox: reset, async, version 1: its feed replays the log");
  CHECK_LACKS(rebuilt.out, "acts only on events after position 0\n");  // nothing resent
  CHECK_LACKS(rebuilt.out, "views:");
}

TEST_CASE("audit rebuild and check refuse unknown projections and missing directories") {
  Desk desk(Desk::default_settings(), views_options());
  close(desk);
  const std::string d = desk.dir.path().string();

  auto unknown = audit({"rebuild", d, "--projection", "nope"});
  CHECK(unknown.exit_code == 2);
  CHECK_HAS(unknown.out, "unknown projection 'nope'; known: views (inline), outbox (async)");
  CHECK_HAS(unknown.out, "usage: portico-audit");

  CHECK(audit({"rebuild", d, "--projection"}).exit_code == 2);
  CHECK(audit({"rebuild", d, "--frobnicate"}).exit_code == 2);
  CHECK(audit({"rebuild"}).exit_code == 2);
  CHECK(audit({"check"}).exit_code == 2);
  CHECK(audit({"check", d, d}).exit_code == 2);

  const std::string missing = (desk.dir.path() / "missing").string();
  auto rebuild_missing = audit({"rebuild", missing});
  CHECK(rebuild_missing.exit_code == 1);
  CHECK_HAS(rebuild_missing.out, "is not a directory");
  CHECK_FALSE(std::filesystem::exists(missing));  // never created
  auto check_missing = audit({"check", missing});
  CHECK(check_missing.exit_code == 1);
  CHECK_HAS(check_missing.out, "is not a directory");

  const std::string empty = (desk.dir.path() / "empty").string();
  std::filesystem::create_directory(empty);
  auto no_log = audit({"rebuild", empty});
  CHECK(no_log.exit_code == 1);
  CHECK_HAS(no_log.out, "no log in");
  CHECK_FALSE(std::filesystem::exists(desk.dir.path() / "empty" / "data.mdb"));
  CHECK(audit({"check", empty}).exit_code == 1);
}
