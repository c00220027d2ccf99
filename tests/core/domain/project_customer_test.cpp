// The project and customer deciders.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <functional>
#include <portico/domain/customer.hpp>
#include <portico/domain/project.hpp>

namespace dom = portico::domain;
namespace dp = portico::domain::project;
namespace dc = portico::domain::customer;

namespace {

dp::Settings settings() {
  dp::Settings s;
  s.name = "Acme Support";
  s.organizations = {{"Globex", {"globex.test", "globex.example"}}};
  return s;
}

const dp::Context kOperator{dom::system_actor(), 1000};

dp::State created() {
  auto events = dp::decide({}, dp::CreateProject{"acme", settings()}, kOperator);
  REQUIRE(events);
  return dp::fold(*events);
}

std::string code(const portico::Result<std::vector<dp::Event>>& r) {
  return r ? "ok" : r.error().code + (r.error().field.empty() ? "" : "/" + r.error().field);
}

}  // namespace

TEST_CASE("only the operator creates a project - with a valid slug and settings - once") {
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", settings()},
                        {{dom::Realm::staff, "s-1"}, 1})) == "forbidden");
  for (const char* bad : {"a", "Acme", "-acme", "ac me", "acme_1"}) {
    CAPTURE(bad);
    CHECK(code(dp::decide({}, dp::CreateProject{bad, settings()}, kOperator)) ==
          "invalid_request/slug");
  }
  auto bad = settings();
  bad.name = "  ";
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) == "invalid_request/name");
  bad = settings();
  bad.sign_in = {"password", "Carrier Pigeon"};
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) ==
        "invalid_request/sign_in");
  // Any provider's name is a method (the server's configuration says which it has).
  bad.sign_in = {"password", "acme-sso"};
  CHECK(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator));
  bad.sign_in = {"password", std::string(33, 'a')};
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) ==
        "invalid_request/sign_in");
  bad = settings();
  bad.allowed_domains = {"Example.COM"};
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) ==
        "invalid_request/allowed_domains");
  bad = settings();
  bad.theme.primary_color = "red";
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) == "invalid_request/theme");
  // A logo is something an <img> may show, and nothing else.
  for (const std::string& logo :
       {std::string("javascript:alert(1)"), std::string("http://plain.example/logo.png"),
        std::string("//elsewhere.example/logo.png"), std::string("https://x.example/a b.png"),
        std::string("https://x.example/\n.png"), std::string("data:text/html,<b>x</b>"),
        "data:image/png;base64," + std::string(70'000, 'A')}) {
    CAPTURE(logo.substr(0, 40));
    bad = settings();
    bad.theme.logo_url = logo;
    CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) ==
          "invalid_request/theme");
  }
  for (const char* logo : {"", "https://cdn.example/logo.svg", "/assets/logo.svg",
                           "data:image/svg+xml;base64,PHN2Zy8+"}) {
    CAPTURE(logo);
    auto good = settings();
    good.theme.logo_url = logo;
    CHECK(code(dp::decide({}, dp::CreateProject{"acme", good}, kOperator)) == "ok");
  }
  bad = settings();
  bad.policies.pending_closure_timeout = -1;  // 0 is "never"
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", bad}, kOperator)) ==
        "invalid_request/policies");
  const dp::State acme = created();
  CHECK(acme.exists);
  CHECK(acme.settings == settings());
  CHECK(code(dp::decide(acme, dp::CreateProject{"acme", settings()}, kOperator)) == "conflict");
}

