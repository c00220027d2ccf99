// The project and customer deciders.
#include <doctest/doctest.h>

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
  bad.sign_in = {"password", "carrier-pigeon"};
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

TEST_CASE("project and customer events round-trip through their payloads") {
  const std::vector<dp::Event> project_events{
      dp::ProjectCreated{1, "acme", settings()},
      dp::ProjectConfigured{2, settings(), {dom::Realm::staff, "s"}},
      dp::StaffAdded{3, "s", "s@x.test", "S", "agent"}, dp::StaffRemoved{4, "s"}};
  for (const auto& e : project_events) {
    auto back = dp::from_payload(dp::type_name(e), dp::to_payload(e));
    REQUIRE(back);
    CHECK(dp::to_payload(*back) == dp::to_payload(e));
  }
  const std::vector<dc::Event> customer_events{
      dc::CustomerRegistered{1, "c", "c@x.test", "C", "cc"}, dc::MembershipJoined{2, "acme"},
      dc::MembershipLeft{3, "acme"}, dc::HandleClaimed{4, "cc", "c"}};
  for (const auto& e : customer_events) {
    auto back = dc::from_payload(dc::type_name(e), dc::to_payload(e));
    REQUIRE(back);
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
