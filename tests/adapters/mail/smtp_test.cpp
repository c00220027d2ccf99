// SMTP delivery against a real SMTP server (python3-aiosmtpd, started by each test on
// 127.0.0.1): plain, STARTTLS, implicit TLS, authentication, and what a refusal means.
#include <doctest/doctest.h>

#include <portico/errc.hpp>
#include <portico/mail/smtp.hpp>
#include <string>

#include "../../support/self_signed.hpp"
#include "../../support/smtp_process.hpp"
#include "../../support/temp_dir.hpp"

namespace mail = portico::mail;
namespace errc = portico::errc;
using portico::test::SmtpProcess;
using portico::test::TempDir;

namespace {

mail::Message message(std::string to = "ann@example.com") {
  mail::Message m{"Acme Support",
                  "support@acme.test",
                  std::move(to),
                  "Your ticket #4",
                  "Hello,\n.a line that starts with a dot\n..and two\n",
                  "reply-7@acme.portico"};
  m.in_reply_to = "ticket-4@acme.portico";
  return m;
}

mail::SmtpOptions options(const SmtpProcess& server, std::string_view scheme = "smtp") {
  mail::SmtpOptions o;
  o.url = server.url(scheme);
  o.connect_timeout = std::chrono::seconds(5);
  o.timeout = std::chrono::seconds(10);
  return o;
}

}  // namespace

TEST_CASE("a message reaches a real SMTP server with its envelope and threading headers") {
  TempDir dir;
  SmtpProcess server(dir / "in");
  mail::Smtp smtp(options(server));
  REQUIRE(smtp.send(message()));
  auto got = server.wait_for(1);
  REQUIRE(got.size() == 1);
  const std::string& m = got[0];
  CHECK(m.starts_with("X-Envelope-From: support@acme.test\r\n"));
  CHECK(portico::test::mail_header(m, "X-Envelope-To") == "ann@example.com");
  CHECK(portico::test::mail_header(m, "X-Tls") == "no");
  CHECK(portico::test::mail_header(m, "Message-ID") == "<reply-7@acme.portico>");
  CHECK(portico::test::mail_header(m, "In-Reply-To") == "<ticket-4@acme.portico>");
  CHECK(portico::test::mail_header(m, "References") == "<ticket-4@acme.portico>");
  CHECK(portico::test::mail_header(m, "Subject") == "Your ticket #4");
  // SMTP's end-of-data is a line with one dot: lines of the text that start with dots arrive
  // as written (libcurl doubles them on the wire and the server takes the extra one off).
  CHECK(m.find("\r\n.a line that starts with a dot\r\n..and two\r\n") != std::string::npos);
}

TEST_CASE("messages sent one after another share one connection") {
  TempDir dir;
  SmtpProcess server(dir / "in");
  mail::Smtp smtp(options(server));
  for (int i = 0; i < 3; ++i) REQUIRE(smtp.send(message()));
  auto got = server.wait_for(3);
  REQUIRE(got.size() == 3);
  CHECK(portico::test::mail_header(got[0], "X-Peer") ==
        portico::test::mail_header(got[1], "X-Peer"));
  CHECK(portico::test::mail_header(got[1], "X-Peer") ==
        portico::test::mail_header(got[2], "X-Peer"));
}

TEST_CASE("STARTTLS with a certificate made in the test and verified against it") {
  TempDir dir;
  REQUIRE(portico::test::write_self_signed(dir.path()));
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  SmtpProcess server(dir / "in", {"--starttls", cert, key});
  SUBCASE("trusted: the message goes over TLS, also with require_tls") {
    auto o = options(server);
    o.ca_file = cert;
    o.require_tls = true;
    mail::Smtp smtp(o);
    REQUIRE(smtp.send(message()));
    auto got = server.wait_for(1);
    REQUIRE(got.size() == 1);
    CHECK(portico::test::mail_header(got[0], "X-Tls") == "yes");
  }
  SUBCASE("a certificate nobody vouches for: nothing is sent, and it may be tried again") {
    mail::Smtp smtp(options(server));
    auto sent = smtp.send(message());
    REQUIRE_FALSE(sent);
    CHECK(sent.error().code == errc::kUnavailable);
    CHECK(server.messages().empty());
  }
}

