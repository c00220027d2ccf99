// The persisted schema, pinned. For every event of every aggregate: one fixed value, the type
// name and schema version its records are stored with, and its payload as stored, byte for byte.
// The literals below are what existing logs hold (taken from the program before the names moved
// into the event structs): a renamed or swapped type, a changed version or a changed field fails
// here. A new event fails until it has its row. A row changes only with a new schema version and
// an upcaster for the old one (docs/events.md, "Changing an event").
#include <doctest/doctest.h>

#include <boost/describe/members.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cstdint>
#include <optional>
#include <portico/domain/account.hpp>
#include <portico/domain/customer.hpp>
#include <portico/domain/inbox.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/ticket.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
namespace dp = portico::domain::project;
namespace dc = portico::domain::customer;
namespace da = portico::domain::account;
namespace di = portico::domain::inbox;
namespace dtotp = portico::domain::totp;
namespace dtpl = portico::domain::templates;

constexpr dom::TimeUs kAt = 1'795'000'000'000'000;  // 2026-11-18

dp::Settings plain_settings() {
  dp::Settings s;
  s.name = "Acme Support";
  return s;
}

dp::Settings rich_settings() {
  dp::Settings s = plain_settings();
  s.policies.customer_reply = dom::CustomerReplyPolicy::reopen;
  s.organizations = {{"Globex", {"globex.test"}}};
  s.working_hours = {{0, 540, 1020}};
  s.holidays = {"2026-12-25"};
  s.hosts = {"help.acme.test"};
  return s;
}

template <class Event>
struct Golden {
  Event sample;
  std::string_view type;     // the record's type
  std::uint32_t version;     // the record's schema version
  std::string_view payload;  // serialize(to_payload(sample))
};

// An aggregate's public codec functions, so that one check serves them all.
#define PORTICO_TEST_CODEC(Name, ns)                            \
  struct Name {                                                 \
    using Event = ns::Event;                                    \
    static constexpr auto type_name = &ns::type_name;           \
    static constexpr auto schema_version = &ns::schema_version; \
    static constexpr auto is_event_type = &ns::is_event_type;   \
    static constexpr auto to_payload = &ns::to_payload;         \
    static constexpr auto from_payload = &ns::from_payload;     \
  };
PORTICO_TEST_CODEC(TicketCodec, dt)
PORTICO_TEST_CODEC(ProjectCodec, dp)
PORTICO_TEST_CODEC(CustomerCodec, dc)
PORTICO_TEST_CODEC(AccountCodec, da)
PORTICO_TEST_CODEC(InboxCodec, di)
#undef PORTICO_TEST_CODEC

// Events have no operator==: two values of one event are equal when every described member is.
template <class T>
struct MembersEqual {
  const T& a;
  const T& b;
  bool& equal;
  template <class Member>
  void operator()(Member member) const {
    if (!(a.*member.pointer == b.*member.pointer)) equal = false;
  }
};

template <class Event>
struct SameEvent {
  const Event& other;
  template <class T>
  bool operator()(const T& e) const {
    const T* o = std::get_if<T>(&other);
    if (o == nullptr) return false;
    bool equal = true;
    using Members = boost::describe::describe_members<T, boost::describe::mod_public>;
    boost::mp11::mp_for_each<Members>(MembersEqual<T>{e, *o, equal});
    return equal;
  }
};

// Each alternative's kType, in the variant's order: what the program will store.
template <class Variant, std::size_t... I>
std::vector<std::string> declared_types(std::index_sequence<I...>) {
  return {std::string(std::variant_alternative_t<I, Variant>::kType)...};
}
template <class Variant>
std::vector<std::string> declared_types() {
  return declared_types<Variant>(std::make_index_sequence<std::variant_size_v<Variant>>());
}
template <class Variant>
std::string declared() {
  std::string out;
  for (const std::string& type : declared_types<Variant>()) out += type + " ";
  return out;
}

// The types of the rows, in their order, as one string (so that a failure prints them).
template <class Event>
std::string types_of(const std::vector<Golden<Event>>& goldens) {
  std::string out;
  for (const auto& g : goldens) out += std::string(g.type) + " ";
  return out;
}

