// portico::mail::Smtp — a Transport that hands each message to an SMTP server (libcurl).
//
// `smtp://HOST:PORT` upgrades to TLS with STARTTLS when the server offers it (and, with
// `require_tls`, refuses to send in the clear); `smtps://HOST:PORT` speaks TLS from the first
// byte. Certificates are verified (the system's trust store, or `ca_file`). Connections are kept
// open and reused: a batch of deliveries costs one connection, not one per message.
//
// What a failure means, for whoever retries (Deliverer, the sign-in routes):
//   unavailable       temporary: the server could not be reached, TLS failed, it answered 4xx,
//                     or it refused this server's setup (5xx at the greeting, EHLO, STARTTLS,
//                     AUTH, MAIL FROM or DATA: the operator's to fix; nothing is lost);
//   invalid_request   permanent: the server answered 5xx to the recipient (no such mailbox:
//                     sending it again changes nothing), or the message is malformed.
// With `user` set, TLS is required whatever `require_tls` says: credentials never go in the
// clear (a man in the middle could strip STARTTLS from the server's answer).
//
// Thread safety: send() may be called from several threads at once; each call uses a
// connection of its own (idle ones are kept for the next calls).
#pragma once

#include <chrono>
#include <memory>
#include <portico/mail/mail.hpp>
#include <string>

namespace portico::mail {

struct SmtpOptions {
  std::string url;           // smtp://host:port or smtps://host:port
  bool require_tls = false;  // smtp://: send only over STARTTLS
  std::string user;          // with `password`: AUTH (PLAIN or LOGIN, as the server offers)
  std::string password;
  std::string ca_file;  // a PEM bundle to trust instead of the system's (a private CA)
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{60'000};  // one message, connection included
  std::size_t idle_connections = 4;           // kept open for the next messages
};

// The URL as Smtp accepts it, or invalid_request naming what is wrong (a scheme other than
// smtp/smtps, no host, a path): checked when the server starts, not at the first e-mail.
Result<void> check_smtp_url(std::string_view url);

class Smtp final : public Transport {
 public:
  explicit Smtp(SmtpOptions options);  // check_smtp_url(options.url) first
  ~Smtp() override;
  Smtp(const Smtp&) = delete;
  Smtp& operator=(const Smtp&) = delete;

  Result<void> send(const Message& message) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::mail
