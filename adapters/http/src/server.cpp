// The Beast side: listener, sessions, the worker pool (the three roles of Beast's examples).
#include <sys/resource.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <portico/clock.hpp>
#include <portico/errc.hpp>
#include <portico/http/json.hpp>
#include <portico/http/server.hpp>
#include <portico/log/types.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "limits.hpp"

namespace portico::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

std::string now_rfc3339() { return log::format_time_us(system_clock_us()); }

// The target with secrets left out: the segment after /invite/ (the landing page), /invites/
// or /surveys/, and the values of query parameters that carry one (token=, code=, state=, and
// any name ending in "token"), whatever their case.
std::string redact(std::string_view target) {
  std::string out(target);
  std::string lower(target);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto blank = [&](std::size_t begin, std::size_t end) {
    constexpr std::string_view kRedacted = "[redacted]";
    out.replace(begin, end - begin, kRedacted);
    lower.replace(begin, end - begin, kRedacted);
  };
  const auto query = std::min(out.find('?'), out.size());
  for (std::string_view marker : {"/invite/", "/invites/", "/surveys/", "/survey/"}) {
    for (auto at = lower.find(marker); at != std::string::npos && at < query;
         at = lower.find(marker, at + 1)) {
      const auto begin = at + marker.size();
      const auto end = std::min(out.find_first_of("/?", begin), out.size());
      if (end > begin) blank(begin, end);
    }
  }
  // Query parameters, one by one.
  for (auto at = out.find('?'); at != std::string::npos && at < out.size();) {
    const auto begin = at + 1;
    const auto end = std::min(out.find('&', begin), out.size());
    const auto eq = out.find('=', begin);
    if (eq != std::string::npos && eq < end) {
      const std::string_view name = std::string_view(lower).substr(begin, eq - begin);
      if (name == "code" || name == "state" || name.ends_with("token")) {
        blank(eq + 1, end);
      }
    }
    at = out.find('&', begin);
  }
  return out;
}

}  // namespace

struct Server::Impl {
  RequestHandler handler;
  ServerOptions options;
  asio::io_context ioc;
  std::optional<asio::thread_pool> pool;
  tcp::acceptor acceptor{asio::make_strand(ioc)};  // closed by stop() on its own strand
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::mutex log_mu;

  std::optional<asio::ssl::context> tls;  // set when serving HTTPS
  std::vector<detail::Cidr> proxies;      // options.trusted_proxies, parsed
  std::mutex per_address_mu;
  std::unordered_map<std::string, std::size_t> per_address;  // open connections by address_key
  // Counts a connection from `key`; false when that address is at its cap.
  bool admit(const std::string& key) {
    std::lock_guard lock(per_address_mu);
    auto& n = per_address[key];
    if (options.max_connections_per_address > 0 && n >= options.max_connections_per_address) {
      if (n == 0) per_address.erase(key);
      return false;
    }
    ++n;
    return true;
  }
  void release(const std::string& key) {
    std::lock_guard lock(per_address_mu);
    auto it = per_address.find(key);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
  }

  struct SessionBase {
    virtual ~SessionBase() = default;
    virtual void stop() = 0;
  };
  template <class Stream>
  class Session;
  std::mutex sessions_mu;
  std::vector<std::weak_ptr<SessionBase>> sessions;

  void accept();
  void log_access(const std::string& remote, const std::string& client, const Request* req,
                  unsigned status, std::size_t bytes, std::chrono::steady_clock::time_point start);
};