template <class Codec>
void check_goldens(const std::vector<Golden<typename Codec::Event>>& goldens) {
  using Event = typename Codec::Event;
  // One row per event, in the variant's order: an event added without a row fails here.
  CHECK(declared<Event>() == types_of(goldens));
  REQUIRE(goldens.size() == std::variant_size_v<Event>);

  for (std::size_t i = 0; i < goldens.size(); ++i) {
    const Golden<Event>& g = goldens[i];
    INFO("row " << i << ": " << std::string(g.type));
    CHECK(g.sample.index() == i);
    // Written as...
    CHECK(std::string(Codec::type_name(g.sample)) == std::string(g.type));
    CHECK(Codec::schema_version(g.sample) == g.version);
    CHECK(boost::json::serialize(Codec::to_payload(g.sample)) == std::string(g.payload));
    // ...and read back from what is stored.
    CHECK(Codec::is_event_type(g.type));
    const boost::json::value stored = boost::json::parse(g.payload);
    REQUIRE(stored.is_object());
    const auto back = Codec::from_payload(g.type, stored.as_object());
    CHECK_MESSAGE(back.has_value(), (back ? std::string() : back.error().message));
    if (back) {
      CHECK(std::visit(SameEvent<Event>{*back}, g.sample));
    }
  }
  CHECK_FALSE(Codec::is_event_type(""));
  CHECK_FALSE(Codec::is_event_type("Nonsense"));
  CHECK_FALSE(Codec::from_payload("Nonsense", {}).has_value());
}

// ---- The rows ----

