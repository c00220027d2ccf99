// The outbox's deliveries become e-mails in a mail directory.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <portico/errc.hpp>
#include <portico/mail/deliverer.hpp>
#include <portico/projections/runner.hpp>
#include <portico/service/tokens.hpp>
#include <string>
#include <vector>

#include "../../core/service/service_fixtures.hpp"

using namespace portico::test;
using namespace std::chrono_literals;
namespace mail = portico::mail;
namespace proj = portico::projections;
namespace dt = portico::domain::ticket;
namespace dom = portico::domain;

namespace {

portico::log::Options outbox_options() {
  portico::log::Options o;
  o.async_projections = {proj::Outbox::projection()};
  return o;
}

// A transport that keeps what it was given, and can be told to fail.
struct Recorder final : mail::Transport {
  std::vector<mail::Message> sent;
  bool down = false;
  std::string refused;  // an address the mail server says it has no mailbox for
  int tried = 0;
  portico::Result<void> send(const mail::Message& m) override {
    ++tried;
    if (down) return portico::fail(portico::errc::kUnavailable, "smtp: 451 try later");
    if (m.to == refused) {
      return portico::fail(portico::errc::kInvalidRequest, "smtp: 550 no such mailbox", "to");
    }
    sent.push_back(m);
    return {};
  }
};

struct Mailing {
  Desk d{Desk::default_settings(), outbox_options()};
  proj::Runner runner{*d.log, "outbox"};
  Recorder transport;
  mail::Deliverer deliverer{
      *d.log, *d.portal, transport, {"https://help.acme.test", "support@acme.test", 50ms, {}}};

  Mailing() { REQUIRE(runner.start()); }
  mail::DeliveryCount deliver() {
    REQUIRE(runner.wait_for(d.log->head().value(), 10s));
    auto done = deliverer.deliver_due();
    REQUIRE(done);
    return *done;
  }
};

}  // namespace

TEST_CASE("ticket created staff replied and status changed reach the creator with context") {
  Mailing m;
  const auto n = m.d.open("c-ann");
  REQUIRE(m.d.portal->execute("acme", n, dt::PostStaffMessage{"m-i", "secret note", true, {}},
                              Desk::as_staff("s-agent")));
  REQUIRE(m.d.portal->execute("acme", n,
                              dt::PostStaffMessage{"m-s", "Try turning it off and on", false,
                                                   dom::Status::awaiting_customer},
                              Desk::as_staff("s-agent")));
  const auto count = m.deliver();
  CHECK(count.sent == 3);
  REQUIRE(m.transport.sent.size() == 3);
  const auto& created = m.transport.sent[0];
  CHECK(created.to == "ann@globex.test");
  CHECK(created.from_name == "Acme Support");
  CHECK(created.from_address == "support@acme.test");
  // The ticket's e-mails thread: the first one's Message-ID is the ticket's, the others follow it.
  CHECK(created.message_id == "ticket-1.acme@help.acme.test");
  CHECK(created.message_id == mail::ticket_message_id("acme", 1, "https://help.acme.test"));
  for (std::size_t i = 1; i < m.transport.sent.size(); ++i) {
    CHECK(m.transport.sent[i].in_reply_to == "ticket-1.acme@help.acme.test");
    CHECK(m.transport.sent[i].message_id.ends_with(".acme@help.acme.test"));
    CHECK(m.transport.sent[i].message_id.find(':') == std::string::npos);  // a dot-atom
    CHECK(m.transport.sent[i].message_id != m.transport.sent[i - 1].message_id);
  }
  CHECK(created.subject == "[Acme Support] #1 received: Help");
  CHECK(created.text.find("https://help.acme.test/p/acme/tickets/1") != std::string::npos);
  const auto& reply = m.transport.sent[1];
  CHECK(reply.subject == "[Acme Support] #1 new reply: Help");
  CHECK(reply.text.find("Try turning it off and on") != std::string::npos);
  CHECK(reply.text.find("Agnes Agent") != std::string::npos);
  CHECK(reply.text.find("It broke") != std::string::npos);
  for (const auto& sent : m.transport.sent) {
    CHECK(sent.text.find("secret note") == std::string::npos);  // internal notes never leave
  }
  CHECK(m.transport.sent[2].subject == "[Acme Support] #1 is now awaiting_customer: Help");
  // Delivered ones are gone: nothing more to send.
  CHECK(m.deliverer.deliver_due().value().sent == 0);
}

TEST_CASE("a failing transport leaves the delivery for a later attempt") {
  Mailing m;
  m.d.open("c-ann");
  m.transport.down = true;
  CHECK(m.deliver().failed == 1);
  proj::Outbox outbox(*m.d.log);
  auto pending = outbox.pending();
  REQUIRE(pending);
  REQUIRE(pending->size() == 1);
  CHECK(pending->front().attempts == 1);
  CHECK(pending->front().last_error == "smtp: 451 try later");
  m.transport.down = false;
  CHECK(m.deliverer.deliver_due().value().sent == 0);  // not due yet: backoff
  CHECK(outbox.pending_count().value() == 1);
}

