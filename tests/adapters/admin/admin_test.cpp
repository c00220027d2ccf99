// portico-admin as an operator uses it, beside a running portico-server: a new data directory,
// every settings flag (seen over HTTP where the contract shows it), refusals that change nothing,
// staff and teams.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "../../support/server_process.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;
using namespace std::chrono_literals;
using boost::beast::http::verb;

namespace {

boost::json::value show(const std::filesystem::path& data, const std::string& slug = "acme") {
  auto shown = admin(data, {"project", "show", slug});
  REQUIRE_MESSAGE(shown.exit_code == 0, shown.out);
  return boost::json::parse(shown.out);
}

void update(const std::filesystem::path& data, std::vector<std::string> flags) {
  std::vector<std::string> args = {"project", "update", "acme"};
  args.insert(args.end(), flags.begin(), flags.end());
  auto done = admin(data, args);
  CAPTURE(flags.front());
  REQUIRE_MESSAGE(done.exit_code == 0, done.out);
}

boost::json::value project(unsigned short port, const std::string& slug = "acme") {
  auto r = hc::get(port, "/api/v1/projects/" + slug);
  REQUIRE(r.result_int() == 200);
  return hc::json(r);
}

}  // namespace

TEST_CASE(
    "a new operator: project create on a fresh directory then the server and a customer's ticket") {
  TempDir dir;
  const auto data = dir / "new" / "data";  // not there yet, nor its parent
  auto made = admin(data, {"project", "create", "acme", "--name", "Acme Support"});
  REQUIRE_MESSAGE(made.exit_code == 0, made.out);
  CHECK(made.out.find("http://127.0.0.1:8080/p/acme/") != std::string::npos);
  ServerProcess server(data);
  const auto ann = customer(server.port(), data, "acme", "ann@example.com");
  auto opened = ann.call(verb::post, "/api/v1/projects/acme/tickets",
                         R"({"subject":"Hello","message":"My first ticket"})");
  CHECK(opened.result_int() == 201);
  CHECK(ann.get("/api/v1/projects/acme/tickets").at("items").as_array().size() == 1);
  // Every other command needs a data directory that exists.
  auto elsewhere = admin(dir / "nowhere", {"project", "list"});
  CHECK(elsewhere.exit_code == 1);
  CHECK(elsewhere.out.find("project create") != std::string::npos);
}

