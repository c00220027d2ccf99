// Outgoing mail: RFC 5322 formatting, the mail-dir transport, templates.
#include <doctest/doctest.h>

#include <fstream>
#include <portico/mail/mail.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "../../support/temp_dir.hpp"

namespace mail = portico::mail;
using portico::test::TempDir;

namespace {
mail::Message message(
    std::string subject = "Your sign-in link",
    std::string text = "Hello,\nopen https://x.test/p/acme/auth/magic?token=abc\n") {
  return {"Acme Support <support@acme.test>", "ann@example.com", std::move(subject),
          std::move(text)};
}
}  // namespace

TEST_CASE("a message is RFC 5322 text with CRLF lines and a quoted-printable UTF-8 body") {
  auto text = mail::format_rfc5322(message("Café ready", "Prix: 10 €\nline with = sign\ntrail \n"),
                                   "id-1@portico", "Sun, 22 Nov 2026 05:00:00 +0000");
  REQUIRE(text);
  const std::string& t = *text;
  CHECK(t.starts_with("Date: Sun, 22 Nov 2026 05:00:00 +0000\r\n"));
  CHECK(t.find("From: Acme Support <support@acme.test>\r\n") != std::string::npos);
  CHECK(t.find("To: ann@example.com\r\n") != std::string::npos);
  CHECK(t.find("Subject: =?UTF-8?B?Q2Fmw6kgcmVhZHk=?=\r\n") != std::string::npos);
  CHECK(t.find("Message-ID: <id-1@portico>\r\n") != std::string::npos);
  CHECK(t.find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  CHECK(t.find("\r\n\r\nPrix: 10 =E2=82=AC\r\nline with =3D sign\r\ntrail=20\r\n") !=
        std::string::npos);
  // No bare LF anywhere.
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\n') REQUIRE(i > 0);
    if (t[i] == '\n') CHECK(t[i - 1] == '\r');
  }
}

TEST_CASE("long lines are folded below 77 characters") {
  auto text = mail::format_rfc5322(message("s", std::string(300, 'a') + "\n"), "id", "d");
  REQUIRE(text);
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) CHECK(line.size() <= 77);  // 76 + '\r'
}

TEST_CASE("header injection and non-addresses are refused") {
  auto injected = mail::format_rfc5322(message("hi\r\nBcc: everyone@evil.test"), "id", "d");
  REQUIRE_FALSE(injected);
  CHECK(injected.error().code == "invalid_request");
  auto m = message();
  m.to = "not-an-address";
  CHECK_FALSE(mail::format_rfc5322(m, "id", "d"));
  m = message("ok", std::string("\xff\xfe bad", 6));
  CHECK_FALSE(mail::format_rfc5322(m, "id", "d"));
}

TEST_CASE("the mail-dir transport writes one whole .eml per message and nothing else") {
  TempDir dir;
  mail::MailDir box(dir / "mail");
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto m = message("n " + std::to_string(t * 10 + i));
        REQUIRE(box.send(m));
      }
    });
  }
  for (auto& s : senders) s.join();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "mail")) {
    ++files;
    CHECK(entry.path().extension() == ".eml");
    std::ifstream in(entry.path());
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(all.starts_with("Date: "));
    CHECK(all.find("token=3Dabc") != std::string::npos);
  }
  CHECK(files == 40);
  CHECK_FALSE(box.send(message("x\ny")));  // refused: nothing written
  CHECK(std::distance(std::filesystem::directory_iterator(dir / "mail"),
                      std::filesystem::directory_iterator()) == 40);
}

TEST_CASE("templates fill their placeholders") {
  CHECK(mail::render("Sign in to {{project}}: {{link}} ({{unknown}})",
                     {{"project", "Acme"}, {"link", "https://x/y"}}) ==
        "Sign in to Acme: https://x/y ({{unknown}})");
  CHECK(mail::render("no placeholders", {}) == "no placeholders");
  CHECK(mail::render("{{unclosed", {{"unclosed", "x"}}) == "{{unclosed");
}
