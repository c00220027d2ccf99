// The authorisation matrix over HTTP: every ticket route × every kind of caller, each cell with
// the status (and error code) it must answer. Refusals write nothing to the log; a 404 for a
// ticket the caller may not see is byte for byte the 404 for one that does not exist.
#include <doctest/doctest.h>

#include <array>
#include <functional>
#include <optional>

#include "api_fixture.hpp"

using namespace portico::test;

namespace {

// The columns of the matrix.
enum class Caller {
  anonymous,    // no credentials
  stranger,     // Cat: a customer with a ticket of her own, not this one
  creator,      // Ann
  participant,  // Pat: joined through an invite link
  removed,      // Rex: joined through the link, then removed by the creator
  org_hidden,   // Bob: Ann's organisation (globex.test), organisation visibility off
  org_member,   // Bob: organisation visibility on
  staff,        // Agnes: staff of acme
  other_staff,  // Otto: staff of other
};
constexpr std::size_t kCallers = 9;

constexpr std::array<const char*, kCallers> kCallerNames = {
    "anonymous",
    "Cat - a customer of another ticket",
    "Ann - the creator",
    "Pat - a participant by invite",
    "Rex - a removed participant",
    "Bob - same organisation - visibility off",
    "Bob - same organisation - visibility on",
    "Agnes - staff of acme",
    "Otto - staff of other"};

// What one cell answers, and what it does to the log.
struct Expect {
  enum class Effect {
    none,    // writes nothing
    writes,  // appends to the log (run on a fresh ticket)
    shows,   // 200, writes nothing, and the answer shows the ticket (the row's `shows`)
    hides,   // 200, writes nothing, and the answer does not show it
  };
  unsigned status;
  std::string_view code;  // the error code of a refusal
  Effect effect = Effect::none;
};

constexpr Expect k401{401, "unauthenticated"};
constexpr Expect k404{404, "not_found"};
constexpr Expect shown{200, "", Expect::Effect::shows};
constexpr Expect hidden{200, "", Expect::Effect::hides};
constexpr Expect acts(unsigned status) { return {status, "", Expect::Effect::writes}; }
constexpr Expect no(unsigned status, std::string_view code) { return {status, code}; }

// A ticket of Ann's on acme: Pat joined through the invite link, Rex joined and was removed.
struct Ticket {
  std::uint64_t n = 0;
  std::string msg;     // Ann's opening message
  std::string invite;  // the link Pat and Rex joined by
  std::string note;    // an internal staff note, when the row's setup posted one
};

struct World;
using Setup = std::function<void(World&, Ticket&)>;
using Shows = std::function<bool(const Ticket&, const boost::json::value&)>;

// One route of the matrix. The path may hold {n}, {msg}, {note}, {invite} and {pat} (Pat's id).
struct Row {
  verb method;
  std::string path;
  std::string body;
  std::array<Expect, kCallers> expect;
  Setup setup = {};  // after Pat and Rex joined, before Rex is removed
  Shows shows = {};  // for shown/hidden cells: does the answer show the ticket?
  // The same request about something that does not exist (default: ticket 999999): a 404 cell
  // must answer exactly as this does.
  std::string ghost = {};
};

struct World {
  Api api;
  Api::Session ann, bob, cat, pat, rex, agnes, otto;
  bool org_visible = false;

  explicit World(std::function<void(phttp::AppOptions&)> tweak = {})
      : api(std::move(tweak)),
        ann(api.customer("ann@globex.test")),
        bob(api.customer("bob@globex.test")),
        cat(api.customer("cat@initech.test")),
        pat(api.customer("pat@example.test")),
        rex(api.customer("rex@example.test")),
        agnes(api.staff_login("agnes@acme.test")),
        otto(api.staff_login("otto@other.test")) {
    api.open(cat, "Cat's own");
  }

  void visibility(bool on) {
    if (on == org_visible) return;
    auto settings = Desk::default_settings();
    settings.policies.organization_visibility = on;
    REQUIRE(api.desk.portal->configure_project("acme", settings, Desk::system()));
    org_visible = on;
  }

  const Api::Session* session(Caller who) const {
    switch (who) {
      case Caller::anonymous:
        return nullptr;
      case Caller::stranger:
        return &cat;
      case Caller::creator:
        return &ann;
      case Caller::participant:
        return &pat;
      case Caller::removed:
        return &rex;
      case Caller::org_hidden:
      case Caller::org_member:
        return &bob;
      case Caller::staff:
        return &agnes;
      case Caller::other_staff:
        return &otto;
    }
    return nullptr;
  }