TEST_CASE("project update changes only what is named and the running server sees it at once") {
  TempDir dir;
  const auto data = dir / "data";
  REQUIRE(admin(data, {"project", "create", "acme", "--name", "Acme"}).exit_code == 0);
  ServerProcess server(data);
  const auto port = server.port();

  update(data, {"--name", "Acme Support"});
  CHECK(project(port).at("name") == "Acme Support");
  update(data, {"--customer-reply", "reopen", "--closed-tickets", "reply_reopens"});
  CHECK(project(port).at("policies").at("customer_reply") == "reopen");
  CHECK(project(port).at("policies").at("closed_tickets") == "reply_reopens");
  CHECK(project(port).at("name") == "Acme Support");  // untouched
  update(data, {"--sign-in", "magic_link"});
  CHECK(project(port).at("sign_in") == boost::json::parse(R"(["magic_link"])"));
  update(data, {"--primary-color", "#112233", "--accent-color", "#445566", "--logo-url",
                "https://cdn.acme.test/logo.png"});
  CHECK(project(port).at("theme") ==
        boost::json::parse(R"({"logo_url":"https://cdn.acme.test/logo.png",
      "primary_color":"#112233","accent_color":"#445566"})"));
  update(data, {"--languages", "de,en"});
  CHECK(project(port).at("languages") == boost::json::parse(R"(["de","en"])"));

  // Allowed domains apply to sign-in at once.
  update(data, {"--allowed-domains", "acme.test"});
  {
    hc::Connection c(port);
    auto r = c.request(verb::post, "/api/v1/auth/magic-link",
                       R"({"project":"acme","email":"eve@elsewhere.test"})");
    CHECK(r.result_int() == 403);
    CHECK(hc::error_code(r) == "domain_not_allowed");
  }
  update(data, {"--allowed-domains", ""});

  // Organisations and their visibility: a colleague's ticket shows in the organisation's list.
  update(data, {"--organization", "Globex=globex.test", "--organization-visibility", "on"});
  const auto ann = customer(port, data, "acme", "ann@globex.test");
  const auto bob = customer(port, data, "acme", "bob@globex.test");
  REQUIRE(ann.call(verb::post, "/api/v1/projects/acme/tickets",
                   R"({"subject":"Globex down","message":"All of it"})")
              .result_int() == 201);
  CHECK(bob.get("/api/v1/projects/acme/tickets?scope=organization").at("items").as_array().size() ==
        1);
  update(data, {"--organization-visibility", "off"});
  CHECK(bob.get("/api/v1/projects/acme/tickets?scope=organization").at("items").as_array().empty());
  update(data, {"--no-organization", "Globex"});
  CHECK(show(data).at("organizations").as_array().empty());

  // Working hours, with the zone and holidays, as the contract draws them.
  update(data, {"--time-zone", "Europe/Berlin", "--working-hours",
                "mon-thu 08:00-18:00;fri 08:00-14:00", "--holidays", "2026-12-25,2026-12-24"});
  const auto hours = project(port).at("working_hours");
  REQUIRE(hours.is_object());
  CHECK(hours.at("time_zone") == "Europe/Berlin");
  CHECK(hours.at("schedule").at("mon") == boost::json::parse(R"([["08:00","18:00"]])"));
  CHECK(hours.at("schedule").at("fri") == boost::json::parse(R"([["08:00","14:00"]])"));
  CHECK(hours.at("schedule").at("sat").as_array().empty());
  CHECK(hours.at("holidays") == boost::json::parse(R"(["2026-12-24","2026-12-25"])"));
  CHECK(hours.at("open_now").is_bool());
  update(data, {"--working-hours", ""});
  CHECK(project(port).at("working_hours").is_null());

  // The rest is stored for the features that read it, and shown by project show.
  update(data, {"--customer-priority", "on", "--staff-totp", "required", "--kb", "members",
                "--attachments", "3x2MB", "--surveys", "off", "--survey-options", "Great,Meh",
                "--pending-closure-timeout", "30m", "--resolved-timeout", "7d"});
  const auto s = show(data);
  CHECK(s.at("customer_priority") == true);
  CHECK(s.at("staff_totp") == "required");
  CHECK(s.at("kb") == "members");
  CHECK(s.at("attachments") == boost::json::parse(R"({"count":3,"size_bytes":2097152})"));
  CHECK(s.at("policies").at("surveys") == false);
  CHECK(s.at("policies").at("survey_options") == boost::json::parse(R"(["Great","Meh"])"));
  CHECK(project(port).at("policies").at("surveys") == false);
  CHECK(project(port).at("policies").at("survey_options") ==
        boost::json::parse(R"(["Great","Meh"])"));
  CHECK(s.at("policies").at("pending_closure_timeout") == "30m");
  CHECK(s.at("policies").at("resolved_timeout") == "7d");
  CHECK(s.at("name") == "Acme Support");  // still
  // Nothing named twice, nothing changed: says so.
  auto same = admin(data, {"project", "update", "acme", "--kb", "members"});
  CHECK(same.exit_code == 0);
  CHECK(same.out.find("nothing changed") != std::string::npos);
}

