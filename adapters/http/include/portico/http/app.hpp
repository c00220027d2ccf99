// portico::http::App — Portico's HTTP API (../shared/API.md) over a log, its command handler and
// its read models: the route table, the JSON mapping and the metrics. Socket-free: handle() takes
// a request and returns the response, so it is tested without a network and served by Server.
//
// An embedding program may add routes of its own to router() before serving.
// Thread safety: handle() may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <portico/http/router.hpp>
#include <portico/log/log.hpp>
#include <portico/mail/mail.hpp>
#include <portico/oidc/provider.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/accounts.hpp>
#include <portico/service/portal.hpp>
#include <portico/warning.hpp>
#include <string>

namespace portico::http {

// A token bucket: `burst` requests at once, then `per_minute` more each minute.
struct RateLimit {
  double burst = 10;
  double per_minute = 1;
};

// Rate limits of the sign-in routes (429 with Retry-After): per client address over all of them
// (an IPv6 address by its /64), per account for password attempts, and per e-mail address for
// the e-mails a route sends.
//
// Wrong passwords count twice: per (account, client address), and per account over every
// address that has not signed in to it before (in the last 30 days). A stranger thus drains
// only their own (account, address) budget; guesses from many addresses drain the account's,
// which still leaves the owner the addresses they signed in from and, for customers, the
// e-mailed links (whose budget wrong passwords never touch).
struct SignInLimits {
  RateLimit per_address{30, 30};
  RateLimit failed_passwords{10, 1};          // wrong passwords per account and client address
  RateLimit failed_passwords_account{50, 2};  // per account, from addresses it never used
  RateLimit mails{5, 0.2};                    // sign-in e-mails per address (one per 5 min after 5)
  // Sign-in e-mails being sent at once while their request waits (a magic link goes out before
  // the answer): past this, 503 at once, so a slow mail server cannot hold every worker.
  std::size_t concurrent_mails = 8;
  // Buckets kept per table (client addresses, accounts, e-mail addresses); buckets that are full
  // again are dropped by age, one that still counts never is: past this many, a new key gets 429.
  std::size_t max_keys = 100'000;
};

// The Idempotency-Key cache (docs/api.md "Idempotency-Key"): bounded by entries and bytes, with a
// quota per caller (a caller's many keys evict their own oldest, never someone else's).
struct IdempotencyLimits {
  std::size_t max_entries = 20'000;
  std::size_t max_bytes = 64u << 20;          // of answers kept, over all callers
  std::size_t max_answer_bytes = 256u << 10;  // a larger answer is not kept (a retry acts again)
  std::size_t per_owner = 256;                // keys per caller (a session's customer or staff
                                              // member, or a client address without one)
  std::chrono::milliseconds wait{30'000};     // a retry waits this long, in all, for the first
  std::chrono::hours keep_for{24};
};

struct AppOptions {
  // Links in e-mails and invite URLs start with it. Session cookies get `Secure` when it is
  // https or the request came over TLS.
  std::string base_url = "http://127.0.0.1:8080";
  // Where sign-in e-mails go (magic links, verification, password reset); null: the routes that
  // send one answer 503.
  mail::Transport* mail = nullptr;
  std::string mail_from = "support@portico.invalid";
  service::AccountsOptions accounts;
  SignInLimits limits;
  IdempotencyLimits idempotency;
  // Signs the survey links of feedback e-mails (portico::service::survey_token); a fresh random
  // key when empty (links then stop working at a restart: portico-server keeps one on disk).
  std::string secret;
  // Changes (POST, PUT, PATCH, DELETE) per signed-in caller on the ticket, notification and staff
  // routes (429 rate_limited with Retry-After past it). A retry answered from the Idempotency-Key
  // cache costs nothing.
  RateLimit writes{120, 60};
  // When not empty, GET /metrics answers only a request with "Authorization: Bearer <this>"
  // (401 otherwise): the route counts and latencies are for the operator (review L7).
  std::string metrics_token;
  // What bounds a ticket: the App hands them to the Portal it serves (set_ticket_limits).
  domain::ticket::Limits tickets;
  // The identity providers customers may sign in with (the configuration file's [oidc.NAME]
  // sections, oidc::provider_config); a project offers those its sign_in list names.
  std::vector<oidc::ProviderConfig> providers;
  // Told when a sign-in e-mail sent after its answer (registration, password reset) did not go
  // out: one line, from the App's background thread (portico/warning.hpp). Empty: the default,
  // standard error.
  WarningSink on_warning = warn_on_stderr;
};

class App {
 public:
  // `log`, `portal` and `views` must outlive the App.
  App(log::Log& log, service::Portal& portal, projections::Views& views, AppOptions options = {});
  ~App();

  Response handle(const Request& request, const Peer& peer = {"127.0.0.1", false});
  Router& router();
  // The base URL of links, once known (a server bound to port 0 learns its port after starting).
  void set_base_url(std::string base_url);
  // Sign-in and sessions, for an embedding program's own routes (and portico-admin's staff).
  service::Accounts& accounts();
  // Prometheus text format: requests and latency by route, and the log's counters.
  std::string metrics() const;
  // Blocks until the work queued after earlier answers is done: the registration and password
  // reset e-mails, which go out after their request was answered (tests; a graceful stop).
  void flush();

  struct Impl;  // opaque: the route files of adapters/http share it

 private:
  std::unique_ptr<Impl> impl_;
};

// The headers every answer carries (ServerOptions::headers).
std::vector<std::pair<std::string, std::string>> security_headers();

}  // namespace portico::http
