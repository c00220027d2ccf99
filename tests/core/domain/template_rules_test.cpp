// Ticket templates (portico/domain/templates.hpp): what a template may say, and the answers a
// ticket is opened with — each field type valid and each way invalid, naming "fields.KEY".
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/templates.hpp>
#include <portico/errc.hpp>

namespace tpl = portico::domain::templates;
namespace dp = portico::domain::project;
namespace errc = portico::errc;

namespace {

// A template with one field of each type.
tpl::Template every_type() {
  auto t = tpl::parse_template(boost::json::parse(R"({
    "key": "bug", "name": "Bug report", "description": "Something does not work",
    "fields": [
      {"key": "summary", "label": "Summary", "type": "text", "required": true},
      {"key": "steps", "label": "Steps", "type": "textarea", "max_length": 50},
      {"key": "players", "label": "Players online", "type": "number", "min": 1, "max": 64},
      {"key": "map", "label": "Map", "type": "select", "options": ["Los Santos", "Cayo Perico"]},
      {"key": "modes", "label": "Modes", "type": "multiselect", "options": ["race", "heist", "rp"]},
      {"key": "agree", "label": "I read the rules", "type": "checkbox", "required": true},
      {"key": "when", "label": "When", "type": "date"},
      {"key": "clip", "label": "Clip", "type": "url"},
      {"key": "contact", "label": "Contact", "type": "email"}
    ]})"));
  REQUIRE_MESSAGE(t, t.error().field << ": " << t.error().message);
  return *t;
}

std::string refused_field(const tpl::Template& t, std::string_view answers) {
  auto r = tpl::check_answers(t, boost::json::parse(answers).as_object());
  if (r) return "accepted";
  CHECK(r.error().code == errc::kInvalidRequest);
  return r.error().field;
}

std::string refused_template(std::string_view json) {
  auto r = tpl::parse_template(boost::json::parse(json));
  if (r) return "accepted";
  CHECK(r.error().code == errc::kInvalidRequest);
  return r.error().field;
}

}  // namespace

TEST_CASE("a template's fields get their defaults and read back as written") {
  const auto t = every_type();
  CHECK(t.fields.size() == 9);
  CHECK(t.fields[0].max_length == 200);  // text
  CHECK(t.fields[1].max_length == 50);   // textarea, as given
  CHECK(t.fields[7].max_length == 200);  // url
  CHECK_FALSE(t.fields[2].max_length);   // a number has none
  auto again = tpl::parse_template(tpl::to_json(t));
  REQUIRE(again);
  CHECK(*again == t);
}

TEST_CASE("answers of every type are accepted and stored in the template's order") {
  const auto t = every_type();
  auto answers = tpl::check_answers(t, boost::json::parse(R"({
    "contact": "Ann@Example.COM", "summary": "  Crash on join  ", "agree": true,
    "players": 12, "map": "Cayo Perico", "modes": ["rp", "race", "rp"], "when": "2024-02-29",
    "clip": "https://clips.example.com/x?y=1", "steps": "1. join\n2. crash"})")
                                           .as_object());
  REQUIRE_MESSAGE(answers, answers.error().field << ": " << answers.error().message);
  std::vector<std::string> keys;
  for (const auto& a : *answers) keys.push_back(a.key);
  CHECK(keys == std::vector<std::string>{"summary", "steps", "players", "map", "modes", "agree",
                                         "when", "clip", "contact"});
  CHECK((*answers)[0].value == "Crash on join");  // trimmed
  CHECK((*answers)[0].label == "Summary");
  CHECK(boost::json::serialize((*answers)[4].value) == R"(["race","rp"])");  // options' order, once
  CHECK((*answers)[8].value == "ann@example.com");
  // Optional fields may be left out, or sent empty.
  auto least = tpl::check_answers(
      t, boost::json::parse(R"({"summary":"x","agree":true,"steps":"","modes":[],"when":null})")
             .as_object());
  REQUIRE(least);
  CHECK(least->size() == 2);
}

