// portico::mail — outgoing e-mail: a message, a transport, and the templates Portico sends.
//
// Transports: MailDir (development: each message one RFC 5322 .eml file, written atomically)
// and Smtp (portico/mail/smtp.hpp). A transport is safe to call from several threads at once.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <portico/result.hpp>
#include <string>
#include <vector>

namespace portico::mail {

struct Message {
  std::string from_name;     // "Acme Support"; quoted or RFC 2047-encoded in the header
  std::string from_address;  // one addr-spec
  std::string to;            // one addr-spec
  std::string subject;       // UTF-8; control characters become spaces, encoded as RFC 2047 needs
  std::string text;          // UTF-8 plain text; lines end in '\n'
  std::string message_id;    // stable across retries when set (a fresh one otherwise)
  // The Message-ID this one follows (In-Reply-To and References): a ticket's e-mails all name
  // its first one, so mail clients show them as one conversation. Empty: none.
  std::string in_reply_to;
};

// One plain addr-spec (local@domain): no list, no display name, no white space or quotes.
bool valid_address(std::string_view address);

class Transport {
 public:
  virtual ~Transport() = default;
  // Errors: invalid_request (an address that is not one addr-spec, text that is not UTF-8),
  // unavailable (the transport failed; nothing was sent).
  virtual Result<void> send(const Message& message) = 0;
};

// Writes each message into `dir` as "<time>-<random>.eml": first to a hidden temporary file,
// synced, then renamed, so a reader never sees half a message.
class MailDir final : public Transport {
 public:
  explicit MailDir(std::filesystem::path dir);
  Result<void> send(const Message& message) override;
  const std::filesystem::path& directory() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
};

// The message as RFC 5322 text (CRLF line ends, MIME text/plain UTF-8, quoted-printable body).
Result<std::string> format_rfc5322(const Message& message, const std::string& message_id,
                                   const std::string& date);

// The message as it goes out now: RFC 5322 text dated now, its own Message-ID or a fresh one
// "<unique>@portico" (`unique` is also the name MailDir gives the file).
struct Outgoing {
  std::string text;
  std::string unique;
};
Result<Outgoing> format_now(const Message& message);

// A person's or a project's name as it may appear in an e-mail, in its text or a header: one line
// (control, separator and bidirectional characters become spaces, runs of white space one, ends
// trimmed; invalid UTF-8 becomes U+FFFD), at most `max_chars` characters (longer ones end in
// "…"). Names come from whoever registered, and mails go to addresses nobody has proven: they
// must not carry lines of their own (security review L6).
inline constexpr std::size_t kMaxNameInMail = 64;
std::string name_text(std::string_view name, std::size_t max_chars = kMaxNameInMail);

// Fills "{{name}}" placeholders from `values`; an unknown placeholder stays as it is.
std::string render(std::string_view text, const std::map<std::string, std::string>& values);

}  // namespace portico::mail