  hc::Response call(Caller who, verb method, const std::string& target,
                    const std::string& body = {}) {
    const Api::Session* s = session(who);
    return s ? api.call(method, target, *s, body) : api.call(method, target, body);
  }

  // A setup step that must succeed.
  boost::json::value must(verb method, const std::string& target, const Api::Session& as,
                          unsigned status, const std::string& body = {}) {
    auto r = api.call(method, target, as, body);
    REQUIRE_MESSAGE(r.result_int() == status, target << ": " << r.body());
    return r.body().empty() ? boost::json::value() : hc::json(r);
  }

  static std::string base(const Ticket& t) {
    return "/api/v1/projects/acme/tickets/" + std::to_string(t.n);
  }

  Ticket ticket(const Setup& setup) {
    Ticket t;
    auto opened = must(verb::post, "/api/v1/projects/acme/tickets", ann, 201,
                       R"({"subject":"Matrix","message":"It broke"})");
    t.n = opened.at("number").to_number<std::uint64_t>();
    t.msg = opened.at("messages").at(0).at("id").as_string();
    auto invite = must(verb::post, base(t) + "/invites", ann, 201);
    t.invite = invite.at("id").as_string();
    const std::string token(invite.at("token").as_string());
    must(verb::post, "/api/v1/invites/" + token + "/join", pat, 200);
    must(verb::post, "/api/v1/invites/" + token + "/join", rex, 200);
    if (setup) setup(*this, t);
    must(verb::delete_, base(t) + "/participants/" + rex.id, ann, 204);
    return t;
  }

  std::string fill(std::string path, const Ticket& t) const {
    auto put = [&](std::string_view name, const std::string& value) {
      for (auto at = path.find(name); at != std::string::npos; at = path.find(name, at)) {
        path.replace(at, name.size(), value);
        at += value.size();
      }
    };
    put("{n}", std::to_string(t.n));
    put("{msg}", t.msg);
    put("{note}", t.note);
    put("{invite}", t.invite);
    put("{pat}", pat.id);
    return path;
  }