TEST_CASE("admins configure a project and manage staff - agents do not") {
  dp::State acme = created();
  acme = dp::fold(
      *dp::decide(acme, dp::AddStaff{"s-admin", "a@acme.test", "Ada", "admin"}, kOperator), acme);
  acme = dp::fold(*dp::decide(acme, dp::AddStaff{"s-agent", "g@acme.test", "Gus", "agent"},
                              dp::Context{{dom::Realm::staff, "s-admin"}, 2}),
                  acme);
  CHECK(dp::is_staff(acme, "s-agent"));
  const dp::Context agent{{dom::Realm::staff, "s-agent"}, 3};
  auto s = settings();
  s.policies.customer_reply = dom::CustomerReplyPolicy::reopen;
  CHECK(code(dp::decide(acme, dp::ConfigureProject{s}, agent)) == "forbidden");
  CHECK(code(dp::decide(acme, dp::AddStaff{"s-x", "x@acme.test", "X", "agent"}, agent)) ==
        "forbidden");
  auto configured = dp::decide(acme, dp::ConfigureProject{s}, {{dom::Realm::staff, "s-admin"}, 4});
  REQUIRE(configured);
  CHECK(dp::fold(*configured, acme).settings.policies.customer_reply ==
        dom::CustomerReplyPolicy::reopen);
  // The same settings again change nothing; adding the same staff member again neither.
  CHECK(dp::decide(acme, dp::ConfigureProject{settings()}, kOperator)->empty());
  CHECK(
      dp::decide(acme, dp::AddStaff{"s-agent", "g@acme.test", "Gus", "agent"}, kOperator)->empty());
  CHECK(code(dp::decide(acme, dp::AddStaff{"s-x", "x@acme.test", "X", "owner"}, kOperator)) ==
        "invalid_request/role");
  auto removed = dp::decide(acme, dp::RemoveStaff{"s-agent"}, kOperator);
  CHECK_FALSE(dp::is_staff(dp::fold(*removed, acme), "s-agent"));
  CHECK(code(dp::decide({}, dp::ConfigureProject{settings()}, kOperator)) == "not_found");
}

TEST_CASE("allowed domains and organisations are matched on the e-mail domain - any case") {
  dp::State acme = created();
  CHECK(dp::domain_allowed(acme, "anyone@anywhere.test"));
  acme.settings.allowed_domains = {"globex.test"};
  CHECK(dp::domain_allowed(acme, "ann@GLOBEX.test"));
  CHECK_FALSE(dp::domain_allowed(acme, "ann@globex.test.evil"));
  CHECK_FALSE(dp::domain_allowed(acme, "no-at-sign"));
  CHECK(dp::organization_of(acme, "bob@globex.example") == "Globex");
  CHECK(dp::organization_of(acme, "cat@initech.test").empty());
  CHECK(dp::email_domain("a@b@Example.org") == "example.org");
}

TEST_CASE("customers register once - join and leave projects - within allowed domains") {
  const dc::Context sys{dom::system_actor(), 1};
  CHECK(dc::decide({}, dc::Register{"c-1", "ann@globex.test", "Ann", "ann"},
                   {{dom::Realm::customer, "c-1"}, 1})
            .error()
            .code == "forbidden");
  CHECK(dc::decide({}, dc::Register{"c-1", "ann@globex.test", "Ann", "A"}, sys).error().field ==
        "handle");
  CHECK(dc::decide({}, dc::Register{"c-1", "ann", "Ann", "ann"}, sys).error().field == "email");
  CHECK(dc::decide({}, dc::Register{"c-1", "ann@globex.test", "", "ann"}, sys).error().field ==
        "display_name");
  dc::State ann =
      dc::fold(*dc::decide({}, dc::Register{"c-1", "ann@globex.test", "Ann", "ann"}, sys));
  CHECK(dc::decide(ann, dc::Register{"c-1", "ann@globex.test", "Ann", "ann"}, sys)->empty());
  CHECK(dc::decide(ann, dc::Register{"c-1", "other@globex.test", "Ann", "ann"}, sys).error().code ==
        "conflict");

  const dc::Context self{{dom::Realm::customer, "c-1"}, 2};
  const dc::Context someone_else{{dom::Realm::customer, "c-2"}, 2};
  CHECK(dc::decide(ann, dc::JoinProject{"acme", {}}, someone_else).error().code == "forbidden");
  CHECK(dc::decide(ann, dc::JoinProject{"acme", {"initech.test"}}, self).error().code ==
        "domain_not_allowed");
  ann = dc::fold(*dc::decide(ann, dc::JoinProject{"acme", {"globex.test"}}, self), ann);
  CHECK(dc::is_member(ann, "acme"));
  CHECK(dc::decide(ann, dc::JoinProject{"acme", {}}, self)->empty());
  ann = dc::fold(*dc::decide(ann, dc::LeaveProject{"acme"}, self), ann);
  CHECK_FALSE(dc::is_member(ann, "acme"));
  CHECK(dc::decide(ann, dc::LeaveProject{"acme"}, self)->empty());
  ann = dc::fold(*dc::decide(ann, dc::JoinProject{"acme", {}}, self), ann);
  CHECK(dc::is_member(ann, "acme"));  // signing in again makes them a member again
}