TEST_CASE("require_tls refuses to send to a server that offers no STARTTLS") {
  TempDir dir;
  SmtpProcess server(dir / "in");
  auto o = options(server);
  o.require_tls = true;
  mail::Smtp smtp(o);
  auto sent = smtp.send(message());
  REQUIRE_FALSE(sent);
  CHECK(sent.error().code == errc::kUnavailable);
  CHECK(server.messages().empty());
}

TEST_CASE("smtps with a login: the right password sends and a wrong one is temporary") {
  TempDir dir;
  REQUIRE(portico::test::write_self_signed(dir.path()));
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  SmtpProcess server(dir / "in",
                     {"--smtps", cert, key, "--user", "portico", "--password", "s3cret"});
  auto o = options(server, "smtps");
  o.ca_file = cert;
  o.user = "portico";
  SUBCASE("right") {
    o.password = "s3cret";
    mail::Smtp smtp(o);
    REQUIRE(smtp.send(message()));
    auto got = server.wait_for(1);
    REQUIRE(got.size() == 1);
    CHECK(portico::test::mail_header(got[0], "X-Tls") == "yes");
  }
  SUBCASE("wrong: the operator's to fix, so the message waits (not dead)") {
    o.password = "wrong";
    mail::Smtp smtp(o);
    auto sent = smtp.send(message());
    REQUIRE_FALSE(sent);
    CHECK(sent.error().code == errc::kUnavailable);
    CHECK(server.messages().empty());
  }
}

TEST_CASE("a 5xx for the recipient is final and a 4xx is temporary") {
  TempDir dir;
  SmtpProcess server(dir / "in", {"--reject", "gone@example.com", "--defer", "busy@example.com"});
  mail::Smtp smtp(options(server));
  auto refused = smtp.send(message("gone@example.com"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::kInvalidRequest);
  CHECK(refused.error().message.find("550") != std::string::npos);
  auto deferred = smtp.send(message("busy@example.com"));
  REQUIRE_FALSE(deferred);
  CHECK(deferred.error().code == errc::kUnavailable);
  // The connection is not left in a state that loses the next message.
  REQUIRE(smtp.send(message()));
  auto got = server.wait_for(1);
  REQUIRE(got.size() == 1);
  CHECK(portico::test::mail_header(got[0], "X-Envelope-To") == "ann@example.com");
}

TEST_CASE("a server that is not there is unavailable and one that comes back is used") {
  TempDir dir;
  SmtpProcess server(dir / "in");
  server.stop();
  mail::Smtp smtp(options(server));
  auto sent = smtp.send(message());
  REQUIRE_FALSE(sent);
  CHECK(sent.error().code == errc::kUnavailable);
  server.start();  // back on its port
  REQUIRE(smtp.send(message()));
  CHECK(server.wait_for(1).size() == 1);
}

TEST_CASE("an SMTP URL is a scheme a host and a port") {
  CHECK(mail::check_smtp_url("smtp://mail.example.com:587"));
  CHECK(mail::check_smtp_url("smtps://mail.example.com:465"));
  CHECK(mail::check_smtp_url("smtp://127.0.0.1:25/"));
  for (const char* bad :
       {"http://mail.example.com", "mail.example.com:25", "smtp://", "smtp://u:p@mail.example.com",
        "smtp://mail.example.com/x", "smtp://mail.example.com?x=1", ""}) {
    CAPTURE(bad);
    auto checked = mail::check_smtp_url(bad);
    REQUIRE_FALSE(checked);
    CHECK(checked.error().code == errc::kInvalidRequest);
  }
}