std::vector<Golden<dt::Event>> ticket_goldens() {
  return {
      {dt::TicketOpened{kAt,
                        "acme",
                        7,
                        "c-ann",
                        "Globex",
                        "The printer is on fire",
                        "m-1",
                        "It smokes. @bob",
                        "high",
                        "Hardware",
                        "p-9",
                        std::nullopt,
                        {{"model", "X-200"}, {"floor", 3}},
                        {"c-bob"}},
       "TicketOpened", 1,
       R"({"at":1795000000000000,"project":"acme","number":7,"creator":"c-ann",)"
       R"("organization":"Globex","subject":"The printer is on fire","message_id":"m-1",)"
       R"("body":"It smokes. @bob","priority":"high","team":"Hardware","purchase_id":"p-9",)"
       R"("template_name":null,"fields":{"model":"X-200","floor":3},"mentions":["c-bob"]})"},
      {dt::MessagePosted{kAt, "m-2", {dom::Realm::staff, "s-agnes"}, "Unplug it.", true, {}},
       "MessagePosted", 1,
       R"({"at":1795000000000000,"message_id":"m-2","author":{"realm":"staff",)"
       R"("id":"s-agnes"},"body":"Unplug it.","internal":true,"mentions":[]})"},
      {dt::MessageEdited{kAt, "m-2", "Unplug it now."}, "MessageEdited", 1,
       R"({"at":1795000000000000,"message_id":"m-2","body":"Unplug it now."})"},
      {dt::MessageDeleted{kAt, "m-2"}, "MessageDeleted", 1,
       R"({"at":1795000000000000,"message_id":"m-2"})"},
      {dt::ReactionAdded{kAt, "m-1", "🎉", {dom::Realm::customer, "c-bob"}}, "ReactionAdded", 1,
       R"({"at":1795000000000000,"message_id":"m-1","emoji":"🎉",)"
       R"("by":{"realm":"customer","id":"c-bob"}})"},
      {dt::ReactionRemoved{kAt, "m-1", "🎉", {dom::Realm::customer, "c-bob"}}, "ReactionRemoved", 1,
       R"({"at":1795000000000000,"message_id":"m-1","emoji":"🎉",)"
       R"("by":{"realm":"customer","id":"c-bob"}})"},
      {dt::StatusChanged{
           kAt, dom::Status::open, dom::Status::in_progress, {dom::Realm::staff, "s-agnes"}},
       "StatusChanged", 1,
       R"({"at":1795000000000000,"from":"open","to":"in_progress","by":{"realm":"staff",)"
       R"("id":"s-agnes"}})"},
      {dt::ClosureRequested{kAt, dom::Status::awaiting_customer, "c-ann"}, "ClosureRequested", 1,
       R"({"at":1795000000000000,"from":"awaiting_customer","by":"c-ann"})"},
      {dt::ClosureScheduled{
           kAt, kAt + dom::kDay, dom::Status::resolved, {dom::Realm::staff, "s-agnes"}},
       "ClosureScheduled", 1,
       R"({"at":1795000000000000,"closes_at":1795086400000000,"previous":"resolved",)"
       R"("by":{"realm":"staff","id":"s-agnes"}})"},
      {dt::ClosureCancelled{kAt, dom::Status::resolved, {dom::Realm::staff, "s-agnes"}},
       "ClosureCancelled", 1,
       R"({"at":1795000000000000,"restored":"resolved","by":{"realm":"staff",)"
       R"("id":"s-agnes"}})"},
      {dt::TicketClosed{kAt, dom::Status::pending_closure, dom::system_actor(),
                        "pending_closure_timeout"},
       "TicketClosed", 1,
       R"({"at":1795000000000000,"from":"pending_closure","by":{"realm":"system","id":""},)"
       R"("reason":"pending_closure_timeout"})"},
      {dt::SurveyOffered{kAt, "v-1", "c-ann", kAt + 7 * dom::kDay}, "SurveyOffered", 1,
       R"({"at":1795000000000000,"survey_id":"v-1","customer":"c-ann",)"
       R"("expires_at":1795604800000000})"},
      {dt::SurveyAnswered{kAt, "v-1", 4, "Good", std::nullopt}, "SurveyAnswered", 1,
       R"({"at":1795000000000000,"survey_id":"v-1","rating":4,"option":"Good",)"
       R"("comment":null})"},
      {dt::SurveyWithdrawn{kAt, "v-1"}, "SurveyWithdrawn", 1,
       R"({"at":1795000000000000,"survey_id":"v-1"})"},
      {dt::SurveyExpired{kAt, "v-1"}, "SurveyExpired", 1,
       R"({"at":1795000000000000,"survey_id":"v-1"})"},
      {dt::FavoriteAdded{kAt, "c-ann"}, "FavoriteAdded", 1,
       R"({"at":1795000000000000,"customer":"c-ann"})"},
      {dt::FavoriteRemoved{kAt, "c-ann", "resolved"}, "FavoriteRemoved", 1,
       R"({"at":1795000000000000,"customer":"c-ann","reason":"resolved"})"},
      {dt::InviteCreated{kAt, "i-1", "9f86d081884c7d65", "c-ann"}, "InviteCreated", 1,
       R"({"at":1795000000000000,"invite_id":"i-1","token_hash":"9f86d081884c7d65",)"
       R"("by":"c-ann"})"},
      {dt::InviteRevoked{kAt, "i-1", "c-ann"}, "InviteRevoked", 1,
       R"({"at":1795000000000000,"invite_id":"i-1","by":"c-ann"})"},
      {dt::ParticipantJoined{kAt, "c-bob", "i-1"}, "ParticipantJoined", 1,
       R"({"at":1795000000000000,"customer":"c-bob","invite_id":"i-1"})"},
      {dt::ParticipantLeft{kAt, "c-bob"}, "ParticipantLeft", 1,
       R"({"at":1795000000000000,"customer":"c-bob"})"},
      {dt::ParticipantRemoved{kAt, "c-bob", "c-ann"}, "ParticipantRemoved", 1,
       R"({"at":1795000000000000,"customer":"c-bob","by":"c-ann"})"},
      {dt::TicketUpdated{kAt, "urgent", std::nullopt, {dom::Realm::staff, "s-agnes"}},
       "TicketUpdated", 1,
       R"({"at":1795000000000000,"priority":"urgent","team":null,"by":{"realm":"staff",)"
       R"("id":"s-agnes"}})"},
      {dt::TicketReopened{
           kAt, dom::Status::closed, dom::Status::open, {dom::Realm::customer, "c-ann"}},
       "TicketReopened", 1,
       R"({"at":1795000000000000,"from":"closed","to":"open","by":{"realm":"customer",)"
       R"("id":"c-ann"}})"},
  };
}

