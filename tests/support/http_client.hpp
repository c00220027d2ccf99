// A small blocking HTTP/1.1 client over 127.0.0.1 for the server tests (Beast, synchronous).
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace portico::test {

namespace http_client {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Response = beast::http::response<beast::http::string_body>;

// One connection; requests on it are kept alive until close().
class Connection {
 public:
  explicit Connection(unsigned short port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  // From another loopback address (127.0.0.2, …: all of 127/8 is this machine): another client.
  Connection(unsigned short port, const std::string& from) : socket_(ioc_) {
    socket_.open(tcp::v4());
    socket_.bind(tcp::endpoint(asio::ip::make_address(from), 0));
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  Response request(beast::http::verb method, const std::string& target,
                   const std::string& body = {},
                   const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    beast::http::request<beast::http::string_body> req{method, target, 11};
    req.set(beast::http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
      if (req[beast::http::field::content_type].empty()) {
        req.set(beast::http::field::content_type, "application/json");
      }
      req.body() = body;
    }
    req.prepare_payload();
    beast::http::write(socket_, req);
    return read();
  }

  // Sends raw bytes as they are (malformed requests, pipelining).
  void send(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  Response read() {
    Response res;
    beast::http::read(socket_, buffer_, res);
    return res;
  }

  // Reads one answer with a parser of the caller's (a HEAD answer needs parser.skip(true)).
  template <class Parser>
  void read_with(beast::flat_buffer& buffer, Parser& parser) {
    if (buffer_.size() > 0) {
      auto data = buffer_.data();
      buffer.commit(asio::buffer_copy(buffer.prepare(data.size()), data));
      buffer_.consume(buffer_.size());
    }
    beast::http::read(socket_, buffer, parser);
  }

  // True when the server closes the connection within `bound` (a bound far above what the
  // server is configured to take, so that only a server that never closes it fails).
  bool closed_by_server_within(std::chrono::seconds bound) {
    timeval tv{static_cast<time_t>(bound.count()), 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return closed_by_server();
  }

  // True when the server closed the connection (a read finds the end of the stream).
  bool closed_by_server() {
    beast::error_code ec;
    char c;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

inline Response get(unsigned short port, const std::string& target,
                    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  Connection c(port);
  return c.request(beast::http::verb::get, target, {}, headers);
}

inline boost::json::value json(const Response& r) { return boost::json::parse(r.body()); }
inline std::string error_code(const Response& r) {
  return std::string(json(r).at("error").at("code").as_string());
}
}  // namespace http_client

}  // namespace portico::test
