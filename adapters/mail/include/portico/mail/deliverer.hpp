// portico::mail::Deliverer — sends the e-mails the outbox holds (PRODUCT.md, "E-mail").
//
// It takes the deliveries that are due (portico::projections::Outbox), composes each from the
// ticket as it is now — a link to the ticket and its last 5 public messages as context — sends
// it through a Transport and marks it delivered, or failed (the outbox retries it with backoff).
// A recipient who can no longer read the ticket gets nothing (the delivery is dropped).
//
// Thread safety: start()/stop() from the owner; deliver_due() from one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <portico/clock.hpp>
#include <portico/mail/mail.hpp>
#include <portico/projections/outbox.hpp>
#include <portico/service/portal.hpp>
#include <portico/warning.hpp>
#include <string>
#include <thread>

namespace portico::mail {

struct DelivererOptions {
  std::string base_url = "http://127.0.0.1:8080";  // links: {base_url}/p/{project}/tickets/{n}
  std::string from_address = "support@portico.invalid";
  std::chrono::milliseconds poll{250};
  Clock clock;  // portico/clock.hpp; the system clock when empty
  // Signs the survey link of a feedback e-mail (portico::service::survey_token; the HTTP App
  // must hold the same secret). Empty: the e-mail points to the ticket's page instead.
  std::string secret;
  // Told of a delivery given up (its last attempt of Outbox::kMaxAttempts failed: parked as
  // dead) and, from the thread of start(), of a deliver_due that failed (the outbox's own
  // bookkeeping). Called from the thread that delivers (portico/warning.hpp); empty: the default.
  WarningSink on_warning = warn_on_stderr;
  // The wait after a delivery's first temporary failure, doubled at each next one (at most 6 h;
  // dead after Outbox::kMaxAttempts). A delivery the mail server refused (5xx) is dead at once.
  domain::TimeUs first_retry = projections::Outbox::kFirstRetry;
};

struct DeliveryCount {
  std::size_t sent = 0;
  std::size_t failed = 0;
  std::size_t dropped = 0;  // the recipient may no longer read the ticket, or it is gone
};

// The code compose() answers when nobody is to be told (the recipient may not read the ticket).
inline constexpr std::string_view kNoReader = "no_reader";

// The Message-ID of a ticket's first e-mail ("ticket-N.PROJECT@HOST", HOST the base URL's, so
// that two installations never share one): every later e-mail of the ticket names it in
// In-Reply-To and References. Each e-mail's own is "{delivery}.PROJECT@HOST".
std::string ticket_message_id(std::string_view project, std::uint64_t ticket,
                              std::string_view base_url);
// The right-hand side of Portico's Message-IDs: the base URL's host name.
std::string message_id_domain(std::string_view base_url);

// The e-mail for one delivery, from the ticket and project as they are now; kNoReader when the
// recipient may not read the ticket.
Result<Message> compose(const projections::Delivery& delivery, service::Portal& portal,
                        const DelivererOptions& options);

class Deliverer {
 public:
  // Everything must outlive the Deliverer.
  Deliverer(log::Log& log, service::Portal& portal, Transport& transport,
            DelivererOptions options = {});
  ~Deliverer();  // stops
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // Sends what is due now (at most `limit`). After a round that the transport failed, rounds
  // send nothing for a pause (first_retry, doubling with each failed round, at most 10 min).
  Result<DeliveryCount> deliver_due(std::size_t limit = 100);
  // A thread that calls deliver_due every `poll`.
  void start();
  void stop();

 private:
  domain::TimeUs now() const;

  projections::Outbox outbox_;
  service::Portal& portal_;
  Transport& transport_;
  DelivererOptions options_;
  std::atomic<bool> stopping_{false};
  // After a transport failure: no round before paused_until_ (deliver_due's thread only).
  std::uint32_t transport_failures_ = 0;
  domain::TimeUs paused_until_ = 0;
  std::thread thread_;
};

}  // namespace portico::mail