TEST_CASE("each way an answer is wrong names its field") {
  const auto t = every_type();
  const std::string ok = R"("summary":"x","agree":true)";
  auto with = [&](const std::string& more) {
    return "{" + ok + (more.empty() ? "" : "," + more) + "}";
  };
  CHECK(refused_field(t, with("")) == "accepted");
  // Required.
  CHECK(refused_field(t, R"({"agree":true})") == "fields.summary");
  CHECK(refused_field(t, R"({"summary":"   ","agree":true})") == "fields.summary");
  CHECK(refused_field(t, R"({"summary":"x"})") == "fields.agree");
  CHECK(refused_field(t, R"({"summary":"x","agree":false})") == "fields.agree");
  // Unknown key.
  CHECK(refused_field(t, with(R"("colour":"red")")) == "fields.colour");
  // text and textarea.
  CHECK(refused_field(t, R"({"summary":7,"agree":true})") == "fields.summary");
  CHECK(refused_field(t, R"({"summary":")" + std::string(201, 'a') + R"(","agree":true})") ==
        "fields.summary");
  CHECK(refused_field(t, R"({"summary":"a\u0007b","agree":true})") == "fields.summary");
  CHECK(refused_field(t, with(R"("steps":")" + std::string(51, 's') + "\"")) == "fields.steps");
  // number.
  CHECK(refused_field(t, with(R"("players":"12")")) == "fields.players");
  CHECK(refused_field(t, with(R"("players":0)")) == "fields.players");
  CHECK(refused_field(t, with(R"("players":65)")) == "fields.players");
  CHECK(refused_field(t, with(R"("players":64)")) == "accepted");
  // select and multiselect.
  CHECK(refused_field(t, with(R"("map":"Liberty City")")) == "fields.map");
  CHECK(refused_field(t, with(R"("map":["Los Santos"])")) == "fields.map");
  CHECK(refused_field(t, with(R"("modes":"rp")")) == "fields.modes");
  CHECK(refused_field(t, with(R"("modes":["rp","drift"])")) == "fields.modes");
  // checkbox.
  CHECK(refused_field(t, R"({"summary":"x","agree":"yes"})") == "fields.agree");
  // date.
  for (const char* bad : {"2023-02-29", "2024-13-01", "2024-1-01", "yesterday", "2024-04-31"}) {
    CAPTURE(bad);
    CHECK(refused_field(t, with(R"("when":")" + std::string(bad) + "\"")) == "fields.when");
  }
  // url.
  for (const char* bad :
       {"ftp://x.test/", "javascript:alert(1)", "https://", "https://a b/", "//x.test/"}) {
    CAPTURE(bad);
    CHECK(refused_field(t, with(R"("clip":")" + std::string(bad) + "\"")) == "fields.clip");
  }
  // email.
  CHECK(refused_field(t, with(R"("contact":"not-an-address")")) == "fields.contact");
}

TEST_CASE("a template that cannot work is refused naming what is wrong") {
  CHECK(refused_template(R"({"key":"bug","name":"Bug"})") == "accepted");
  CHECK(refused_template(R"({"key":"Bug","name":"Bug"})") == "key");
  CHECK(refused_template(R"({"name":"Bug"})") == "key");
  CHECK(refused_template(R"({"key":"bug","name":""})") == "name");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","colour":"red"})") == "colour");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":{}})") == "fields");
  CHECK(refused_template(
            R"({"key":"bug","name":"Bug","fields":[{"key":"a","label":"A","type":"colour"}]})") ==
        "fields[0].type");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"a","label":"A","type":"text"},)"
                         R"({"key":"a","label":"B","type":"text"}]})") == "fields[1].key");
  CHECK(refused_template(
            R"({"key":"bug","name":"Bug","fields":[{"key":"a","label":"A","type":"select"}]})") ==
        "fields[0].options");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"a","label":"A","type":"select","options":["x","x"]}]})") ==
        "fields[0].options");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"a","label":"A","type":"text","options":["x"]}]})") ==
        "fields[0].options");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"n","label":"N","type":"number","min":5,"max":1}]})") ==
        "fields[0].min");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"d","label":"D","type":"date","min":1}]})") == "fields[0].min");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"t","label":"T","type":"text","max_length":0}]})") ==
        "fields[0].max_length");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"t","label":"T","type":"checkbox","max_length":5}]})") ==
        "fields[0].max_length");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[)"
                         R"({"key":"t","label":"T","type":"text","required":"yes"}]})") ==
        "fields[0].required");
  CHECK(refused_template(R"({"key":"bug","name":"Bug","fields":[{"label":"T","type":"text"}]})") ==
        "fields[0].key");
}

TEST_CASE("a project's templates are set by key - replaced - and removed by admins") {
  const portico::domain::Actor system = portico::domain::system_actor();
  dp::Settings settings;
  settings.name = "Acme";
  auto state = dp::fold(*dp::decide({}, dp::CreateProject{"acme", settings}, {system, 1}));
  auto bug = every_type();
  auto set = dp::decide(state, dp::SetTemplate{bug}, {system, 2});
  REQUIRE(set);
  REQUIRE(set->size() == 1);
  state = dp::fold(*set, state);
  REQUIRE(state.templates.contains("bug"));
  CHECK(state.templates.at("bug").fields.size() == 9);
  // The same again records nothing; a change replaces it.
  CHECK(dp::decide(state, dp::SetTemplate{bug}, {system, 3})->empty());
  bug.name = "Bug report (v2)";
  state = dp::fold(*dp::decide(state, dp::SetTemplate{bug}, {system, 3}), state);
  CHECK(state.templates.at("bug").name == "Bug report (v2)");
  // A team that does not exist, and an invalid template, are refused.
  bug.team = "Developers";
  CHECK(dp::decide(state, dp::SetTemplate{bug}, {system, 4}).error().field == "team");
  state = dp::fold(*dp::decide(state, dp::AddTeam{"Developers"}, {system, 4}), state);
  CHECK(dp::decide(state, dp::SetTemplate{bug}, {system, 5}));
  auto broken = bug;
  broken.key = "";
  CHECK(dp::decide(state, dp::SetTemplate{broken}, {system, 5}).error().field == "key");
  // Only admins.
  const portico::domain::Actor customer{portico::domain::Realm::customer, "c-ann"};
  CHECK(dp::decide(state, dp::SetTemplate{bug}, {customer, 6}).error().code == errc::kForbidden);
  // Removed by key; an unknown key is not_found.
  state = dp::fold(*dp::decide(state, dp::RemoveTemplate{"bug"}, {system, 7}), state);
  CHECK(state.templates.empty());
  CHECK(dp::decide(state, dp::RemoveTemplate{"bug"}, {system, 8}).error().code == errc::kNotFound);
}