// One connection. `Stream` is beast::tcp_stream (HTTP) or ssl_stream over it (HTTPS); the rest
// is the same.
template <class Stream>
class Server::Impl::Session : public SessionBase,
                              public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  ~Session() override {
    --server_.connections;
    if (!address_key_.empty()) server_.release(address_key_);
  }

  // `address_key`: the client address this connection counts against ("" for none).
  template <class... Args>
  Session(tcp::socket socket, Impl& server, std::string address_key, Args&&... args)
      : stream_(std::move(socket), std::forward<Args>(args)...),
        server_(server),
        address_key_(std::move(address_key)) {
    ++server_.connections;
    boost::system::error_code ec;
    auto ep = tcp_layer().socket().remote_endpoint(ec);
    if (!ec) {
      peer_.address = ep.address().to_string();
      remote_ = peer_.address + ":" + std::to_string(ep.port());
    }
    peer_.tls = kTls;
  }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->server_.stopping) return self->tcp_layer().close();
      if constexpr (kTls) {
        self->tcp_layer().expires_after(self->server_.options.header_timeout);
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->close();
          self->read();
        });
      } else {
        self->read();
      }
    });
  }

  // Closes the connection if it is waiting for a request; otherwise it closes after answering.
  void stop() override {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->keep_alive_ = false;
      boost::system::error_code ec;  // already closed: nothing to cancel
      if (!self->busy_) {
        self->tcp_layer().socket().cancel(ec);
      } else {
        // A slow client must not hold the stop up: what it still sends or reads gets 5 s.
        self->tcp_layer().expires_after(std::chrono::seconds(5));
      }
    });
  }

 private:
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  void read() {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
    parser_->body_limit(server_.options.body_limit);
    if (first_ || buffer_.size() > 0) {
      // A new connection, or the next request already (partly) here: the read deadline.
      first_ = false;
      return read_header();
    }
    // Between requests of a kept-alive connection the idle deadline applies, until the next
    // request's first bytes arrive; from then on it has the read deadline like any other.
    tcp_layer().expires_after(server_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->on_error(ec);
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    tcp_layer().expires_after(server_.options.header_timeout);
    beast::http::async_read_header(stream_, buffer_, *parser_,
                                   [self = this->shared_from_this()](
                                       beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_error(ec);
    // Framing that another hop could read differently is refused (request smuggling): a
    // Transfer-Encoding other than exactly "chunked", or one on HTTP/1.0; and HTTP/1.1 needs
    // exactly one Host.
    const auto& h = parser_->get();
    const auto te = h[beast::http::field::transfer_encoding];
    const auto hosts = h.count(beast::http::field::host);
    if ((!te.empty() && (!beast::iequals(te, "chunked") || h.version() < 11)) ||
        (h.version() >= 11 && hosts != 1) || hosts > 1) {
      return refuse(400, errc::kInvalidRequest, "the request's framing or Host header is invalid");
    }
    // The body has a read deadline of its own.
    busy_ = true;
    start_ = std::chrono::steady_clock::now();
    tcp_layer().expires_after(server_.options.read_timeout);
    // "Expect: 100-continue": the client waits for a go-ahead before sending the body (curl does
    // so for bodies over 1 KiB). A body announced too large is refused without one.
    if (h.version() >= 11 && beast::iequals(h[beast::http::field::expect], "100-continue") &&
        !parser_->is_done()) {
      if (auto length = parser_->content_length(); length && *length > server_.options.body_limit) {
        return refuse(413, errc::kTooLarge, "the body is larger than the server takes");
      }
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = this->shared_from_this()](beast::error_code e, std::size_t) {
                                 if (e) return self->on_error(e);
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    beast::http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_error(ec);
    auto request = std::make_shared<Request>(parser_->release());
    keep_alive_ = keep_alive_ && request->keep_alive() && !server_.stopping;
    const auto method = request->method();
    // Behind a trusted proxy the client is the one it names.
    Peer peer = peer_;
    if (!server_.proxies.empty()) {
      std::vector<std::string_view> forwarded;
      for (auto it = request->find("X-Forwarded-For");
           it != request->end() && beast::iequals(it->name_string(), "X-Forwarded-For"); ++it) {
        forwarded.push_back(it->value());
      }
      peer.address = detail::forwarded_client(peer_.address, server_.proxies, forwarded);
    }
    client_ = peer.address;
    if (server_.options.reads_on_io_threads &&
        (method == beast::http::verb::get || method == beast::http::verb::head)) {
      // Reads wait for nothing: answered here, without two hand-offs between threads.
      Response response = respond(*request, peer);
      return write(std::move(request), std::move(response));
    }
    // The handler runs on the pool; the guard keeps the I/O threads waiting for its answer.
    asio::post(*server_.pool, [self = this->shared_from_this(), request, peer,
                               guard = asio::make_work_guard(server_.ioc)] {
      Response response = self->respond(*request, peer);
      asio::post(self->stream_.get_executor(),
                 [self, request, response = std::move(response)]() mutable {
                   self->write(std::move(request), std::move(response));
                 });
    });
  }

  Response respond(const Request& request, const Peer& peer) {
    Response response;
    try {
      if (request.method() == beast::http::verb::head) {
        // HEAD is GET without the body: the same status and headers, Content-Length included.
        Request get = request;
        get.method(beast::http::verb::get);
        response = server_.handler(get, peer);
      } else {
        response = server_.handler(request, peer);
      }
      response.prepare_payload();  // throws on a body where the status allows none
    } catch (const std::exception& e) {
      response = error_response(request, 500, errc::kInternal, "the server failed to answer");
      server_.options.on_warning(std::string("http server: a handler threw: ") + e.what());
    } catch (...) {
      response = error_response(request, 500, errc::kInternal, "the server failed to answer");
      server_.options.on_warning("http server: a handler threw something unknown");
    }
    return response;
  }

  void refuse(unsigned status, std::string_view code, std::string_view message) {
    Request bare{beast::http::verb::get, "/", 11};
    bare.keep_alive(false);
    keep_alive_ = false;
    drain_ = true;
    busy_ = true;
    if (start_ == std::chrono::steady_clock::time_point{})
      start_ = std::chrono::steady_clock::now();
    write(nullptr, error_response(bare, status, code, message));
  }

  void on_error(beast::error_code ec) {
    using he = beast::http::error;
    if (ec == he::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    // A request that breaks a limit or is not HTTP: say so, then close.
    Request bare{beast::http::verb::get, "/", 11};
    bare.keep_alive(false);
    Response response;
    if (ec == he::body_limit) {
      response =
          error_response(bare, 413, errc::kTooLarge, "the body is larger than the server takes");
    } else if (ec == he::header_limit || ec == he::buffer_overflow) {
      response = error_response(bare, 431, errc::kHeadersTooLarge,
                                "the request line and headers are larger than the server takes");
    } else {
      response =
          error_response(bare, 400, errc::kInvalidRequest, "malformed HTTP: " + ec.message());
    }
    keep_alive_ = false;
    drain_ = true;
    busy_ = true;
    if (start_ == std::chrono::steady_clock::time_point{})
      start_ = std::chrono::steady_clock::now();
    write(nullptr, std::move(response));
  }

  void write(std::shared_ptr<Request> request, Response response) {
    response.keep_alive(keep_alive_);
    // The server's headers unless the handler chose its own (a page's policy, a file's caching).
    for (const auto& [name, value] : server_.options.headers) {
      if (response.find(name) == response.end()) response.set(name, value);
    }
    response.set(beast::http::field::server, "portico");
    // Over HTTPS, browsers are told to come back only over HTTPS (a year).
    if constexpr (kTls) {
      response.set(beast::http::field::strict_transport_security, "max-age=31536000");
    }
    response.prepare_payload();
    if (request && request->method() == beast::http::verb::head) {
      const auto length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    auto shared = std::make_shared<Response>(std::move(response));
    tcp_layer().expires_after(server_.options.write_timeout);
    beast::http::async_write(stream_, *shared,
                             [self = this->shared_from_this(), shared, request](
                                 beast::error_code ec, std::size_t bytes) {
                               self->server_.log_access(self->remote_, self->client_, request.get(),
                                                        shared->result_int(), bytes, self->start_);
                               self->busy_ = false;
                               self->start_ = {};
                               if (!ec && self->drain_) return self->drain();
                               if (ec || !self->keep_alive_) return self->close();
                               self->read();
                             });
  }

  // After refusing a request whose rest is still coming (a body over the limit): stop sending,
  // read and drop what the client still sends for a moment, then close. Closing at once with
  // unread data would reset the connection, and the client could lose the refusal.
  void drain() {
    drain_ = false;
    beast::error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_layer().expires_after(std::chrono::seconds(2));
    scratch_.resize(16 * 1024);
    drain_more(0);
  }
  void drain_more(std::size_t drained) {
    tcp_layer().async_read_some(asio::buffer(scratch_), [self = this->shared_from_this(), drained](
                                                            beast::error_code ec, std::size_t n) {
      if (ec || drained + n > (std::size_t{4} << 20)) return self->tcp_layer().close();
      self->drain_more(drained + n);
    });
  }

  void close() {
    if constexpr (kTls) {
      if (!closing_) {
        // Say goodbye at the TLS level first (bounded by a deadline), then close.
        closing_ = true;
        tcp_layer().expires_after(std::chrono::seconds(2));
        return stream_.async_shutdown(
            [self = this->shared_from_this()](beast::error_code) { self->tcp_layer().close(); });
      }
      return;
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.close();
    }
  }

  Stream stream_;
  Impl& server_;
  std::string address_key_;
  // Bounded: a request line, header or chunk line that does not fit is refused (Beast does not
  // count chunk extensions or trailers against its limits; the buffer would grow without end).
  beast::flat_buffer buffer_{server_.options.header_limit + 64 * 1024};
  static constexpr std::size_t kFirstRead = 4096;  // what one read between requests asks for
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  std::string remote_;
  std::string client_;  // the request's client, when a trusted proxy named another
  Peer peer_;
  bool keep_alive_ = true;
  bool busy_ = false;
  bool first_ = true;
  bool closing_ = false;
  bool drain_ = false;
  std::vector<char> scratch_;
  std::chrono::steady_clock::time_point start_{};
};

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // out of descriptors, say
      return accept();
    }
    if (connections.load() >= options.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // full: this one is turned away, the others keep their service
      return accept();
    }
    // One client may hold only so many connections (slots for everyone else stay free).
    std::string key;
    {
      boost::system::error_code peer_ec;
      const auto remote = socket.remote_endpoint(peer_ec);
      if (!peer_ec) {
        const std::string address = remote.address().to_string();
        if (options.max_connections_per_address > 0 && !detail::in_ranges(proxies, address)) {
          key = detail::address_key(address);
          if (!admit(key)) {
            boost::system::error_code ignored;
            socket.close(ignored);
            return accept();
          }
        }
      }
    }
    auto start_session = [&](auto session) {
      {
        std::lock_guard lock(sessions_mu);
        std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(session);
      }
      session->run();
    };
    if (tls) {
      start_session(std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          std::move(socket), *this, std::move(key), *tls));
    } else {
      start_session(
          std::make_shared<Session<beast::tcp_stream>>(std::move(socket), *this, std::move(key)));
    }
    accept();
  });
}