TEST_CASE(
    "surveys off: resolving offers no survey - on again with options the e-mailed link offers "
    "them") {
  TempDir dir;
  const auto data = dir / "data";
  REQUIRE(
      admin(data, {"project", "create", "acme", "--name", "Acme", "--surveys", "off"}).exit_code ==
      0);
  REQUIRE(admin(data,
                {"staff", "add", "--project", "acme", "--email", "agent@acme.test", "--name",
                 "Agent", "--role", "agent"},
                std::string("a passphrase for the helper\n"))
              .exit_code == 0);
  ServerProcess server(data);
  const auto ann = customer(server.port(), data, "acme", "ann@example.com");
  const auto agent = staff(server.port(), "agent@acme.test", "a passphrase for the helper");
  auto resolve = [&](const std::string& subject) {
    auto r = ann.call(verb::post, "/api/v1/projects/acme/tickets",
                      R"({"subject":")" + subject + R"(","message":"Help"})");
    REQUIRE(r.result_int() == 201);
    const auto n = std::to_string(hc::json(r).at("number").to_number<std::uint64_t>());
    REQUIRE(agent
                .call(verb::post, "/api/v1/staff/projects/acme/tickets/" + n + "/status",
                      R"({"status":"resolved"})")
                .result_int() == 200);
    return n;
  };
  const auto quiet = resolve("No survey please");
  CHECK(ann.get("/api/v1/projects/acme/tickets/" + quiet).at("survey_pending") == false);
  update(data, {"--surveys", "on", "--survey-options", "Superb,Fine,Bad"});
  const auto asked = resolve("Survey please");
  CHECK(ann.get("/api/v1/projects/acme/tickets/" + asked).at("survey_pending") == true);
  // The feedback e-mail's link (sent by the server's deliverer) offers the project's options.
  std::set<std::string> seen;
  std::string token;
  for (int i = 0; i < 100 && token.empty(); ++i) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(data / "mail", ec)) {
      const std::string mail = read_mail(e.path());
      const auto at = mail.find("survey?token=");
      if (at == std::string::npos) continue;
      auto end = at + 13;
      while (end < mail.size() && (std::isalnum(static_cast<unsigned char>(mail[end])) ||
                                   mail[end] == '-' || mail[end] == '_' || mail[end] == '.')) {
        ++end;
      }
      token = mail.substr(at + 13, end - at - 13);
    }
    if (token.empty()) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(!token.empty());
  const auto answer = hc::get(server.port(), "/api/v1/surveys/" + token);
  INFO("token " << token << " answered " << answer.body());
  REQUIRE(answer.result_int() == 200);
  const auto survey = hc::json(answer);
  CHECK(survey.at("options") == boost::json::parse(R"(["Superb","Fine","Bad"])"));
}

