// Outgoing mail: RFC 5322 formatting, the mail-dir transport, templates.
#include <doctest/doctest.h>

#include <fstream>
#include <portico/mail/mail.hpp>
#include <portico/mail/sign_in.hpp>
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
  return {"Acme Support",     "support@acme.test", "ann@example.com",
          std::move(subject), std::move(text),     ""};
}
}  // namespace

TEST_CASE("a message is RFC 5322 text with CRLF lines and a quoted-printable UTF-8 body") {
  auto text = mail::format_rfc5322(message("Café ready", "Prix: 10 €\nline with = sign\ntrail \n"),
                                   "id-1@portico", "Sun, 22 Nov 2026 05:00:00 +0000");
  REQUIRE(text);
  const std::string& t = *text;
  CHECK(t.starts_with("Date: Sun, 22 Nov 2026 05:00:00 +0000\r\n"));
  CHECK(t.find("From: \"Acme Support\" <support@acme.test>\r\n") != std::string::npos);
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

TEST_CASE("header text cannot inject headers and addresses are one addr-spec") {
  auto m = message("hi\r\nBcc: everyone@evil.test");
  m.from_name = "Bank <security@bank.test>, Acme\r\nX: y";
  auto text = mail::format_rfc5322(m, "id", "d");
  REQUIRE(text);
  CHECK(text->find("\r\nBcc:") == std::string::npos);  // the line break became spaces
  CHECK(text->find("Subject: hi  Bcc: everyone@evil.test\r\n") != std::string::npos);
  CHECK(text->find("From: \"Bank <security@bank.test>, Acme  X: y\" <support@acme.test>\r\n") !=
        std::string::npos);
  for (std::string bad : {"not-an-address", "a@b.test, c@evil.test", "A <a@b.test>", "a@@b.test",
                          "a b@c.test", "@b.test", "a@b"}) {
    CAPTURE(bad);
    CHECK_FALSE(mail::valid_address(bad));
    m = message();
    m.to = bad;
    CHECK_FALSE(mail::format_rfc5322(m, "id", "d"));
  }
  CHECK(mail::valid_address("ann.o+tag@example.co.uk"));
  m = message("ok", std::string("\xff\xfe bad", 6));
  CHECK_FALSE(mail::format_rfc5322(m, "id", "d"));
}

TEST_CASE("a long non-ASCII subject and name become folded encoded words") {
  auto m = message();
  std::string cjk;
  for (int i = 0; i < 100; ++i) cjk += "\xe4\xb8\xad";  // 中
  m.subject = cjk + " " + std::string(200, 's');
  m.from_name = "Café " + cjk;
  auto text = mail::format_rfc5322(m, "id", "d");
  REQUIRE(text);
  std::istringstream in(*text);
  int encoded = 0;
  for (std::string line; std::getline(in, line) && line != "\r";) {
    CHECK(line.size() <= 78);
    for (auto begin = line.find("=?UTF-8?B?"); begin != std::string::npos;
         begin = line.find("=?UTF-8?B?", begin + 1)) {
      const auto end = line.find("?=", begin + 10);
      REQUIRE(end != std::string::npos);
      CHECK(end + 2 - begin <= 75);  // one encoded word
      ++encoded;
    }
  }
  CHECK(encoded > 10);
  CHECK(text->find("<support@acme.test>\r\n") != std::string::npos);  // the address stays plain
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
  auto bad = message();
  bad.to = "not an address";
  CHECK_FALSE(box.send(bad));  // refused: nothing written
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

TEST_CASE("sign-in e-mails say how long their link works - as the accounts were configured") {
  namespace account = portico::domain::account;
  namespace dom = portico::domain;
  auto text_of = [](account::Purpose purpose, dom::TimeUs valid_for, std::string token = "tok") {
    const portico::service::Mailing m{"ann@example.com", std::move(token), purpose, "acme", "Ann",
                                      valid_for};
    return mail::sign_in_message(m, "Acme", "https://help.acme.test/", "support@acme.test").text;
  };
  auto says = [](const std::string& text, const std::string& words) {
    CAPTURE(text);
    return text.find(words) != std::string::npos;
  };
  CHECK(says(text_of(account::Purpose::magic_link, 15 * 60 * dom::kSecond), "within 15 minutes"));
  CHECK(says(text_of(account::Purpose::magic_link, 60 * dom::kSecond), "within 1 minute."));
  CHECK(says(text_of(account::Purpose::password_reset, dom::kHour), "within 1 hour,"));
  CHECK(
      says(text_of(account::Purpose::password_reset, 90 * 60 * dom::kSecond), "within 90 minutes"));
  CHECK(says(text_of(account::Purpose::verify_email, dom::kDay), "within 24 hours."));
  CHECK(says(text_of(account::Purpose::verify_email, 3 * dom::kDay), "within 3 days."));
  CHECK(says(text_of(account::Purpose::magic_link, 1), "within 1 minute."));  // never "0"
  // The link goes to the project's page for the purpose, with the token.
  CHECK(says(text_of(account::Purpose::magic_link, dom::kHour),
             "https://help.acme.test/p/acme/auth/magic?token=tok"));
  CHECK(says(text_of(account::Purpose::password_reset, dom::kHour),
             "https://help.acme.test/p/acme/auth/reset?token=tok"));
  // "You already have an account": no token, no time, a link to the reset page.
  const auto exists = text_of(account::Purpose::verify_email, 0, "");
  CHECK_FALSE(says(exists, "within"));
  CHECK(says(exists, "https://help.acme.test/p/acme/auth/reset\n"));
}

TEST_CASE("names in e-mails are one bounded line without control or direction characters") {
  namespace account = portico::domain::account;
  // A name as a registrant could have stored it before names were checked.
  const std::string evil =
      "Eve\r\n\r\nYour account is locked. Call +1 555 0100\xe2\x80\xae now\x1b";
  const portico::service::Mailing m{"ann@example.com",
                                    "tok",
                                    account::Purpose::magic_link,
                                    "acme",
                                    evil,
                                    15 * 60 * portico::domain::kSecond};
  const auto msg = mail::sign_in_message(m, "Acme\nSupport", "https://x.test", "s@x.test");
  CAPTURE(msg.text);
  CHECK(msg.text.starts_with("Hello Eve Your account is locked. Call +1 555 0100 now,\n"));
  CHECK(msg.text.find("\xe2\x80\xae") == std::string::npos);
  CHECK(msg.text.find('\x1b') == std::string::npos);
  CHECK(msg.text.find("\n\nYour account") == std::string::npos);
  CHECK(msg.subject == "Your sign-in link for Acme Support");
  // Bounded: 64 characters at most, cut with an ellipsis.
  CHECK(mail::name_text(std::string(200, 'n')) == std::string(63, 'n') + "\xe2\x80\xa6");
  CHECK(mail::name_text("  Ann \t Lee  ") == "Ann Lee");
  CHECK(mail::name_text("bad \xff byte") == "bad \xef\xbf\xbd byte");
  CHECK(mail::name_text("\xe2\x80\x8f\xe2\x81\xa6") == "");
  // In a header too: no line of its own, no direction characters inside encoded words.
  auto header_msg = message();
  header_msg.from_name = "Acme\xc2\x85\xe2\x80\xae Support\r\nBcc: x@evil.test";
  auto text = mail::format_rfc5322(header_msg, "<id@x>", "Mon, 1 Jan 2024 00:00:00 +0000");
  REQUIRE(text);
  CHECK(text->find("\r\nBcc:") == std::string::npos);
  CHECK(text->find("\xe2\x80\xae") == std::string::npos);
  CHECK(mail::name_text(header_msg.from_name, std::string::npos) ==
        "Acme Support Bcc: x@evil.test");
}
