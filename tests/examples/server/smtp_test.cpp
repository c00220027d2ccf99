// portico-server sending its e-mail to a real SMTP server (python3-aiosmtpd, started here on
// 127.0.0.1) as an operator configures it: --smtp, --smtp-require-tls, --smtp-ca-file,
// --mail-from, --mail-retry. A mail server that goes away never blocks an action: what was
// acknowledged goes out once it is back, and a sign-in link that cannot go out is a 503.
#include <doctest/doctest.h>

#include <string>

#include "../../support/self_signed.hpp"
#include "../../support/server_process.hpp"
#include "../../support/smtp_process.hpp"
#include "../../support/temp_dir.hpp"

using namespace portico::test;
using boost::beast::http::verb;

namespace {

constexpr const char* kStaffPassword = "a staff passphrase for smtp";

// The first message in `mails` whose subject contains `words`, or empty.
std::string with_subject(const std::vector<std::string>& mails, const std::string& words) {
  for (const auto& m : mails) {
    if (mail_header(m, "Subject").find(words) != std::string::npos) return m;
  }
  return {};
}

// Waits (up to 15 s) for a message whose subject contains `words`.
std::string wait_for_subject(const SmtpProcess& smtp, const std::string& words) {
  for (int i = 0; i < 750; ++i) {
    if (auto m = with_subject(smtp.messages(), words); !m.empty()) return m;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

unsigned magic_link(unsigned short port, const std::string& email) {
  hc::Connection c(port);
  return c
      .request(verb::post, "/api/v1/auth/magic-link",
               R"({"project":"acme","email":")" + email + R"("})")
      .result_int();
}

}  // namespace

TEST_CASE("with --smtp the sign-in link and a ticket's e-mails reach a real SMTP server threaded") {
  TempDir dir;
  const auto data = dir / "data";
  new_desk(data, kStaffPassword);
  SmtpProcess smtp(dir / "smtp");
  ServerProcess server(data, {"--smtp", smtp.url(), "--mail-from", "help@acme.test"});
  // Nothing is written into the development mail directory any more.
  const auto ann = customer_by_mail(server.port(), smtp.dir(), "acme", "ann@example.com");
  auto signed_in = smtp.messages();
  REQUIRE(signed_in.size() == 1);
  CHECK(signed_in[0].starts_with("X-Envelope-From: help@acme.test\r\n"));
  CHECK(mail_header(signed_in[0], "X-Envelope-To") == "ann@example.com");
  CHECK_FALSE(std::filesystem::exists(data / "mail"));

  auto opened = ann.call(verb::post, "/api/v1/projects/acme/tickets",
                         R"({"subject":"Printer on fire","message":"Smoke everywhere."})");
  REQUIRE_MESSAGE(opened.result_int() == 201, opened.body());
  const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
  auto replied = agent.call(verb::post, "/api/v1/staff/projects/acme/tickets/1/messages",
                            R"({"body":"Use the extinguisher."})");
  REQUIRE_MESSAGE(replied.result_int() == 201, replied.body());

  const std::string received = wait_for_subject(smtp, "#1 received");
  const std::string reply = wait_for_subject(smtp, "#1 new reply");
  REQUIRE_FALSE(received.empty());
  REQUIRE_FALSE(reply.empty());
  CHECK(mail_header(received, "X-Envelope-To") == "ann@example.com");
  // One conversation in a mail client: the reply follows the first e-mail of the ticket.
  // Named by the server's host: two installations never share a Message-ID.
  CHECK(mail_header(received, "Message-ID") == "<ticket-1.acme@127.0.0.1>");
  CHECK(mail_header(reply, "In-Reply-To") == "<ticket-1.acme@127.0.0.1>");
  CHECK(mail_header(reply, "References") == "<ticket-1.acme@127.0.0.1>");
  CHECK(mail_header(reply, "Message-ID") != mail_header(received, "Message-ID"));
  CHECK(unquote_mail(reply).find("Use the extinguisher.") != std::string::npos);
}

TEST_CASE("an SMTP server that goes away: sign-in answers 503 and actions wait for it to return") {
  TempDir dir;
  const auto data = dir / "data";
  new_desk(data, kStaffPassword);
  SmtpProcess smtp(dir / "smtp");
  ServerProcess server(data, {"--smtp", smtp.url(), "--mail-retry", "1s"});
  const auto ann = customer_by_mail(server.port(), smtp.dir(), "acme", "ann@example.com");
  const auto agent = staff(server.port(), "agent@acme.test", kStaffPassword);
  auto opened = ann.call(verb::post, "/api/v1/projects/acme/tickets",
                         R"({"subject":"Lost keys","message":"Cannot get in."})");
  REQUIRE(opened.result_int() == 201);
  REQUIRE_FALSE(wait_for_subject(smtp, "#1 received").empty());

  smtp.stop();  // the mail server is gone
  // A sign-in link that cannot go out is said so at once: nobody waits for an e-mail.
  CHECK(magic_link(server.port(), "bob@example.com") == 503);
  // Actions go on: the reply is acknowledged and its e-mail waits in the outbox.
  auto replied = agent.call(verb::post, "/api/v1/staff/projects/acme/tickets/1/messages",
                            R"({"body":"The spare is under the mat."})");
  REQUIRE_MESSAGE(replied.result_int() == 201, replied.body());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // at least one failed attempt

  smtp.start();  // the same server, started again
  const std::string reply = wait_for_subject(smtp, "#1 new reply");
  REQUIRE_FALSE(reply.empty());
  CHECK(unquote_mail(reply).find("The spare is under the mat.") != std::string::npos);
  CHECK(magic_link(server.port(), "bob@example.com") == 202);
}

TEST_CASE("--smtp-require-tls sends only over STARTTLS verified with --smtp-ca-file") {
  TempDir dir;
  REQUIRE(write_self_signed(dir.path()));
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const auto data = dir / "data";
  new_desk(data, kStaffPassword);
  SUBCASE("a server offering STARTTLS with the operator's certificate") {
    SmtpProcess smtp(dir / "smtp", {"--starttls", cert, key});
    ServerProcess server(data,
                         {"--smtp", smtp.url(), "--smtp-require-tls", "--smtp-ca-file", cert});
    CHECK(magic_link(server.port(), "ann@example.com") == 202);
    auto got = smtp.wait_for(1);
    REQUIRE(got.size() == 1);
    CHECK(mail_header(got[0], "X-Tls") == "yes");
  }
  SUBCASE("a server without STARTTLS gets nothing in the clear") {
    SmtpProcess smtp(dir / "smtp");
    ServerProcess server(data, {"--smtp", smtp.url(), "--smtp-require-tls"});
    CHECK(magic_link(server.port(), "ann@example.com") == 503);
    CHECK(smtp.messages().empty());
  }
}

TEST_CASE("the SMTP settings are checked when the server starts") {
  TempDir dir;
  const auto data = dir / "data";
  auto start = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {PORTICO_SERVER, "--data", data.string(), "--listen",
                                     "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, std::nullopt, true);
  };
  auto bad_url = start({"--smtp", "http://mail.example.com"});
  CHECK(bad_url.exit_code == 2);
  CHECK(bad_url.out.find("--smtp: the SMTP URL is smtp://HOST:PORT or smtps://HOST:PORT") !=
        std::string::npos);
  auto alone = start({"--smtp-user", "portico"});
  CHECK(alone.exit_code == 2);
  CHECK(alone.out.find("need --smtp") != std::string::npos);
  auto half = start({"--smtp", "smtp://127.0.0.1:25", "--smtp-user", "portico"});
  CHECK(half.exit_code == 2);
  CHECK(half.out.find("go together") != std::string::npos);
  auto from = start({"--mail-from", "not an address"});
  CHECK(from.exit_code == 2);
  CHECK(from.out.find("--mail-from takes one e-mail address") != std::string::npos);
}

TEST_CASE("a delivery the mail server refuses is dead and portico-admin outbox retry sends it") {
  TempDir dir;
  const auto data = dir / "data";
  new_desk(data, kStaffPassword);
  SmtpProcess smtp(dir / "smtp");
  ServerProcess server(data, {"--smtp", smtp.url()});
  const auto ann = customer_by_mail(server.port(), smtp.dir(), "acme", "ann@example.com");
  // Ann's mailbox is refused for a while (550): her "ticket received" e-mail is given up at once.
  smtp.start({"--reject", "ann@example.com"});
  auto opened = ann.call(verb::post, "/api/v1/projects/acme/tickets",
                         R"({"subject":"Bounced","message":"Is my mailbox full?"})");
  REQUIRE(opened.result_int() == 201);
  std::string line;
  for (int i = 0; i < 500 && line.empty(); ++i) {
    auto dead = admin(data, {"outbox", "list", "--dead"});
    REQUIRE(dead.exit_code == 0);
    line = dead.out;
    if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE_FALSE(line.empty());
  CHECK(line.find("\tticket_created\t") != std::string::npos);
  CHECK(line.find("\tacme#1\t1\tdead\t") != std::string::npos);
  CHECK(line.find("550") != std::string::npos);
  CHECK(admin(data, {"outbox", "list"}).out.empty());  // nothing else waits
  CHECK(with_subject(smtp.messages(), "#1 received").empty());

  // The mailbox works again; the operator sends the e-mail once more.
  smtp.start();
  const std::string id = line.substr(0, line.find('\t'));
  auto retried = admin(data, {"outbox", "retry", id});
  CHECK_MESSAGE(retried.exit_code == 0, retried.out);
  CHECK(retried.out == "delivery " + id + " will be tried again now\n");
  CHECK_FALSE(wait_for_subject(smtp, "#1 received").empty());
  CHECK(admin(data, {"outbox", "list", "--dead"}).out.empty());
  auto again = admin(data, {"outbox", "retry", id});  // no longer dead
  CHECK(again.exit_code == 1);
  CHECK(again.out.find("no dead delivery " + id) != std::string::npos);
  CHECK(admin(data, {"outbox", "list", "--everything"}).exit_code == 2);
}