  // Runs every cell of `row`, a fresh ticket for each cell that writes, one shared ticket for
  // the others (they write nothing, which each cell checks).
  void run(const Row& row) {
    const std::string route =
        std::string(boost::beast::http::to_string(row.method)) + " " + row.path;
    std::optional<Ticket> shared;
    for (std::size_t i = 0; i < kCallers; ++i) {
      const auto who = static_cast<Caller>(i);
      const Expect& e = row.expect[i];
      const std::string caller = kCallerNames[i];
      CAPTURE(route);
      CAPTURE(caller);
      visibility(who == Caller::org_member);
      Ticket t;
      if (e.effect == Expect::Effect::writes) {
        t = ticket(row.setup);
      } else {
        if (!shared) shared = ticket(row.setup);
        t = *shared;
      }
      const std::string target = fill(row.path, t);
      CAPTURE(target);
      const auto before = api.head();
      auto r = call(who, row.method, target, row.body);
      CAPTURE(r.body());
      CHECK(r.result_int() == e.status);
      if (!e.code.empty()) CHECK(code_of(r) == e.code);
      if (e.effect == Expect::Effect::writes) {
        CHECK(api.head() > before);
      } else {
        CHECK(api.head() == before);
      }
      if (e.effect == Expect::Effect::shows || e.effect == Expect::Effect::hides) {
        REQUIRE(row.shows);
        if (r.result_int() == 200) {
          CHECK(row.shows(t, hc::json(r)) == (e.effect == Expect::Effect::shows));
        }
      }
      if (e.status == 404) {
        // Never reveal existence: the same answer as for something that is not there.
        Ticket none = t;
        none.n = 999999;
        const std::string ghost = row.ghost.empty() ? fill(row.path, none) : fill(row.ghost, t);
        CAPTURE(ghost);
        auto g = call(who, row.method, ghost, row.body);
        CHECK(g.result_int() == 404);
        CHECK(g.body() == r.body());
        CHECK(api.head() == before);
      }
    }
    visibility(false);
  }
};

// Setup steps.
void resolve(World& w, Ticket& t) {
  w.must(verb::post, "/api/v1/staff/projects/acme/tickets/" + std::to_string(t.n) + "/status",
         w.agnes, 200, R"({"status":"resolved"})");
}
void schedule_closure(World& w, Ticket& t) {
  w.must(verb::post,
         "/api/v1/staff/projects/acme/tickets/" + std::to_string(t.n) + "/scheduled-closure",
         w.agnes, 200, R"({"at":"2099-01-01T00:00:00Z"})");
}
void internal_note(World& w, Ticket& t) {
  auto posted =
      w.must(verb::post, "/api/v1/staff/projects/acme/tickets/" + std::to_string(t.n) + "/messages",
             w.agnes, 201, R"({"body":"Customer is on the old plan","internal":true})");
  t.note = posted.at("id").as_string();
}
// Ann, Pat, Rex (still a participant) and Bob (while his organisation may see it) each do `what`.
void everyone(World& w, Ticket& t, verb method, const std::string& path) {
  const std::string target = w.fill(path, t);
  for (const auto* s : {&w.ann, &w.pat, &w.rex}) w.must(method, target, *s, 204);
  const bool was = w.org_visible;
  w.visibility(true);
  w.must(method, target, w.bob, 204);
  w.visibility(was);
}

bool has_number(const boost::json::value& list, const Ticket& t) {
  for (const auto& item : list.as_array()) {
    if (item.at("number").to_number<std::uint64_t>() == t.n) return true;
  }
  return false;
}
bool has_message(const boost::json::value& ticket, const std::string& id) {
  for (const auto& m : ticket.at("messages").as_array()) {
    if (m.at("id").as_string() == id) return true;
  }
  return false;
}

constexpr const char* kTicket = "/api/v1/projects/acme/tickets/{n}";
constexpr const char* kStaffTicket = "/api/v1/staff/projects/acme/tickets/{n}";
constexpr const char* kThumbsUp = "%F0%9F%91%8D";  // 👍, URL-encoded

std::string p(const char* base, std::string_view rest = {}) { return base + std::string(rest); }

// Every customer route on a ticket. Columns: anonymous, Cat (another ticket's customer), Ann
// (creator), Pat (participant), Rex (removed), Bob (organisation, visibility off), Bob
// (visibility on), Agnes (staff of acme, on a customer route), Otto (staff of other, on a
// customer route).
std::vector<Row> customer_rows() {
  const std::string react = p(kTicket, "/messages/{msg}/reactions/") + kThumbsUp;
  return {
      {.method = verb::get,
       .path = kTicket,
       .expect = {k401, k404, shown, shown, k404, k404, shown, k401, k401},
       .setup = internal_note,
       .shows =
           [](const Ticket& t, const boost::json::value& v) {
             // Customers never see internal notes.
             return v.at("number").to_number<std::uint64_t>() == t.n && has_message(v, t.msg) &&
                    !has_message(v, t.note);
           }},
      {.method = verb::post,
       .path = p(kTicket, "/messages"),
       .body = R"({"body":"Any news?"})",
       .expect = {k401, k404, acts(201), acts(201), k404, k404, no(403, "forbidden"), k401, k401}},
      {.method = verb::patch,
       .path = p(kTicket, "/messages/{msg}"),
       .body = R"({"body":"It broke badly"})",
       .expect = {k401, k404, acts(200), no(403, "not_author"), k404, k404, no(403, "not_author"),
                  k401, k401}},
      {.method = verb::delete_,
       .path = p(kTicket, "/messages/{msg}"),
       .expect = {k401, k404, acts(204), no(403, "not_author"), k404, k404, no(403, "not_author"),
                  k401, k401}},
      {.method = verb::put,
       .path = react,
       .expect = {k401, k404, acts(204), acts(204), k404, k404, acts(204), k401, k401}},
      {.method = verb::delete_,
       .path = react,
       .expect = {k401, k404, acts(204), acts(204), k404, k404, acts(204), k401, k401},
       .setup = [react](World& world, Ticket& t) { everyone(world, t, verb::put, react); }},
      // A staff member's internal note is no message at all to customers.
      {.method = verb::put,
       .path = p(kTicket, "/messages/{note}/reactions/") + kThumbsUp,
       .expect = {k401, k404, k404, k404, k404, k404, k404, k401, k401},
       .setup = internal_note,
       .ghost = p(kTicket, "/messages/no-such-message/reactions/") + kThumbsUp},
      {.method = verb::put,
       .path = p(kTicket, "/favorite"),
       .expect = {k401, k404, acts(204), acts(204), k404, k404, acts(204), k401, k401}},
      {.method = verb::delete_,
       .path = p(kTicket, "/favorite"),
       .expect = {k401, k404, acts(204), acts(204), k404, k404, acts(204), k401, k401},
       .setup = [](World& world,
                   Ticket& t) { everyone(world, t, verb::put, p(kTicket, "/favorite")); }},
      {.method = verb::post,
       .path = p(kTicket, "/closure-request"),
       .expect = {k401, k404, acts(200), acts(200), k404, k404, no(403, "forbidden"), k401, k401}},
      {.method = verb::post,
       .path = p(kTicket, "/close"),
       .expect = {k401, k404, acts(200), acts(200), k404, k404, no(403, "forbidden"), k401, k401},
       .setup = resolve},
      {.method = verb::post,
       .path = p(kTicket, "/survey"),
       .body = R"({"rating":5,"comment":"Thanks"})",
       .expect = {k401, k404, acts(201), no(403, "not_creator"), k404, k404, no(403, "not_creator"),
                  k401, k401},
       .setup = resolve},
      {.method = verb::post,
       .path = p(kTicket, "/invites"),
       .expect = {k401, k404, acts(201), acts(201), k404, k404, no(403, "forbidden"), k401, k401}},
      {.method = verb::delete_,
       .path = p(kTicket, "/invites/{invite}"),
       .expect = {k401, k404, acts(204), no(403, "not_creator"), k404, k404, no(403, "not_creator"),
                  k401, k401}},
      {.method = verb::delete_,
       .path = p(kTicket, "/participants/{pat}"),
       .expect = {k401, k404, acts(204), no(403, "not_creator"), k404, k404, no(403, "not_creator"),
                  k401, k401}},
      {.method = verb::post,
       .path = p(kTicket, "/leave"),
       .expect = {k401, k404, no(409, "creator_cannot_leave"), acts(204), k404, k404,
                  no(403, "forbidden"), k401, k401}},
  };
}

// The customer's lists, with the columns of customer_rows().
std::vector<Row> list_rows() {
  auto in_items = [](const Ticket& t, const boost::json::value& v) {
    return has_number(v.at("items"), t);
  };
  return {
      {.method = verb::get,
       .path = "/api/v1/projects/acme/tickets?q={n}&limit=100",
       .expect = {k401, hidden, shown, shown, hidden, hidden, shown, k401, k401},
       .shows = in_items},
      {.method = verb::get,
       .path = "/api/v1/projects/acme/tickets/overview",
       .expect = {k401, hidden, shown, shown, hidden, hidden, shown, k401, k401},
       .shows = [](const Ticket& t,
                   const boost::json::value& v) { return has_number(v.at("recent"), t); }},
      // Rex's favorite went when he was removed; Bob's stays but is hidden while his
      // organisation may not see the ticket.
      {.method = verb::get,
       .path = "/api/v1/projects/acme/favorites?limit=100",
       .expect = {k401, hidden, shown, shown, hidden, hidden, shown, k401, k401},
       .setup = [](World& world,
                   Ticket& t) { everyone(world, t, verb::put, p(kTicket, "/favorite")); },
       .shows = in_items},
  };
}

}  // namespace

