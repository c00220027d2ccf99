// portico-server and portico-admin as an operator runs them: a server process on a data
// directory, the admin tool beside it, and a customer or staff member signing in over HTTP (the
// customer by the magic link the server wrote into its mail directory).
#pragma once

#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "http_client.hpp"

namespace portico::test {

namespace hc = portico::test::http_client;

// Waits for "portico-server: listening on http://127.0.0.1:PORT …" and returns PORT.
inline unsigned short listening_port(ChildProcess& server) {
  using namespace std::chrono_literals;
  constexpr std::string_view kSays = "listening on http://127.0.0.1:";
  for (int i = 0; i < 20; ++i) {
    auto line = server.read_line(30s);
    REQUIRE(line);
    const auto at = line->find(kSays);
    if (at == std::string::npos) continue;
    return static_cast<unsigned short>(std::stoi(line->substr(at + kSays.size())));
  }
  FAIL("the server never said where it listens");
  return 0;
}

// A running portico-server on `data` (127.0.0.1, a free port); SIGTERM when destroyed.
class ServerProcess {
 public:
  explicit ServerProcess(const std::filesystem::path& data, std::vector<std::string> extra = {})
      : process_(args(data, std::move(extra))), port_(listening_port(process_)) {}
  ~ServerProcess() { stop(); }
  unsigned short port() const { return port_; }
  // Stops it gracefully; the exit status.
  int stop() {
    if (stopped_) return status_;
    stopped_ = true;
    process_.kill(SIGTERM);
    status_ = process_.wait();
    return status_;
  }

 private:
  static std::vector<std::string> args(const std::filesystem::path& data,
                                       std::vector<std::string> extra) {
    std::vector<std::string> a = {PORTICO_SERVER, "--data", data.string(), "--listen",
                                  "127.0.0.1:0"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  ChildProcess process_;
  unsigned short port_;
  bool stopped_ = false;
  int status_ = 0;
};

// portico-admin --data DATA ARGS…; `out` holds what it printed on both outputs.
inline Ran admin(const std::filesystem::path& data, std::vector<std::string> args,
                 const std::optional<std::string>& input = std::nullopt) {
  std::vector<std::string> argv = {PORTICO_ADMIN, "--data", data.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, true);
}

// A new operator's desk in DATA: project "acme" made with portico-admin (with `settings`), and
// an agent, agent@acme.test, with `staff_password`.
inline void new_desk(const std::filesystem::path& data, const std::string& staff_password,
                     std::vector<std::string> settings = {}) {
  std::vector<std::string> create = {"project", "create", "acme", "--name", "Acme Support"};
  create.insert(create.end(), settings.begin(), settings.end());
  auto made = admin(data, create);
  REQUIRE_MESSAGE(made.exit_code == 0, made.out);
  auto staffed = admin(data,
                       {"staff", "add", "--project", "acme", "--email", "agent@acme.test", "--name",
                        "Agent", "--role", "agent"},
                       staff_password + "\n");
  REQUIRE_MESSAGE(staffed.exit_code == 0, staffed.out);
}

// A message's text with its quoted-printable undone (soft line breaks, =XX escapes).
inline std::string unquote_mail(const std::string& qp) {
  auto hex = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
  };
  std::string out;
  for (std::size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] == '=' && i + 1 < qp.size() && qp[i + 1] == '\n') {
      ++i;
    } else if (qp[i] == '=' && i + 2 < qp.size() && qp[i + 1] == '\r' && qp[i + 2] == '\n') {
      i += 2;
    } else if (qp[i] == '=' && i + 2 < qp.size() && hex(qp[i + 1]) >= 0 && hex(qp[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(qp[i + 1]) * 16 + hex(qp[i + 2])));
      i += 2;
    } else {
      out.push_back(qp[i]);
    }
  }
  return out;
}

// An .eml file's text with its quoted-printable undone.
inline std::string read_mail(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream raw;
  raw << in.rdbuf();
  return unquote_mail(raw.str());
}

// The token= of the newest e-mail to `to` in `mail_dir` not among `seen` (waits up to 10 s).
inline std::string mailed_token(const std::filesystem::path& mail_dir, const std::string& to,
                                std::set<std::string>& seen) {
  using namespace std::chrono_literals;
  auto token_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  for (int i = 0; i < 1000; ++i) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(mail_dir, ec)) {
      const std::string name = entry.path().string();  // whole: SMTP test servers reuse names
      if (!name.ends_with(".eml") || seen.contains(name)) continue;
      const std::string mail = read_mail(entry.path());
      if (mail.find("To: " + to) == std::string::npos) continue;
      const auto at = mail.find("token=");
      if (at == std::string::npos) continue;
      auto end = at + 6;
      while (end < mail.size() && token_char(mail[end])) ++end;
      seen.insert(name);
      return mail.substr(at + 6, end - at - 6);
    }
    std::this_thread::sleep_for(10ms);
  }
  FAIL("no e-mail with a link to " << to);
  return {};
}

// Someone signed in over HTTP, calling the API with their bearer token.
struct Caller {
  unsigned short port = 0;
  std::string token;
  hc::Response call(boost::beast::http::verb method, const std::string& target,
                    const std::string& body = {}) const {
    hc::Connection c(port);
    return c.request(method, target, body, {{"Authorization", "Bearer " + token}});
  }
  boost::json::value get(const std::string& target) const {
    auto r = call(boost::beast::http::verb::get, target);
    REQUIRE_MESSAGE(r.result_int() == 200, target << ": " << r.body());
    return hc::json(r);
  }
};

// A customer signed in on `project` by the magic link e-mailed into `mail_dir` (the server's
// mail directory, or where a test's SMTP server keeps what it receives).
inline Caller customer_by_mail(unsigned short port, const std::filesystem::path& mail_dir,
                               const std::string& project, const std::string& email) {
  static std::set<std::string> seen;
  hc::Connection c(port);
  auto asked = c.request(boost::beast::http::verb::post, "/api/v1/auth/magic-link",
                         R"({"project":")" + project + R"(","email":")" + email + R"("})");
  REQUIRE_MESSAGE(asked.result_int() == 202, asked.body());
  const std::string token = mailed_token(mail_dir, email, seen);
  auto session = c.request(boost::beast::http::verb::post, "/api/v1/auth/magic-link/verify",
                           R"({"token":")" + token + R"("})");
  REQUIRE_MESSAGE(session.result_int() == 200, session.body());
  return {port, std::string(hc::json(session).at("token").as_string())};
}

// A customer signed in on `project` by the magic link the server wrote into DATA/mail.
inline Caller customer(unsigned short port, const std::filesystem::path& data,
                       const std::string& project, const std::string& email) {
  return customer_by_mail(port, data / "mail", project, email);
}

// A staff member signed in with their password.
inline Caller staff(unsigned short port, const std::string& email, const std::string& password) {
  hc::Connection c(port);
  auto session = c.request(boost::beast::http::verb::post, "/api/v1/staff/auth/login",
                           R"({"email":")" + email + R"(","password":")" + password + R"("})");
  REQUIRE_MESSAGE(session.result_int() == 200, session.body());
  return {port, std::string(hc::json(session).at("token").as_string())};
}

}  // namespace portico::test
