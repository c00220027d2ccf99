// A Portal on a fresh log, with a project, staff and customers ready.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <portico/clock.hpp>
#include <portico/service/portal.hpp>

#include "../../support/temp_dir.hpp"

namespace portico::test {

namespace svc = portico::service;
namespace dom = portico::domain;
namespace dt = portico::domain::ticket;

struct Desk {
  TempDir dir;
  std::unique_ptr<log::Log> log;
  std::atomic<dom::TimeUs> now{1'795'000'000'000'000};
  std::atomic<bool> real_time{false};  // the system clock instead of `now`
  std::unique_ptr<svc::Portal> portal;

  explicit Desk(dom::project::Settings settings = default_settings(),
                log::Options log_options = {}) {
    auto opened = log::Log::open(dir.path(), std::move(log_options));
    REQUIRE(opened);
    log = std::move(*opened);
    svc::Options options;
    options.clock = [this] { return real_time ? portico::system_clock_us() : now.load(); };
    portal = std::make_unique<svc::Portal>(*log, options);
    REQUIRE(portal->create_project("acme", settings, system()));
    REQUIRE(portal->add_staff("acme", {"s-agent", "agent@acme.test", "Agnes Agent", "agent"},
                              system()));
    REQUIRE(portal->create_project("other", settings, system()));
    REQUIRE(portal->add_staff("other", {"s-other", "o@other.test", "Otto", "agent"}, system()));
    customer("c-ann", "ann@globex.test", "ann");
    customer("c-bob", "bob@globex.test", "bob");
    customer("c-cat", "cat@initech.test", "cat");
  }

  static dom::project::Settings default_settings() {
    dom::project::Settings s;
    s.name = "Acme Support";
    s.organizations = {{"Globex", {"globex.test"}}};
    return s;
  }

  static svc::CommandMeta system() { return {dom::system_actor(), "", {}}; }
  static svc::CommandMeta as_customer(const std::string& id, std::string command_id = "") {
    return {{dom::Realm::customer, id}, std::move(command_id), {}};
  }
  static svc::CommandMeta as_staff(const std::string& id, std::string command_id = "") {
    return {{dom::Realm::staff, id}, std::move(command_id), {}};
  }

  void customer(const std::string& id, const std::string& email, const std::string& handle) {
    REQUIRE(portal->register_customer({id, email, handle + " name", handle}, system()));
    REQUIRE(portal->join_project(id, "acme", as_customer(id)));
  }

  std::uint64_t open(const std::string& customer, std::string subject = "Help") {
    dt::OpenTicket cmd;
    cmd.subject = std::move(subject);
    cmd.body = "It broke";
    cmd.message_id = "m-" + std::to_string(++messages);
    auto r = portal->open_ticket("acme", cmd, as_customer(customer));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    return r->state->number;
  }

  // The state of acme's ticket n now.
  dt::State ticket(std::uint64_t n) const {
    auto t = portal->ticket("acme", n);
    REQUIRE(t);
    return **t;
  }

  int messages = 0;
};

}  // namespace portico::test