// Payloads only: read with each event's own type name, this cannot notice a wrong name
// (event_schema_test.cpp pins names, versions and payloads of every event).
TEST_CASE("project and customer payloads read back as the same events") {
  const std::vector<dp::Event> project_events{
      dp::ProjectCreated{1, "acme", settings()},
      dp::ProjectConfigured{2, settings(), {dom::Realm::staff, "s"}},
      dp::StaffAdded{3, "s", "s@x.test", "S", "agent"}, dp::StaffRemoved{4, "s"}};
  for (const auto& e : project_events) {
    auto back = dp::from_payload(dp::type_name(e), dp::to_payload(e));
    REQUIRE(back);
    CHECK(back->index() == e.index());
    CHECK(dp::to_payload(*back) == dp::to_payload(e));
  }
  const std::vector<dc::Event> customer_events{
      dc::CustomerRegistered{1, "c", "c@x.test", "C", "cc"}, dc::MembershipJoined{2, "acme"},
      dc::MembershipLeft{3, "acme"}, dc::HandleClaimed{4, "cc", "c"}};
  for (const auto& e : customer_events) {
    auto back = dc::from_payload(dc::type_name(e), dc::to_payload(e));
    REQUIRE(back);
    CHECK(back->index() == e.index());
    CHECK(dc::to_payload(*back) == dc::to_payload(e));
  }
  CHECK_FALSE(dp::from_payload("ProjectCreated", {{"slug", "x"}}));
  CHECK_FALSE(dc::from_payload("Nonsense", {}));
}

TEST_CASE("an e-mail domain belongs to one organisation at most and names are unique") {
  auto twice = settings();
  twice.organizations.push_back({"Other", {"globex.test"}});
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", twice}, kOperator)) ==
        "invalid_request/organizations");
  auto same_name = settings();
  same_name.organizations.push_back({"Globex", {"globex.org"}});
  CHECK(code(dp::decide({}, dp::CreateProject{"acme", same_name}, kOperator)) ==
        "invalid_request/organizations");
  auto repeated = settings();
  repeated.organizations[0].domains.push_back("globex.test");
  CHECK(code(dp::decide(created(), dp::ConfigureProject{repeated}, kOperator)) ==
        "invalid_request/organizations");
}