TEST_CASE("every invalid flag value exits 1 naming the flag and changes nothing") {
  TempDir dir;
  const auto data = dir / "data";
  REQUIRE(admin(data, {"project", "create", "acme", "--name", "Acme"}).exit_code == 0);
  REQUIRE(admin(data, {"project", "create", "beta", "--name", "Beta", "--host", "beta.test"})
              .exit_code == 0);
  const auto before = show(data);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--name", ""},
      {"--name", std::string(101, 'x')},
      {"--customer-reply", "sometimes"},
      {"--closed-tickets", "never"},
      {"--sign-in", "carrier_pigeon"},
      {"--sign-in", ""},
      {"--allowed-domains", "Not A Domain"},
      {"--organization", "NoDomains"},
      {"--organization", "=x.test"},
      {"--organization", "Globex=not a domain"},
      {"--no-organization", "Nobody"},
      {"--organization-visibility", "maybe"},
      {"--pending-closure-timeout", "48"},
      {"--pending-closure-timeout", "-1h"},
      {"--resolved-timeout", "2w"},
      {"--resolved-timeout", "h"},
      {"--surveys", "yes"},
      {"--survey-options", ""},
      {"--survey-options", "Same,Same"},
      {"--primary-color", "red"},
      {"--accent-color", "#12345"},
      {"--logo-url", "javascript:alert(1)"},
      {"--logo-url", "http://insecure.test/logo.png"},
      {"--languages", "xx"},
      {"--languages", "en,en"},
      {"--languages", ""},
      {"--customer-priority", "sometimes"},
      {"--staff-totp", "always"},
      {"--kb", "private"},
      {"--time-zone", "Mars/Olympus_Mons"},
      {"--time-zone", "../../etc/passwd"},
      {"--working-hours", "mon-fri 9-5"},
      {"--working-hours", "funday 09:00-17:00"},
      {"--working-hours", "fri-mon 09:00-17:00"},
      {"--working-hours", "mon 17:00-09:00"},
      {"--working-hours", "mon 09:00-25:00"},
      {"--working-hours", "mon 09:00-12:00;mon 11:00-13:00"},
      {"--holidays", "2026-02-30"},
      {"--holidays", "tomorrow"},
      {"--attachments", "5"},
      {"--attachments", "x10MB"},
      {"--attachments", "21x1MB"},
      {"--attachments", "5x101MB"},
      {"--attachments", "5x0MB"},
      {"--attachments", "5x10TB"},
      {"--host", "https://acme.test/"},
      {"--host", "acme.test:8080"},
      {"--host", "Bad_Host"},
      {"--host", "beta.test"},  // beta's
  };
  for (const auto& [flag, value] : bad) {
    CAPTURE(flag);
    CAPTURE(value);
    auto r = admin(data, {"project", "update", "acme", flag, value});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find(flag) != std::string::npos);
  }
  // Flags that are no flags, or lack a value: usage, exit 2.
  CHECK(admin(data, {"project", "update", "acme", "--frobnicate", "x"}).exit_code == 2);
  CHECK(admin(data, {"project", "update", "acme", "--kb"}).exit_code == 2);
  CHECK(admin(data, {"project", "update", "acme"}).exit_code == 2);
  CHECK(admin(data, {"project", "update", "nope", "--kb", "off"}).exit_code == 1);
  // A refusal among good flags changes none of them.
  CHECK(admin(data, {"project", "update", "acme", "--kb", "off", "--time-zone", "Nowhere/Land"})
            .exit_code == 1);
  CHECK(show(data) == before);
}

TEST_CASE("project list and show - a host name serves its project's portal at /") {
  TempDir dir;
  const auto data = dir / "data";
  REQUIRE(admin(data, {"project", "create", "acme", "--name", "Acme Support"}).exit_code == 0);
  REQUIRE(admin(data,
                {"project", "create", "beta", "--name", "Beta Desk", "--host", "support.beta.test"})
              .exit_code == 0);
  auto listed = admin(data, {"--base-url", "https://desk.example", "project", "list"});
  REQUIRE(listed.exit_code == 0);
  CHECK(listed.out ==
        "acme\tAcme Support\thttps://desk.example/p/acme/\n"
        "beta\tBeta Desk\thttps://support.beta.test/\n");
  const auto beta = show(data, "beta");
  CHECK(beta.at("hosts") == boost::json::parse(R"(["support.beta.test"])"));
  CHECK(beta.at("name") == "Beta Desk");
  ServerProcess server(data);
  auto page = hc::get(server.port(), "/", {{"Host", "support.beta.test:8443"}});
  CHECK(page.result_int() == 200);
  CHECK(page[boost::beast::http::field::content_type].starts_with("text/html"));
  CHECK(hc::json(hc::get(server.port(), "/api/v1/host", {{"Host", "SUPPORT.beta.test"}}))
            .at("project") == "beta");
  CHECK(hc::get(server.port(), "/", {{"Host", "unknown.test"}}).result_int() == 404);
  CHECK(hc::get(server.port(), "/p/beta/", {{"Host", "support.beta.test"}}).result_int() == 200);
  // A host name moves: released by one project, it may be claimed by another.
  CHECK(admin(data, {"project", "update", "acme", "--host", "support.beta.test"}).exit_code == 1);
  update(data, {"--name", "Acme Support"});  // (nothing changed: still fine)
  REQUIRE(admin(data, {"project", "update", "beta", "--host", "-support.beta.test"}).exit_code ==
          0);
  REQUIRE(admin(data, {"project", "update", "acme", "--host", "support.beta.test"}).exit_code == 0);
  CHECK(hc::json(hc::get(server.port(), "/api/v1/host", {{"Host", "support.beta.test"}}))
            .at("project") == "acme");
}

