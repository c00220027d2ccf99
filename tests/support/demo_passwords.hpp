// The passwords `portico-server --demo` printed for the demo's accounts (random per data
// directory, printed only on the run that made them).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "child_process.hpp"

namespace portico::test {

struct DemoPasswords {
  std::string customer;  // ann@example.com
  std::string staff;     // agent@demo.test
};

// Reads the server's output (after "listening on …") up to both password lines.
inline DemoPasswords demo_passwords(ChildProcess& server) {
  using namespace std::chrono_literals;
  constexpr std::string_view kCustomer = "demo password for customer ann@example.com: ";
  constexpr std::string_view kStaff = "demo password for staff agent@demo.test: ";
  DemoPasswords out;
  for (int i = 0; i < 20 && (out.customer.empty() || out.staff.empty()); ++i) {
    auto line = server.read_line(30s);
    REQUIRE(line);
    if (auto at = line->find(kCustomer); at != std::string::npos) {
      out.customer = line->substr(at + kCustomer.size());
    } else if (auto st = line->find(kStaff); st != std::string::npos) {
      out.staff = line->substr(st + kStaff.size());
    }
  }
  REQUIRE_MESSAGE(!out.customer.empty(), "the server printed no demo password");
  REQUIRE(!out.staff.empty());
  return out;
}

}  // namespace portico::test