TEST_CASE(
    "the settings of part 2 are checked: languages - TOTP policy - KB - zone - hours - hosts") {
  auto check = [](const std::function<void(dp::Settings&)>& change) {
    dp::Settings s = settings();
    change(s);
    return code(dp::decide({}, dp::CreateProject{"acme", s}, kOperator));
  };
  CHECK(check([](dp::Settings& s) { s.languages = {"de", "en", "fr"}; }) == "ok");
  CHECK(check([](dp::Settings& s) { s.languages = {}; }) == "invalid_request/languages");
  CHECK(check([](dp::Settings& s) { s.languages = {"xx"}; }) == "invalid_request/languages");
  CHECK(check([](dp::Settings& s) { s.languages = {"en", "en"}; }) == "invalid_request/languages");
  CHECK(check([](dp::Settings& s) { s.staff_totp = "always"; }) == "invalid_request/staff_totp");
  CHECK(check([](dp::Settings& s) { s.kb = "secret"; }) == "invalid_request/kb");
  CHECK(check([](dp::Settings& s) { s.time_zone = "America/Argentina/Buenos_Aires"; }) == "ok");
  CHECK(check([](dp::Settings& s) { s.time_zone = "../etc/passwd"; }) ==
        "invalid_request/time_zone");
  CHECK(check([](dp::Settings& s) {
          s.working_hours = {{0, 540, 1020}, {0, 1020, 1080}};
        }) == "ok");  // touching, not overlapping
  CHECK(check([](dp::Settings& s) {
          s.working_hours = {{0, 540, 1020}, {0, 600, 700}};
        }) == "invalid_request/working_hours");
  CHECK(check([](dp::Settings& s) {
          s.working_hours = {{7, 540, 1020}};
        }) == "invalid_request/working_hours");
  CHECK(check([](dp::Settings& s) {
          s.working_hours = {{1, 600, 600}};
        }) == "invalid_request/working_hours");
  CHECK(check([](dp::Settings& s) { s.holidays = {"2028-02-29"}; }) == "ok");
  CHECK(check([](dp::Settings& s) { s.holidays = {"2027-02-29"}; }) == "invalid_request/holidays");
  CHECK(check([](dp::Settings& s) { s.max_attachments = 21; }) == "invalid_request/attachments");
  CHECK(check([](dp::Settings& s) { s.max_attachment_bytes = 0; }) ==
        "invalid_request/attachments");
  CHECK(check([](dp::Settings& s) { s.hosts = {"support.acme.test"}; }) == "ok");
  CHECK(check([](dp::Settings& s) { s.hosts = {"Support.acme.test"}; }) == "invalid_request/hosts");
  CHECK(check([](dp::Settings& s) { s.hosts = {"a.test", "a.test"}; }) == "invalid_request/hosts");
  CHECK(check([](dp::Settings& s) { s.hosts = {"a.test:80"}; }) == "invalid_request/hosts");
  CHECK(check([](dp::Settings& s) {
          s.policies.survey_options = {"Good", "Good"};
        }) == "invalid_request/survey_options");
  CHECK(check([](dp::Settings& s) { s.policies.pending_closure_timeout = 0; }) == "ok");  // never
  CHECK(check([](dp::Settings& s) { s.policies.resolved_timeout = -1; }) ==
        "invalid_request/policies");
}

TEST_CASE("working hours are read as operators write them and written back the same way") {
  auto hours = dp::parse_working_hours("mon-thu 08:00-18:00;fri 08:00-14:00");
  REQUIRE(hours);
  CHECK(hours->size() == 5);
  CHECK(hours->front() == dp::WorkingInterval{0, 480, 1080});
  CHECK(hours->back() == dp::WorkingInterval{4, 480, 840});
  CHECK(dp::format_working_hours(*hours) ==
        "mon 08:00-18:00;tue 08:00-18:00;wed 08:00-18:00;thu 08:00-18:00;fri 08:00-14:00");
  auto listed = dp::parse_working_hours("sat,sun 10:00-12:00; mon 00:00-24:00");
  REQUIRE(listed);
  CHECK(*listed == std::vector<dp::WorkingInterval>{{0, 0, 1440}, {5, 600, 720}, {6, 600, 720}});
  CHECK(dp::parse_working_hours("")->empty());
  for (const char* bad : {"mon-fri", "mon-fri 9-17", "fri-mon 09:00-17:00", "funday 09:00-10:00",
                          "mon 10:00-09:00", "mon 09:00-24:30", "mon 09:60-10:00",
                          "mon 09:00-12:00;mon 11:00-13:00", "mon 09:00-12:00;;tue"}) {
    CAPTURE(std::string(bad));
    auto r = dp::parse_working_hours(bad);
    REQUIRE(!r);
    CHECK(r.error().field == "working_hours");
  }
}

TEST_CASE("durations are 45s or 30m or 48h or 14d or 0 and nothing else") {
  CHECK(dom::parse_duration("45s") == 45 * dom::kSecond);
  CHECK(dom::parse_duration("30m") == 30 * 60 * dom::kSecond);
  CHECK(dom::parse_duration("48h") == 48 * dom::kHour);
  CHECK(dom::parse_duration("14d") == 14 * dom::kDay);
  CHECK(dom::parse_duration("0") == 0);
  for (const char* bad : {"", "48", "h", "-1h", "1.5h", "2w", "1h30m", " 1h", "99999999999d"}) {
    CAPTURE(std::string(bad));
    CHECK(!dom::parse_duration(bad));
  }
  CHECK(dom::format_duration(48 * dom::kHour) == "2d");
  CHECK(dom::format_duration(90 * dom::kSecond) == "90s");
  CHECK(dom::format_duration(0) == "0");
}