std::vector<Golden<dp::Event>> project_goldens() {
  return {
      {dp::ProjectCreated{kAt, "acme", plain_settings()}, "ProjectCreated", 1,
       R"({"at":1795000000000000,"slug":"acme","settings":{"name":"Acme Support",)"
       R"("policies":{"customer_reply":"keep_status","closed_tickets":"closed_is_final",)"
       R"("pending_closure_timeout":172800000000,"resolved_timeout":1209600000000,)"
       R"("survey_expiry":604800000000,"surveys":true,"survey_options":["Excellent","Good",)"
       R"("Fair","Poor"],"organization_visibility":false,"max_subject":200,)"
       R"("max_message":10000},"sign_in":["magic_link","password"],"allowed_domains":[],)"
       R"("organizations":[],"theme":{"logo_url":"","primary_color":"#1f6feb",)"
       R"("accent_color":"#8250df"},"languages":["en"],"customer_priority":false,)"
       R"("staff_totp":"optional","kb":"public","time_zone":"UTC","working_hours":[],)"
       R"("holidays":[],"max_attachments":5,"max_attachment_bytes":10485760,"hosts":[]}})"},
      {dp::ProjectConfigured{kAt, rich_settings(), {dom::Realm::staff, "s-agnes"}},
       "ProjectConfigured", 1,
       R"({"at":1795000000000000,"settings":{"name":"Acme Support",)"
       R"("policies":{"customer_reply":"reopen","closed_tickets":"closed_is_final",)"
       R"("pending_closure_timeout":172800000000,"resolved_timeout":1209600000000,)"
       R"("survey_expiry":604800000000,"surveys":true,"survey_options":["Excellent","Good",)"
       R"("Fair","Poor"],"organization_visibility":false,"max_subject":200,)"
       R"("max_message":10000},"sign_in":["magic_link","password"],"allowed_domains":[],)"
       R"("organizations":[{"name":"Globex","domains":["globex.test"]}],)"
       R"("theme":{"logo_url":"","primary_color":"#1f6feb","accent_color":"#8250df"},)"
       R"("languages":["en"],"customer_priority":false,"staff_totp":"optional",)"
       R"("kb":"public","time_zone":"UTC","working_hours":[{"day":0,"from":540,"to":1020}],)"
       R"("holidays":["2026-12-25"],"max_attachments":5,"max_attachment_bytes":10485760,)"
       R"("hosts":["help.acme.test"]},"by":{"realm":"staff","id":"s-agnes"}})"},
      {dp::StaffAdded{kAt, "s-agnes", "agnes@acme.test", "Agnes", "admin"}, "StaffAdded", 1,
       R"({"at":1795000000000000,"staff_id":"s-agnes","email":"agnes@acme.test",)"
       R"("display_name":"Agnes","role":"admin"})"},
      {dp::StaffRemoved{kAt, "s-bob"}, "StaffRemoved", 1,
       R"({"at":1795000000000000,"staff_id":"s-bob"})"},
      {dp::TeamAdded{kAt, "Hardware"}, "TeamAdded", 1,
       R"({"at":1795000000000000,"team":"Hardware"})"},
      {dp::TeamRemoved{kAt, "Hardware"}, "TeamRemoved", 1,
       R"({"at":1795000000000000,"team":"Hardware"})"},
      {dp::TeamMemberAdded{kAt, "Hardware", "s-agnes"}, "TeamMemberAdded", 1,
       R"({"at":1795000000000000,"team":"Hardware","staff_id":"s-agnes"})"},
      {dp::TeamMemberRemoved{kAt, "Hardware", "s-agnes"}, "TeamMemberRemoved", 1,
       R"({"at":1795000000000000,"team":"Hardware","staff_id":"s-agnes"})"},
      {dp::HostClaimed{kAt, "help.acme.test", "acme"}, "HostClaimed", 1,
       R"({"at":1795000000000000,"host":"help.acme.test","project":"acme"})"},
      {dp::HostReleased{kAt, "help.acme.test"}, "HostReleased", 1,
       R"({"at":1795000000000000,"host":"help.acme.test"})"},
      {dp::TemplateSet{
           kAt,
           {"bug",
            "Bug report",
            "",
            "",
            {{"version", "Version", dtpl::FieldType::text, true, "", {}, {}, {}, 200},
             {"players", "Players", dtpl::FieldType::number, false, "", {}, 1.0, 64.0, {}}}}},
       "TemplateSet", 1,
       R"({"at":1795000000000000,"definition":{"key":"bug","name":"Bug report",)"
       R"("description":"","team":"","fields":[{"key":"version","label":"Version","type":"text",)"
       R"("required":true,"help":"","options":[],"min":null,"max":null,"max_length":200},)"
       R"({"key":"players","label":"Players","type":"number","required":false,"help":"",)"
       R"("options":[],"min":1E0,"max":6.4E1,"max_length":null}]}})"},
      {dp::TemplateRemoved{kAt, "bug"}, "TemplateRemoved", 1,
       R"({"at":1795000000000000,"key":"bug"})"},
  };
}