TEST_CASE("authz matrix: customer ticket routes x every caller") {
  World w;
  for (const Row& row : customer_rows()) w.run(row);
}

TEST_CASE("authz matrix: customer lists show only tickets the caller may read") {
  World w;
  for (const Row& row : list_rows()) w.run(row);
}

TEST_CASE("authz matrix: staff ticket routes x every caller") {
  World w;
  // Columns as in the customer routes' matrix: every customer token is worthless here.
  const std::vector<Row> rows = {
      {.method = verb::get,
       .path = "/api/v1/staff/projects/acme/tickets?limit=100",
       .expect = {k401, k401, k401, k401, k401, k401, k401, shown, k404},
       .shows = [](const Ticket& t,
                   const boost::json::value& v) { return has_number(v.at("items"), t); },
       .ghost = "/api/v1/staff/projects/nope/tickets?limit=100"},
      {.method = verb::get,
       .path = kStaffTicket,
       .expect = {k401, k401, k401, k401, k401, k401, k401, shown, k404},
       .setup = internal_note,
       .shows = [](const Ticket& t,
                   const boost::json::value& v) { return has_message(v, t.note); }},
      {.method = verb::post,
       .path = p(kStaffTicket, "/messages"),
       .body = R"({"body":"We are on it","internal":false})",
       .expect = {k401, k401, k401, k401, k401, k401, k401, acts(201), k404}},
      {.method = verb::post,
       .path = p(kStaffTicket, "/status"),
       .body = R"({"status":"in_progress"})",
       .expect = {k401, k401, k401, k401, k401, k401, k401, acts(200), k404}},
      {.method = verb::post,
       .path = p(kStaffTicket, "/scheduled-closure"),
       .body = R"({"at":"2099-01-01T00:00:00Z"})",
       .expect = {k401, k401, k401, k401, k401, k401, k401, acts(200), k404}},
      {.method = verb::delete_,
       .path = p(kStaffTicket, "/scheduled-closure"),
       .expect = {k401, k401, k401, k401, k401, k401, k401, acts(200), k404},
       .setup = schedule_closure},
      {.method = verb::patch,
       .path = kStaffTicket,
       .body = R"({"priority":"high","team":"billing"})",
       .expect = {k401, k401, k401, k401, k401, k401, k401, acts(200), k404}},
  };
  for (const Row& row : rows) w.run(row);
}