TEST_CASE("teams: admins add and remove them and their members - removed staff leave their teams") {
  dp::State s = created();
  auto apply = [&](const dp::Command& c, const dp::Context& ctx = kOperator) {
    auto events = dp::decide(s, c, ctx);
    if (events) s = dp::fold(*events, s);
    return code(events);
  };
  REQUIRE(apply(dp::AddStaff{"s-1", "dana@acme.test", "Dana", "admin"}) == "ok");
  REQUIRE(apply(dp::AddStaff{"s-2", "eli@acme.test", "Eli", "agent"}) == "ok");
  CHECK(apply(dp::AddTeam{"Billing"}) == "ok");
  CHECK(apply(dp::AddTeam{"Billing"}) == "ok");  // again: nothing
  CHECK(s.teams.size() == 1);
  CHECK(apply(dp::AddTeam{" Billing"}) == "invalid_request/name");
  CHECK(apply(dp::AddTeam{"Tech"}, {{dom::Realm::staff, "s-2"}, 5}) == "forbidden");  // an agent
  CHECK(apply(dp::AddTeam{"Tech"}, {{dom::Realm::staff, "s-1"}, 5}) == "ok");         // an admin
  CHECK(apply(dp::SetTeamMember{"Tech", "s-2"}) == "ok");
  CHECK(apply(dp::SetTeamMember{"Tech", "s-9"}) == "not_found/email");
  CHECK(apply(dp::SetTeamMember{"Ops", "s-2"}) == "not_found/name");
  CHECK(s.teams.at("Tech") == std::set<std::string>{"s-2"});
  CHECK(apply(dp::RemoveStaff{"s-2"}) == "ok");
  CHECK(s.teams.at("Tech").empty());
  CHECK(apply(dp::RemoveTeam{"Tech"}) == "ok");
  CHECK(apply(dp::RemoveTeam{"Tech"}) == "not_found/name");
  CHECK(!s.teams.contains("Tech"));
}

TEST_CASE(
    "settings stored by an older version read with today's defaults - unknown members do not") {
  // A ProjectCreated payload as the first release wrote it (no languages, hosts, surveys …).
  auto payload = boost::json::parse(R"({"at":1,"slug":"acme","settings":{"name":"Acme",
      "policies":{"customer_reply":"reopen","closed_tickets":"closed_is_final",
        "pending_closure_timeout":172800000000,"resolved_timeout":0,"survey_expiry":604800000000,
        "survey_options":["Good","Bad"],"organization_visibility":false,"max_subject":200,
        "max_message":10000},
      "sign_in":["magic_link"],"allowed_domains":[],"organizations":[],
      "theme":{"logo_url":"","primary_color":"#1f6feb","accent_color":"#8250df"}}})")
                     .as_object();
  auto e = dp::from_payload("ProjectCreated", payload);
  REQUIRE(e);
  const auto& settings = std::get<dp::ProjectCreated>(*e).settings;
  CHECK(settings.policies.customer_reply == dom::CustomerReplyPolicy::reopen);
  CHECK(settings.policies.resolved_timeout == 0);
  CHECK(settings.policies.surveys);  // the default
  CHECK(settings.languages == std::vector<std::string>{"en"});
  CHECK(settings.hosts.empty());
  CHECK(settings.time_zone == "UTC");
  // And a round trip keeps everything.
  auto again = dp::from_payload("ProjectCreated", dp::to_payload(*e));
  REQUIRE(again);
  CHECK(std::get<dp::ProjectCreated>(*again).settings == settings);
  // A member this program does not know is refused, as every payload's is.
  payload["settings"].as_object()["colour_scheme"] = "dark";
  CHECK(!dp::from_payload("ProjectCreated", payload));
  payload["settings"].as_object().erase("colour_scheme");
  payload["settings"].as_object()["languages"] = "en";  // of the wrong type
  CHECK(!dp::from_payload("ProjectCreated", payload));
}