std::vector<Golden<dc::Event>> customer_goldens() {
  return {
      {dc::CustomerRegistered{kAt, "c-ann", "ann@globex.test", "Ann Lee", "ann"},
       "CustomerRegistered", 1,
       R"({"at":1795000000000000,"customer_id":"c-ann","email":"ann@globex.test",)"
       R"("display_name":"Ann Lee","handle":"ann"})"},
      {dc::MembershipJoined{kAt, "acme"}, "MembershipJoined", 1,
       R"({"at":1795000000000000,"project":"acme"})"},
      {dc::MembershipLeft{kAt, "acme"}, "MembershipLeft", 1,
       R"({"at":1795000000000000,"project":"acme"})"},
      {dc::HandleClaimed{kAt, "ann", "c-ann"}, "HandleClaimed", 1,
       R"({"at":1795000000000000,"handle":"ann","customer_id":"c-ann"})"},
      {dc::EmailClaimed{kAt, "ann@globex.test", "c-ann"}, "EmailClaimed", 1,
       R"({"at":1795000000000000,"email":"ann@globex.test","customer_id":"c-ann"})"},
      {dc::PasswordSet{kAt, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", false, true},
       "PasswordSet", 1,
       R"({"at":1795000000000000,"hash":"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",)"
       R"("verified":false,"ends_sessions":true})"},
      {dc::PasswordVerified{kAt, kAt - dom::kHour}, "PasswordVerified", 1,
       R"({"at":1795000000000000,"password_set_at":1794996400000000})"},
      {dc::EmailVerified{kAt}, "EmailVerified", 1, R"({"at":1795000000000000})"},
      {dc::IdentityLinked{kAt, "google", "https://accounts.google.com", "1089", "ann@globex.test"},
       "IdentityLinked", 1,
       R"({"at":1795000000000000,"provider":"google","issuer":"https://accounts.google.com",)"
       R"("subject":"1089","email":"ann@globex.test"})"},
      {dc::IdentityUnlinked{kAt, "https://accounts.google.com", "1089"}, "IdentityUnlinked", 1,
       R"({"at":1795000000000000,"issuer":"https://accounts.google.com","subject":"1089"})"},
      {dc::IdentityClaimed{kAt, "https://accounts.google.com", "1089", "c-ann"}, "IdentityClaimed",
       1,
       R"({"at":1795000000000000,"issuer":"https://accounts.google.com","subject":"1089",)"
       R"("customer_id":"c-ann"})"},
      {dc::IdentityReleased{kAt}, "IdentityReleased", 1, R"({"at":1795000000000000})"},
      {dc::LanguageChosen{kAt, "pt-BR"}, "LanguageChosen", 1,
       R"({"at":1795000000000000,"language":"pt-BR"})"},
      // The two-factor events, which staff streams carry too (totp_goldens).
  };
}

// The two-factor events (totp.hpp): one struct each, carried by customer and staff streams.
template <class Event>
std::vector<Golden<Event>> totp_goldens() {
  return {
      {dtotp::TotpEnrolStarted{kAt, "bm9uY2UrYm94"}, "TotpEnrolStarted", 1,
       R"({"at":1795000000000000,"sealed_secret":"bm9uY2UrYm94"})"},
      {dtotp::TotpEnabled{kAt, 59833333, {"a1", "b2"}}, "TotpEnabled", 1,
       R"({"at":1795000000000000,"step":59833333,"recovery_hashes":["a1","b2"]})"},
      {dtotp::TotpDisabled{kAt}, "TotpDisabled", 1, R"({"at":1795000000000000})"},
      {dtotp::TotpCodeUsed{kAt, 59833334}, "TotpCodeUsed", 1,
       R"({"at":1795000000000000,"step":59833334})"},
      {dtotp::RecoveryCodeUsed{kAt, 3}, "RecoveryCodeUsed", 1,
       R"({"at":1795000000000000,"index":3})"},
  };
}

template <class Event>
std::vector<Golden<Event>> with_totp(std::vector<Golden<Event>> rows) {
  for (auto& row : totp_goldens<Event>()) rows.push_back(std::move(row));
  return rows;
}

std::vector<Golden<da::Event>> account_goldens() {
  return {
      {da::TokenIssued{kAt, da::Purpose::verify_email, "acme", "ann@globex.test", "c-ann",
                       kAt - dom::kHour, kAt + dom::kDay},
       "TokenIssued", 1,
       R"({"at":1795000000000000,"purpose":"verify_email","project":"acme",)"
       R"("email":"ann@globex.test","customer_id":"c-ann",)"
       R"("password_set_at":1794996400000000,"expires_at":1795086400000000})"},
      {da::TokenUsed{kAt}, "TokenUsed", 1, R"({"at":1795000000000000})"},
      {da::SessionStarted{kAt, dom::Realm::customer, "c-ann", "acme", "password", "5e88489",
                          2 * dom::kHour, kAt + 30 * dom::kDay},
       "SessionStarted", 1,
       R"({"at":1795000000000000,"realm":"customer","subject":"c-ann","project":"acme",)"
       R"("method":"password","csrf_hash":"5e88489","idle_timeout":7200000000,)"
       R"("expires_at":1797592000000000})"},
      {da::SessionRefreshed{kAt}, "SessionRefreshed", 1, R"({"at":1795000000000000})"},
      {da::SessionEnded{kAt, "signed_out"}, "SessionEnded", 1,
       R"({"at":1795000000000000,"reason":"signed_out"})"},
      {da::StaffAccountCreated{kAt, "s-agnes", "agnes@acme.test", "Agnes"}, "StaffAccountCreated",
       1,
       R"({"at":1795000000000000,"staff_id":"s-agnes","email":"agnes@acme.test",)"
       R"("display_name":"Agnes"})"},
      {da::StaffPasswordSet{kAt, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"},
       "StaffPasswordSet", 1,
       R"({"at":1795000000000000,"hash":"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"})"},
      {da::StaffEmailClaimed{kAt, "agnes@acme.test", "s-agnes"}, "StaffEmailClaimed", 1,
       R"({"at":1795000000000000,"email":"agnes@acme.test","staff_id":"s-agnes"})"},
      {da::StaffSessionsEnded{kAt, "removed"}, "StaffSessionsEnded", 1,
       R"({"at":1795000000000000,"reason":"removed"})"},
  };
}

std::vector<Golden<di::Event>> inbox_goldens() {
  return {
      {di::NotificationsRead{kAt, {3, 5, 8}}, "NotificationsRead", 1,
       R"({"at":1795000000000000,"ids":[3,5,8]})"},
      {di::AllNotificationsRead{kAt, 12}, "AllNotificationsRead", 1,
       R"({"at":1795000000000000,"up_to":12})"},
  };
}

}  // namespace

TEST_CASE("ticket events are stored under the same names and versions with the same payloads") {
  check_goldens<TicketCodec>(ticket_goldens());
}

TEST_CASE("project events are stored under the same names and versions with the same payloads") {
  check_goldens<ProjectCodec>(project_goldens());
}

TEST_CASE("customer events are stored under the same names and versions with the same payloads") {
  check_goldens<CustomerCodec>(with_totp(customer_goldens()));
}

TEST_CASE("account events are stored under the same names and versions with the same payloads") {
  check_goldens<AccountCodec>(with_totp(account_goldens()));
}

TEST_CASE("inbox events are stored under the same names and versions with the same payloads") {
  check_goldens<InboxCodec>(inbox_goldens());
}

TEST_CASE(
    "every event of every aggregate has a golden row and only the two-factor ones are shared") {
  CHECK(declared<dt::Event>() == types_of(ticket_goldens()));
  CHECK(declared<dp::Event>() == types_of(project_goldens()));
  CHECK(declared<dc::Event>() == types_of(with_totp(customer_goldens())));
  CHECK(declared<da::Event>() == types_of(with_totp(account_goldens())));
  CHECK(declared<di::Event>() == types_of(inbox_goldens()));

  const std::vector<std::vector<std::string>> aggregates = {
      declared_types<dt::Event>(), declared_types<dp::Event>(), declared_types<dc::Event>(),
      declared_types<da::Event>(), declared_types<di::Event>()};
  // A name in two aggregates is one struct in both (the two-factor events of customers and
  // staff), never two events that happen to share a name.
  const auto shared_types = declared_types<dtotp::Event>();
  const std::set<std::string> shared(shared_types.begin(), shared_types.end());
  std::set<std::string> all;
  std::size_t count = 0;
  for (const auto& types : aggregates) {
    for (const auto& t : types) {
      if (!all.insert(t).second) CHECK_MESSAGE(shared.contains(t), t << " is in two aggregates");
    }
    count += types.size();
  }
  CHECK(count == all.size() + shared.size());  // each shared one in exactly two
  // An event is never taken out (old logs hold it): this grows by one with each new event.
  CHECK(all.size() == 65);
}