TEST_CASE("authz: organisation visibility follows the organisations the project has now") {
  World w;
  const Ticket t = w.ticket({});
  const std::string ticket = w.fill(kTicket, t);
  const std::string ghost = "/api/v1/projects/acme/tickets/999999";
  const std::string react = ticket + "/messages/" + t.msg + "/reactions/" + kThumbsUp;
  const std::string list = "/api/v1/projects/acme/tickets?q=" + std::to_string(t.n);
  struct Case {
    std::string change;
    std::vector<portico::domain::project::Organization> organizations;
    Caller who;
    bool reads;
  };
  const std::vector<Case> cases = {
      // Ann's organisation renamed after she opened the ticket: Bob still shares it.
      {"renamed", {{"Globex Corp", {"globex.test"}}}, Caller::org_member, true},
      {"renamed", {{"Globex Corp", {"globex.test"}}}, Caller::stranger, false},
      // The name now belongs to Cat's company and Ann's domain to no organisation: the name
      // recorded when the ticket was opened shows it to nobody.
      {"name given to another domain", {{"Globex", {"initech.test"}}}, Caller::stranger, false},
      {"name given to another domain", {{"Globex", {"initech.test"}}}, Caller::org_member, false},
  };
  for (const Case& c : cases) {
    const std::string caller = kCallerNames[static_cast<std::size_t>(c.who)];
    CAPTURE(c.change);
    CAPTURE(caller);
    auto settings = Desk::default_settings();
    settings.policies.organization_visibility = true;
    settings.organizations = c.organizations;
    REQUIRE(w.api.desk.portal->configure_project("acme", settings, Desk::system()));
    const auto before = w.api.head();
    auto listed = w.call(c.who, verb::get, list);
    REQUIRE(listed.result_int() == 200);
    CHECK(has_number(hc::json(listed).at("items"), t) == c.reads);
    auto got = w.call(c.who, verb::get, ticket);
    if (c.reads) {
      CHECK(got.result_int() == 200);
      CHECK(code_of(w.call(c.who, verb::put, react)) == "204");
    } else {
      CHECK(got.result_int() == 404);
      CHECK(got.body() == w.call(c.who, verb::get, ghost).body());
      CHECK(code_of(w.call(c.who, verb::put, react)) == "not_found");
      CHECK(w.api.head() == before);
    }
  }
}

TEST_CASE("authz: a creator who left the project gets 404 on every route of her ticket") {
  World w([](phttp::AppOptions& o) { o.limits.mails = {1e9, 1e9}; });  // she signs in again often
  std::vector<Row> rows = customer_rows();
  const std::size_t ticket_routes = rows.size();
  for (Row& row : list_rows()) rows.push_back(std::move(row));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    const std::string route =
        std::string(boost::beast::http::to_string(row.method)) + " " + row.path;
    CAPTURE(route);
    const Ticket t = w.ticket(row.setup);
    w.must(verb::delete_, "/api/v1/projects/acme/membership", w.ann, 204);
    const auto before = w.api.head();
    auto r = w.call(Caller::creator, row.method, w.fill(row.path, t), row.body);
    CAPTURE(r.body());
    if (i < ticket_routes) {
      CHECK(r.result_int() == 404);
      Ticket none = t;
      none.n = 999999;
      const std::string ghost = row.ghost.empty() ? w.fill(row.path, none) : w.fill(row.ghost, t);
      CHECK(w.call(Caller::creator, row.method, ghost, row.body).body() == r.body());
    } else {  // a list: answered, without the ticket
      REQUIRE(r.result_int() == 200);
      CHECK_FALSE(row.shows(t, hc::json(r)));
    }
    CHECK(w.api.head() == before);
    // Signing in there again makes her a member again, and the ticket hers again.
    w.ann = w.api.customer("ann@globex.test");
    CHECK(w.call(Caller::creator, verb::get, w.fill(kTicket, t)).result_int() == 200);
  }
}