TEST_CASE("staff: add with teams - list - remove (their sessions end at once) - teams") {
  TempDir dir;
  const auto data = dir / "data";
  REQUIRE(admin(data, {"project", "create", "acme", "--name", "Acme"}).exit_code == 0);
  REQUIRE(admin(data, {"team", "add", "--project", "acme", "--name", "Billing"}).exit_code == 0);
  REQUIRE(admin(data, {"team", "add", "--project", "acme", "--name", "Tech"}).exit_code == 0);
  const std::string password = "the agents' own passphrase";
  auto added = admin(data,
                     {"staff", "add", "--project", "acme", "--email", "dana@acme.test", "--name",
                      "Dana", "--role", "admin", "--team", "Billing", "--team", "Tech"},
                     password + "\n");
  REQUIRE_MESSAGE(added.exit_code == 0, added.out);
  REQUIRE(admin(data,
                {"staff", "add", "--project", "acme", "--email", "eli@acme.test", "--name", "Eli",
                 "--role", "agent"},
                password + "\n")
              .exit_code == 0);
  // A team that does not exist: refused before the password is read, nothing added.
  auto no_team = admin(data,
                       {"staff", "add", "--project", "acme", "--email", "fay@acme.test", "--name",
                        "Fay", "--role", "agent", "--team", "Nope"},
                       password + "\n");
  CHECK(no_team.exit_code == 1);
  CHECK(no_team.out.find("--team") != std::string::npos);
  auto listed = admin(data, {"staff", "list", "--project", "acme"});
  REQUIRE(listed.exit_code == 0);
  CHECK(listed.out.find("dana@acme.test\tDana\tadmin\tBilling,Tech\n") != std::string::npos);
  CHECK(listed.out.find("eli@acme.test\tEli\tagent\t-\n") != std::string::npos);
  CHECK(listed.out.find("fay@") == std::string::npos);

  REQUIRE(admin(data, {"team", "members", "--project", "acme", "--name", "Tech", "--add",
                       "eli@acme.test"})
              .exit_code == 0);
  REQUIRE(admin(data, {"team", "members", "--project", "acme", "--name", "Tech", "--remove",
                       "dana@acme.test"})
              .exit_code == 0);
  REQUIRE(admin(data, {"team", "remove", "--project", "acme", "--name", "Billing"}).exit_code == 0);
  listed = admin(data, {"staff", "list", "--project", "acme"});
  CHECK(listed.out.find("dana@acme.test\tDana\tadmin\t-\n") != std::string::npos);
  CHECK(listed.out.find("eli@acme.test\tEli\tagent\tTech\n") != std::string::npos);
  CHECK(show(data).at("teams") ==
        boost::json::parse(R"([{"name":"Tech","members":["eli@acme.test"]}])"));
  CHECK(admin(data, {"team", "remove", "--project", "acme", "--name", "Billing"}).exit_code == 1);
  CHECK(admin(data, {"team", "members", "--project", "acme", "--name", "Tech", "--add",
                     "nobody@acme.test"})
            .exit_code == 1);
  CHECK(admin(data, {"team", "add", "--project", "acme", "--name", " padded "}).exit_code == 1);

  // Removed while signed in: the very next request is refused.
  ServerProcess server(data);
  const auto eli = staff(server.port(), "eli@acme.test", password);
  CHECK(eli.call(verb::get, "/api/v1/staff/projects/acme/tickets").result_int() == 200);
  auto removed = admin(data, {"staff", "remove", "--project", "acme", "--email", "eli@acme.test"});
  REQUIRE_MESSAGE(removed.exit_code == 0, removed.out);
  CHECK(eli.call(verb::get, "/api/v1/staff/projects/acme/tickets").result_int() == 401);
  CHECK(admin(data, {"staff", "list", "--project", "acme"}).out.find("eli@") == std::string::npos);
  CHECK(
      admin(data, {"staff", "remove", "--project", "acme", "--email", "eli@acme.test"}).exit_code ==
      1);
  // A new password (staff add again) ends the sessions the old one started.
  const auto dana = staff(server.port(), "dana@acme.test", password);
  REQUIRE(admin(data,
                {"staff", "add", "--project", "acme", "--email", "dana@acme.test", "--name", "Dana",
                 "--role", "admin"},
                std::string("a brand new passphrase\n"))
              .exit_code == 0);
  CHECK(dana.call(verb::get, "/api/v1/staff/projects/acme/tickets").result_int() == 401);
  const auto again = staff(server.port(), "dana@acme.test", "a brand new passphrase");
  CHECK(again.call(verb::get, "/api/v1/staff/projects/acme/tickets").result_int() == 200);
}