TEST_CASE("someone who may no longer read the ticket is not mailed") {
  Mailing m;
  const auto n = m.d.open("c-ann");
  REQUIRE(m.d.portal->execute("acme", n, dt::CreateInvite{"i", "h"}, Desk::as_customer("c-ann")));
  REQUIRE(m.d.portal->execute("acme", n, dt::JoinByInvite{"h"}, Desk::as_customer("c-bob")));
  REQUIRE(m.d.portal->execute("acme", n, dt::PostStaffMessage{"m-s", "hello both", false, {}},
                              Desk::as_staff("s-agent")));
  // Bob is removed before the mail goes out.
  REQUIRE(
      m.d.portal->execute("acme", n, dt::RemoveParticipant{"c-bob"}, Desk::as_customer("c-ann")));
  const auto count = m.deliver();
  CHECK(count.dropped == 1);
  for (const auto& sent : m.transport.sent) CHECK(sent.to != "bob@globex.test");
}

TEST_CASE("the mail-dir transport behind the deliverer writes the e-mails as files") {
  Desk d{Desk::default_settings(), outbox_options()};
  proj::Runner runner{*d.log, "outbox"};
  REQUIRE(runner.start());
  mail::MailDir box(d.dir / "mail");
  mail::Deliverer deliverer{
      *d.log, *d.portal, box, {"https://help.acme.test", "s@acme.test", 20ms, {}}};
  deliverer.start();
  d.open("c-ann");
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  bool written = false;
  for (int i = 0; i < 200 && !written; ++i) {
    std::this_thread::sleep_for(10ms);
    written = std::filesystem::exists(d.dir / "mail") &&
              std::filesystem::directory_iterator(d.dir / "mail") !=
                  std::filesystem::directory_iterator();
  }
  deliverer.stop();
  REQUIRE(written);
  const auto file = std::filesystem::directory_iterator(d.dir / "mail")->path();
  std::ifstream in(file);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(all.find("To: ann@globex.test\r\n") != std::string::npos);
  CHECK(all.find("Subject: [Acme Support] #1 received: Help\r\n") != std::string::npos);
}

TEST_CASE("a feedback e-mail carries a signed survey link that names the pending survey") {
  Desk d{Desk::default_settings(), outbox_options()};
  proj::Runner runner{*d.log, "outbox"};
  REQUIRE(runner.start());
  Recorder transport;
  const std::string secret = "a server secret of enough length!";
  mail::Deliverer deliverer{
      *d.log,
      *d.portal,
      transport,
      {"https://help.acme.test", "support@acme.test", 50ms, [&d] { return d.now.load(); }, secret}};
  const auto n = d.open("c-ann");
  REQUIRE(d.portal->execute("acme", n, dt::RequestClosure{}, Desk::as_customer("c-ann")));
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  REQUIRE(deliverer.deliver_due());
  const mail::Message* feedback = nullptr;
  for (const auto& m : transport.sent) {
    if (m.subject.find("How did we do") != std::string::npos) feedback = &m;
  }
  REQUIRE(feedback != nullptr);
  const auto at = feedback->text.find("https://help.acme.test/p/acme/survey?token=");
  REQUIRE(at != std::string::npos);
  std::string token = feedback->text.substr(at + 43);
  token = token.substr(0, token.find_first_of(" \n"));
  auto ref = portico::service::parse_survey_token(secret, token);
  REQUIRE(ref);
  CHECK(ref->project == "acme");
  CHECK(ref->number == n);
  CHECK(ref->survey_id == d.ticket(n).surveys.back().id);
  // Another secret cannot read it, and an altered token is refused.
  CHECK_FALSE(portico::service::parse_survey_token("another secret", token));
  token[3] = token[3] == 'A' ? 'B' : 'A';
  CHECK_FALSE(portico::service::parse_survey_token(secret, token));
}

TEST_CASE("a delivery given up after its last attempt is told to DelivererOptions on_warning") {
  Desk d{Desk::default_settings(), outbox_options()};
  proj::Runner runner{*d.log, "outbox"};
  REQUIRE(runner.start());
  Recorder transport;
  transport.down = true;  // for good
  std::vector<std::string> warnings;
  mail::DelivererOptions options;
  options.clock = [&d] { return d.now.load(); };
  options.on_warning = [&warnings](std::string_view line) { warnings.emplace_back(line); };
  mail::Deliverer deliverer{*d.log, *d.portal, transport, options};
  d.open("c-ann");
  REQUIRE(runner.wait_for(d.log->head().value(), 10s));
  for (std::uint32_t attempt = 1; attempt <= proj::Outbox::kMaxAttempts; ++attempt) {
    CAPTURE(attempt);
    CHECK(warnings.empty());  // a failure that will be tried again is no warning
    CHECK(deliverer.deliver_due().value().failed == 1);
    d.now = d.now + 7 * dom::kHour;  // past the longest backoff
  }
  proj::Outbox outbox(*d.log);
  CHECK(outbox.pending_count().value() == 0);
  CHECK(outbox.dead().value().size() == 1);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].starts_with("mail delivery: "));
  CHECK(warnings[0].find("given up after " + std::to_string(proj::Outbox::kMaxAttempts) +
                         " attempts: smtp: 451 try later") != std::string::npos);
  CHECK(deliverer.deliver_due().value().failed == 0);  // nothing left to try, nothing more told
  CHECK(warnings.size() == 1);
}

