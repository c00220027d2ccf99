// portico::http::Server — the HTTP/1.1 server: a listener, one session per connection, and a
// worker pool that runs the (socket-free) handler.
//
// I/O runs on `io_threads` threads (one per core by default); handlers of writes run on `workers`
// threads, because a command waits for its fsync and must not hold an I/O thread meanwhile. GET
// and HEAD are answered on the I/O thread that read them (`reads_on_io_threads`): a handler must
// then not wait on anything slow for a read. A connection
// answers its requests in order (keep-alive and pipelining: requests sent back to back are read
// from the same buffer one after the other). Every read and write has a deadline; the request
// line and headers are limited to `header_limit` bytes (431 otherwise) and a body to `body_limit`
// (413); malformed HTTP gets 400; each then closes the connection.
//
// stop() is graceful: the listener closes, idle connections close, and requests being handled
// are answered (with "Connection: close") before their connection closes; wait() returns when
// all of that is done.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <portico/http/router.hpp>
#include <portico/result.hpp>
#include <portico/warning.hpp>
#include <string>
#include <vector>

namespace portico::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;  // 0: any free port (see Server::port)
  unsigned io_threads = 0;     // 0: one per core
  unsigned workers = 64;
  // GET and HEAD handled on the I/O threads (no hand-off to the pool and back); false sends every
  // request to the pool, for a handler whose reads may block.
  bool reads_on_io_threads = true;
  std::size_t header_limit = 16 * 1024;
  std::size_t body_limit = 1024 * 1024;
  // For the request line and headers, from the request's first byte (and for a TLS handshake):
  // a client that sends them slowly (slowloris) holds its connection this long at most.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds read_timeout{30'000};   // for a request's body
  std::chrono::milliseconds idle_timeout{120'000};  // between requests on a kept-alive connection
  std::chrono::milliseconds write_timeout{30'000};
  // Connections open at once; one more is closed at once (the client may retry later).
  std::size_t max_connections = 10'000;
  // Connections open at once from one client address (an IPv6 address by its /64; trusted
  // proxies are not capped); one more is closed at once. 0: no cap.
  std::size_t max_connections_per_address = 100;
  // One JSON line per request (time, remote, method, target, status, bytes, duration); null: none.
  std::FILE* access_log = nullptr;
  // HTTPS when both are set: a PEM certificate chain and its private key (TLS 1.2 and later).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Reverse proxies whose X-Forwarded-For is believed (CIDRs: "10.0.0.0/8", "::1"): a request
  // from one of them is from the rightmost address in that header that is not one of them
  // (Peer::address). From anyone else the header is ignored. An invalid range fails start().
  std::vector<std::string> trusted_proxies;
  // Added to every response that does not set them itself (security headers, say).
  std::vector<std::pair<std::string, std::string>> headers;
  // Told when a handler throws (its client gets 500 internal): one line, from the threads that
  // run handlers, several at once (portico/warning.hpp). Empty: the default, standard error.
  WarningSink on_warning = warn_on_stderr;
};

// Handles one request; called from worker threads and (reads) I/O threads, several at once.
using RequestHandler = std::function<Response(const Request&, const Peer&)>;

class Server {
 public:
  Server(RequestHandler handler, ServerOptions options);
  ~Server();  // stops and waits
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the threads. Errors: errc::kUnavailable with the reason (address in
  // use).
  Result<void> start();
  // The port actually bound (after start()).
  unsigned short port() const noexcept;
  void stop();
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portico::http
