// portico-thread-bench: whether a reply costs more as its ticket's thread grows. Against a
// running portico-server, it opens --tickets tickets as a customer, then posts staff replies to
// them in turn over --connections keep-alive connections until each holds more than --messages
// messages. Every request is timed and filed under the band of messages its ticket held when it
// was sent (0-499, 500-999, …), so a cost that grows with the thread shows as a slope down the
// table. Staff reply because customers' replies stop at the ticket limit (1,000 by default).
//
//   portico-thread-bench --base http://127.0.0.1:18099 --project demo
//       --customer-token TOKEN --staff-token TOKEN [--connections 64] [--tickets 50]
//       [--messages 2000] [--band 500]
//
// One client thread drives every connection (Boost.Asio), so the client takes one core at most.
// Prints a Markdown table; asserts nothing about timing (scripts/bench-http.sh runs it).
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using portico::bench::Clock;
using portico::bench::fail;
using portico::bench::grouped;
using portico::bench::quantile;

namespace {

struct Args {
  std::string host = "127.0.0.1";
  std::string port = "18099";
  std::string project = "demo";
  std::string customer_token;
  std::string staff_token;
  unsigned connections = 64;
  unsigned tickets = 50;
  unsigned messages = 2000;
  unsigned band = 500;
};

// The arguments; nullopt after --help printed the usage.
std::optional<Args> parse(int argc, char** argv) {
  Args a;
  portico::bench::ArgReader args;
  auto base = [&](std::string_view v) {
    auto url = boost::urls::parse_uri(v);
    if (!url || url->scheme() != "http" || !url->has_port())
      args.usage("--base is http://HOST:PORT");
    a.host = url->host();
    a.port = url->port();
  };
  constexpr double kMax = 1'000'000;
  args.option("--base", "http://HOST:PORT", base,
              "the running portico-server (default http://127.0.0.1:18099)")
      .option("--customer-token", "T", &a.customer_token, "a customer's bearer token")
      .required()
      .option("--staff-token", "T", &a.staff_token, "a staff member's bearer token")
      .required()
      .option("--project", "P", &a.project, "the project of both (default demo)")
      .option("--connections", "N", &a.connections, "keep-alive connections (default 64)", kMax)
      .option("--tickets", "N", &a.tickets, "tickets opened and replied to (default 50)", kMax)
      .option("--messages", "N", &a.messages,
              "messages each ticket holds at the end, at least (default 2000)", kMax)
      .option("--band", "N", &a.band, "messages per row of the table (default 500)", kMax);
  if (!args.parse(argc, argv)) return std::nullopt;
  if (a.customer_token.empty() || a.staff_token.empty()) args.usage("both tokens are needed");
  return a;
}

http::request<http::string_body> post(const Args& a, const std::string& target,
                                      const std::string& token, std::string body) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, a.host + ":" + a.port);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// Opens the tickets one at a time on a blocking connection; their numbers.
std::vector<std::uint64_t> open_tickets(const Args& a) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.connect(resolver.resolve(a.host, a.port));
  std::vector<std::uint64_t> numbers;
  beast::flat_buffer buffer;
  for (unsigned i = 0; i < a.tickets; ++i) {
    http::write(stream, post(a, "/api/v1/projects/" + a.project + "/tickets", a.customer_token,
                             R"({"subject":"A long conversation","message":"It starts here."})"));
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result_int() != 201) {
      fail(1, fmt::format("opening a ticket answered {}: {}", res.result_int(), res.body()));
    }
    numbers.push_back(boost::json::parse(res.body()).at("number").to_number<std::uint64_t>());
  }
  return numbers;
}

struct Band {
  std::vector<std::uint32_t> latencies_us;
  Clock::time_point first_done = Clock::time_point::max();
  Clock::time_point last_done = Clock::time_point::min();
  std::uint64_t errors = 0;
};

// The replies: each connection posts, waits for the answer, posts again.
class Run {
 public:
  Run(const Args& a, std::vector<std::uint64_t> numbers)
      : a_(a), numbers_(std::move(numbers)), held_(numbers_.size(), 1) {
    // Every ticket starts with its opening message, and ends with more than a_.messages.
    remaining_ = static_cast<std::uint64_t>(numbers_.size()) * a_.messages;
    bands_.resize((a_.messages + a_.band - 1) / a_.band);  // the last one takes the rest
  }

  void go() {
    tcp::resolver resolver(io_);
    const auto endpoints = resolver.resolve(a_.host, a_.port);
    for (unsigned i = 0; i < a_.connections; ++i) {
      auto c = std::make_shared<Connection>(io_);
      c->stream.connect(endpoints);
      c->stream.socket().set_option(tcp::no_delay(true));
      next(c);
    }
    io_.run();
  }

  void print() const {
    for (std::size_t b = 0; b < bands_.size(); ++b) {
      Band band = bands_[b];
      if (band.latencies_us.empty()) continue;
      const double seconds =
          std::chrono::duration<double>(band.last_done - band.first_done).count();
      const auto count = band.latencies_us.size();
      const std::size_t last = b + 1 == bands_.size() ? a_.messages : (b + 1) * a_.band - 1;
      fmt::print("| {} | {}–{} | {} | {} | {:.2f} | {:.2f} | {} |\n", a_.connections, b * a_.band,
                 last, grouped(std::uint64_t{count}), grouped(portico::bench::rate(count, seconds)),
                 quantile(band.latencies_us, 0.50) / 1000.0,
                 quantile(band.latencies_us, 0.99) / 1000.0, band.errors);
    }
  }

 private:
  struct Connection {
    explicit Connection(asio::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;
    Clock::time_point sent;
    std::size_t band = 0;
  };

  void next(const std::shared_ptr<Connection>& c) {
    if (remaining_ == 0) {
      beast::error_code ignored;
      c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    --remaining_;
    const std::size_t t = turn_++ % numbers_.size();
    c->band = std::min<std::size_t>(held_[t] / a_.band, bands_.size() - 1);
    ++held_[t];
    c->request = post(
        a_, fmt::format("/api/v1/staff/projects/{}/tickets/{}/messages", a_.project, numbers_[t]),
        a_.staff_token,
        R"({"body":"Thank you - one more question about the logs.","internal":false})");
    c->response = {};
    c->sent = Clock::now();
    http::async_write(c->stream, c->request, [this, c](beast::error_code wrote, std::size_t) {
      if (wrote) fail(1, "write: " + wrote.message());
      http::async_read(
          c->stream, c->buffer, c->response, [this, c](beast::error_code ec, std::size_t) {
            if (ec) fail(1, "read: " + ec.message());
            const auto done = Clock::now();
            Band& b = bands_[c->band];
            b.latencies_us.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(done - c->sent).count()));
            b.first_done = std::min(b.first_done, done);
            b.last_done = std::max(b.last_done, done);
            if (c->response.result_int() != 201) ++b.errors;
            next(c);
          });
    });
  }

  const Args& a_;
  asio::io_context io_;
  std::vector<std::uint64_t> numbers_;
  std::vector<std::uint64_t> held_;  // messages each ticket holds once the requests sent land
  std::uint64_t remaining_ = 0;
  std::uint64_t turn_ = 0;
  std::vector<Band> bands_;
};

}  // namespace

int main(int argc, char** argv) {
  portico::bench::g_program = "portico-thread-bench";
  try {
    const std::optional<Args> a = parse(argc, argv);
    if (!a) return 0;
    Run run(*a, open_tickets(*a));
    run.go();
    run.print();
  } catch (const portico::bench::Failure& f) {
    return f.status;
  } catch (const std::exception& e) {
    fmt::print(stderr, "portico-thread-bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
