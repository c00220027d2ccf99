// A real SMTP server (Debian's python3-aiosmtpd, tests/support/smtp_server.py) on 127.0.0.1 for
// the tests that send e-mail; each message it accepts becomes DIR/NNNN.eml.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"

namespace portico::test {

// The value of header `name` in a message (the first line excluded: envelope lines), or "".
inline std::string mail_header(const std::string& mail, const std::string& name) {
  const auto at = mail.find("\r\n" + name + ": ");
  if (at == std::string::npos) return {};
  const auto from = at + name.size() + 4;
  return mail.substr(from, mail.find("\r\n", from) - from);
}

class SmtpProcess {
 public:
  // `extra`: smtp_server.py's options (--starttls CERT KEY, --smtps …, --user, --reject …).
  explicit SmtpProcess(std::filesystem::path dir, std::vector<std::string> extra = {})
      : dir_(std::move(dir)) {
    start(std::move(extra));
  }
  ~SmtpProcess() { stop(); }
  SmtpProcess(const SmtpProcess&) = delete;
  SmtpProcess& operator=(const SmtpProcess&) = delete;

  unsigned short port() const { return port_; }
  std::string url(std::string_view scheme = "smtp") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }
  const std::filesystem::path& dir() const { return dir_; }
  // The server gone: connections to its port are refused.
  void stop() {
    if (!process_) return;
    process_->kill(SIGTERM);
    process_->wait();
    process_.reset();
  }
  // Started (again, after stop, on the same port and directory) with `extra`'s options.
  void start(std::vector<std::string> extra = {}) {
    using namespace std::chrono_literals;
    stop();
    std::vector<std::string> a = {"/usr/bin/python3", PORTICO_SMTP_SERVER,  "--dir", dir_.string(),
                                  "--port",           std::to_string(port_)};
    a.insert(a.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(a);
    constexpr std::string_view kSays = "smtp: listening on ";
    auto line = process_->read_line(30s);
    REQUIRE_MESSAGE((line && line->starts_with(kSays)), "the SMTP server did not start");
    port_ = static_cast<unsigned short>(std::stoi(line->substr(kSays.size())));
  }

  // The messages received so far, in the order they came.
  std::vector<std::string> messages() const {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      if (e.path().extension() == ".eml") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
      std::ifstream in(f);
      std::stringstream text;
      text << in.rdbuf();
      out.push_back(text.str());
    }
    return out;
  }
  // Waits until at least `n` messages arrived (up to `timeout`); the messages.
  std::vector<std::string> wait_for(
      std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(15)) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto got = messages();
      if (got.size() >= n || std::chrono::steady_clock::now() > until) return got;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  unsigned short port_ = 0;  // 0 until the first start: a free one
};

}  // namespace portico::test