void Server::Impl::log_access(const std::string& remote, const std::string& client,
                              const Request* req, unsigned status, std::size_t bytes,
                              std::chrono::steady_clock::time_point start) {
  if (!options.access_log) return;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  boost::json::object line{{"time", now_rfc3339()},
                           {"remote", remote},
                           {"method", req ? std::string(req->method_string()) : ""},
                           {"target", req ? redact(req->target()) : ""},
                           {"status", status},
                           {"bytes", bytes},
                           {"duration_us", us}};
  if (!client.empty() && remote.rfind(client + ":", 0) != 0) line["client"] = client;
  const std::string text = boost::json::serialize(line) + "\n";
  std::lock_guard lock(log_mu);
  std::fwrite(text.data(), 1, text.size(), options.access_log);
  std::fflush(options.access_log);
}

Server::Server(RequestHandler handler, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->options = std::move(options);
  if (!impl_->options.on_warning) impl_->options.on_warning = warn_on_stderr;
  if (impl_->options.io_threads == 0) {
    impl_->options.io_threads = std::max(1u, std::thread::hardware_concurrency());
  }
}

Server::~Server() {
  stop();
  wait();
}

Result<void> Server::start() {
  Impl& s = *impl_;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(s.options.host, ec);
  if (ec) return fail(errc::kInvalidRequest, "not an IP address: " + s.options.host);
  const tcp::endpoint endpoint{address, s.options.port};
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(errc::kUnavailable, "cannot listen on " + s.options.host + ":" +
                                        std::to_string(s.options.port) + ": " + ec.message());
  }
  s.proxies.clear();
  for (const auto& range : s.options.trusted_proxies) {
    auto cidr = detail::parse_cidr(range);
    if (!cidr) {
      s.acceptor.close();
      return fail(errc::kInvalidRequest, "not an address range (CIDR): " + range);
    }
    s.proxies.push_back(*cidr);
  }
  if (!s.options.tls_cert_file.empty() || !s.options.tls_key_file.empty()) {
    s.tls.emplace(asio::ssl::context::tls_server);
    s.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    s.tls->use_certificate_chain_file(s.options.tls_cert_file, ec);
    if (!ec) s.tls->use_private_key_file(s.options.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      s.acceptor.close();
      return fail(errc::kUnavailable, "cannot use the TLS certificate " + s.options.tls_cert_file +
                                          " and key " + s.options.tls_key_file + ": " +
                                          ec.message());
    }
  }
  // Descriptors: take what the hard limit allows, and keep the connection cap below it (with
  // room for the log, the mail directory and accepts in flight).
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    if (files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &files);
      ::getrlimit(RLIMIT_NOFILE, &files);
    }
    if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur > 128) {
      s.options.max_connections =
          std::min<std::size_t>(s.options.max_connections, files.rlim_cur - 128);
    }
  }
  s.pool.emplace(s.options.workers);
  s.accept();
  for (unsigned i = 0; i < s.options.io_threads; ++i) s.threads.emplace_back([&s] { s.ioc.run(); });
  return {};
}

unsigned short Server::port() const noexcept {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Server::stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  asio::post(s.acceptor.get_executor(), [&s] {
    boost::system::error_code ec;
    s.acceptor.close(ec);
  });
  std::vector<std::shared_ptr<Impl::SessionBase>> live;
  {
    std::lock_guard lock(s.sessions_mu);
    for (auto& w : s.sessions) {
      if (auto p = w.lock()) live.push_back(std::move(p));
    }
  }
  for (auto& session : live) session->stop();
}

void Server::wait() {
  Impl& s = *impl_;
  // The I/O threads return once the listener and every connection are gone.
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  s.threads.clear();
  if (s.pool) s.pool->join();
}

}  // namespace portico::http