TEST_CASE("template set - list - remove: the running server lists the templates at once") {
  TempDir dir;
  const auto data = dir.path() / "data";
  new_desk(data, "a-long-staff-passphrase");
  ServerProcess server(data);
  auto write = [&](const std::string& name, const std::string& json) {
    std::ofstream(dir.path() / name) << json;
    return (dir.path() / name).string();
  };
  const std::string bug = write("bug.json", R"({"key":"bug","name":"Bug report",
    "description":"Something does not work","fields":[
    {"key":"version","label":"Game version","type":"text","required":true},
    {"key":"platform","label":"Platform","type":"select","options":["PC","Console"]}]})");
  auto set = admin(data, {"template", "set", "--project", "acme", "--file", bug});
  REQUIRE_MESSAGE(set.exit_code == 0, set.out);
  CHECK(set.out.find("template bug of acme: set") != std::string::npos);
  auto listed = hc::json(hc::get(server.port(), "/api/v1/projects/acme/templates"));
  REQUIRE(listed.at("items").as_array().size() == 1);
  const auto& t = listed.at("items").at(0);
  CHECK(t.at("name") == "Bug report");
  CHECK(t.at("fields").at(0).at("max_length") == 200);
  CHECK(t.at("fields").at(1).at("options").as_array().size() == 2);
  auto shown = admin(data, {"template", "list", "--project", "acme"});
  REQUIRE(shown.exit_code == 0);
  CHECK(boost::json::parse(shown.out) == listed);

  // Refusals exit 1 naming what is wrong, and change nothing.
  const std::string broken = write(
      "broken.json",
      R"({"key":"bug","name":"Bug","fields":[{"key":"n","label":"N","type":"number","min":9,"max":1}]})");
  auto refused = admin(data, {"template", "set", "--project", "acme", "--file", broken});
  CHECK(refused.exit_code == 1);
  CHECK(refused.out.find("fields[0].min") != std::string::npos);
  const std::string teamless = write("team.json", R"({"key":"bug","name":"Bug","team":"Nobody"})");
  auto no_team = admin(data, {"template", "set", "--project", "acme", "--file", teamless});
  CHECK(no_team.exit_code == 1);
  CHECK(no_team.out.find("team") != std::string::npos);
  CHECK(admin(data, {"template", "set", "--project", "acme", "--file", write("x.json", "{nope")})
            .exit_code == 1);
  CHECK(admin(data, {"template", "set", "--project", "acme", "--file",
                     (dir.path() / "missing.json").string()})
            .exit_code == 1);
  CHECK(admin(data, {"template", "set", "--project", "acme"}).exit_code == 2);
  CHECK(hc::json(hc::get(server.port(), "/api/v1/projects/acme/templates")) == listed);

  auto removed = admin(data, {"template", "remove", "--project", "acme", "--key", "bug"});
  REQUIRE_MESSAGE(removed.exit_code == 0, removed.out);
  CHECK(hc::json(hc::get(server.port(), "/api/v1/projects/acme/templates"))
            .at("items")
            .as_array()
            .empty());
  auto again = admin(data, {"template", "remove", "--project", "acme", "--key", "bug"});
  CHECK(again.exit_code == 1);
  CHECK(again.out.find("--key") != std::string::npos);
  CHECK(hc::get(server.port(), "/api/v1/projects/nope/templates").result_int() == 404);
}