TEST_CASE("a delivery the mail server refuses for good is dead at once and told") {
  Mailing m;
  std::vector<std::string> warnings;
  mail::DelivererOptions options{"https://help.acme.test", "support@acme.test", 50ms, {}};
  options.on_warning = [&warnings](std::string_view line) { warnings.emplace_back(line); };
  mail::Deliverer deliverer{*m.d.log, *m.d.portal, m.transport, options};
  m.transport.refused = "ann@globex.test";
  m.d.open("c-ann");
  REQUIRE(m.runner.wait_for(m.d.log->head().value(), 10s));
  CHECK(deliverer.deliver_due().value().failed == 1);
  proj::Outbox outbox(*m.d.log);
  CHECK(outbox.pending_count().value() == 0);
  auto dead = outbox.dead();
  REQUIRE(dead);
  REQUIRE(dead->size() == 1);
  CHECK(dead->front().attempts == 1);
  CHECK(dead->front().last_error == "smtp: 550 no such mailbox");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("given up after 1 attempt: smtp: 550") != std::string::npos);
}

TEST_CASE(
    "while the transport is down the rest of a batch waits untried and the deliverer pauses") {
  Mailing m;
  mail::DelivererOptions options{"https://help.acme.test", "support@acme.test", 50ms, {}};
  options.clock = [&m] { return m.d.now.load(); };
  mail::Deliverer deliverer{*m.d.log, *m.d.portal, m.transport, options};
  m.d.open("c-ann");
  m.d.open("c-ann");
  m.d.open("c-ann");
  REQUIRE(m.runner.wait_for(m.d.log->head().value(), 10s));
  m.transport.down = true;
  CHECK(deliverer.deliver_due().value().failed == 1);
  CHECK(m.transport.tried == 1);  // one connection attempt, not one per e-mail
  proj::Outbox outbox(*m.d.log);
  auto pending = outbox.pending();
  REQUIRE(pending);
  REQUIRE(pending->size() == 3);
  std::vector<std::uint32_t> attempts;
  for (const auto& d : *pending) attempts.push_back(d.attempts);
  std::sort(attempts.begin(), attempts.end());
  CHECK(attempts == std::vector<std::uint32_t>{0, 0, 1});
  // Paused for first_retry (30 s): nothing is tried meanwhile, even the untried ones.
  m.d.now = m.d.now + 29 * dom::kSecond;
  CHECK(deliverer.deliver_due().value().sent == 0);
  CHECK(m.transport.tried == 1);
  // Still down after the pause: one more attempt, and a pause twice as long (60 s).
  m.d.now = m.d.now + 1 * dom::kSecond;
  CHECK(deliverer.deliver_due().value().failed == 1);
  CHECK(m.transport.tried == 2);
  m.d.now = m.d.now + 59 * dom::kSecond;
  CHECK(deliverer.deliver_due().value().failed == 0);
  CHECK(m.transport.tried == 2);
  m.transport.down = false;
  m.d.now = m.d.now + 1 * dom::kSecond;
  // Back: everything goes, the one never tried and the two whose backoff is over.
  CHECK(deliverer.deliver_due().value().sent == 3);
  CHECK(outbox.pending_count().value() == 0);
  CHECK(outbox.dead().value().empty());
}

TEST_CASE("the first retry waits DelivererOptions first_retry and then twice as long") {
  Mailing m;
  mail::DelivererOptions options{"https://help.acme.test", "support@acme.test", 50ms, {}};
  options.clock = [&m] { return m.d.now.load(); };
  options.first_retry = 2 * dom::kSecond;
  mail::Deliverer deliverer{*m.d.log, *m.d.portal, m.transport, options};
  m.d.open("c-ann");
  REQUIRE(m.runner.wait_for(m.d.log->head().value(), 10s));
  m.transport.down = true;
  const auto start = m.d.now.load();
  CHECK(deliverer.deliver_due().value().failed == 1);
  proj::Outbox outbox(*m.d.log);
  CHECK(outbox.pending().value().front().next_attempt_at == start + 2 * dom::kSecond);
  m.d.now = start + 2 * dom::kSecond;
  CHECK(deliverer.deliver_due().value().failed == 1);
  CHECK(outbox.pending().value().front().next_attempt_at == start + 6 * dom::kSecond);
}

TEST_CASE("Message-IDs are named by the host of the base URL") {
  CHECK(mail::message_id_domain("https://support.acme.test:8443/desk") == "support.acme.test");
  CHECK(mail::message_id_domain("http://127.0.0.1:8080") == "127.0.0.1");
  CHECK(mail::message_id_domain("https://user@help.acme.test") == "help.acme.test");
  CHECK(mail::message_id_domain("") == "portico.invalid");
  CHECK(mail::message_id_domain("https://bad>host\r\n.test") == "badhost.test");
}
