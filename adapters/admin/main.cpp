// portico-admin — the operator's tool, safe to run beside a running server on the same data
// directory (LMDB serialises the writers; the server sees the new events at its next read).
//
//   portico-admin --data DIR project create SLUG --name NAME
//                 [--customer-reply keep_status|reopen]
//                 [--closed-tickets closed_is_final|reply_reopens]
//                 [--sign-in LIST] [--allowed-domains LIST]
//                 [--primary-color #rrggbb] [--accent-color #rrggbb] [--logo-url URL]
//   portico-admin --data DIR staff add --project SLUG --email E --name N --role admin|agent
//                 (the password on standard input: one line; at least 10 characters)
//
// A staff identity is one per e-mail address across projects: adding it to a second project
// keeps its id, and the password given sets its password.
//
// Exit status: 0 done, 1 refused or failed (the reason on standard error), 2 bad usage.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <portico/projections/outbox.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/accounts.hpp>
#include <portico/service/portal.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace dom = portico::domain;
namespace plog = portico::log;
namespace proj = portico::projections;
namespace svc = portico::service;

namespace {

constexpr const char* kUsage =
    "usage: portico-admin --data DIR project create SLUG --name NAME\n"
    "                     [--customer-reply keep_status|reopen]\n"
    "                     [--closed-tickets closed_is_final|reply_reopens]\n"
    "                     [--sign-in LIST] [--allowed-domains LIST]\n"
    "                     [--primary-color #rrggbb] [--accent-color #rrggbb] [--logo-url URL]\n"
    "       portico-admin --data DIR staff add --project SLUG --email E --name N\n"
    "                     --role admin|agent   (password on standard input)\n"
    "       (LIST: comma-separated; sign-in methods: magic_link, password)\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "portico-admin: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

std::vector<std::string> list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// The same projections as the server, so that the read models follow this append too.
std::unique_ptr<plog::Log> open_log(const std::string& data) {
  plog::Options options;
  options.create = false;
  options.projections = {proj::Views::projection()};
  options.async_projections = {proj::Outbox::projection()};
  auto log = plog::Log::open(data, std::move(options));
  if (!log) {
    std::fprintf(stderr, "portico-admin: cannot open %s: %s\n", data.c_str(),
                 log.error().message.c_str());
    return nullptr;
  }
  return std::move(*log);
}

void print_error(const char* what, const portico::Error& e) {
  std::fprintf(stderr, "portico-admin: %s: %s (%s%s%s)\n", what, e.message.c_str(), e.code.c_str(),
               e.field.empty() ? "" : ", ", e.field.c_str());
}

int staff_add(const std::string& data, const std::vector<std::string_view>& args) {
  std::map<std::string, std::string, std::less<>> values;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag != "--project" && flag != "--email" && flag != "--name" && flag != "--role") {
      usage("unknown argument '" + std::string(flag) + "'");
    }
    if (i + 1 >= args.size()) usage(std::string(flag) + " needs a value");
    values[std::string(flag)] = args[++i];
  }
  for (const char* required : {"--project", "--email", "--name", "--role"}) {
    if (!values.contains(required)) usage(std::string("staff add needs ") + required);
  }
  const std::string& role = values["--role"];
  if (role != "admin" && role != "agent") usage("--role is admin or agent");
  if (isatty(STDIN_FILENO)) std::fprintf(stderr, "password (one line): ");
  std::string password;
  if (!std::getline(std::cin, password)) {
    std::fprintf(stderr, "portico-admin: staff add reads the password from standard input\n");
    return 2;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  auto list = svc::load_password_list(svc::kDefaultPasswordList);
  if (!list) {
    print_error("password deny list", list.error());
    return 1;
  }
  auto log = open_log(data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto project = portal.project(values["--project"]);
  if (!project || !project->exists) {
    std::fprintf(stderr, "portico-admin: no project %s\n", values["--project"].c_str());
    return 1;
  }
  svc::AccountsOptions options;
  options.password_rules.is_common = *list;
  svc::Accounts accounts(*log, portal, options);
  auto account = accounts.set_staff_account(values["--email"], values["--name"], password);
  if (!account) {
    print_error("staff account", account.error());
    return 1;
  }
  if (!portico::domain::project::is_staff(*project, account->id)) {
    auto added = portal.add_staff(values["--project"],
                                  {account->id, account->email, account->display_name, role},
                                  {dom::system_actor(), "", {}});
    if (!added) {
      print_error("add staff", added.error());
      return 1;
    }
  }
  std::printf("staff %s (%s) is %s of %s\n", account->email.c_str(), account->id.c_str(),
              role.c_str(), values["--project"].c_str());
  return 0;
}

int project_create(const std::string& data, const std::vector<std::string_view>& args) {
  if (args.empty() || args[0].starts_with("--")) usage("project create takes a SLUG");
  const std::string slug(args[0]);
  dom::project::Settings settings;
  bool named = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (i + 1 >= args.size()) usage(std::string(flag) + " needs a value");
    const std::string_view value = args[++i];
    if (flag == "--name") {
      settings.name = value;
      named = true;
    } else if (flag == "--customer-reply") {
      if (value == "keep_status") {
        settings.policies.customer_reply = dom::CustomerReplyPolicy::keep_status;
      } else if (value == "reopen") {
        settings.policies.customer_reply = dom::CustomerReplyPolicy::reopen;
      } else {
        usage("--customer-reply is keep_status or reopen");
      }
    } else if (flag == "--closed-tickets") {
      if (value == "closed_is_final") {
        settings.policies.closed_tickets = dom::ClosedTicketsPolicy::closed_is_final;
      } else if (value == "reply_reopens") {
        settings.policies.closed_tickets = dom::ClosedTicketsPolicy::reply_reopens;
      } else {
        usage("--closed-tickets is closed_is_final or reply_reopens");
      }
    } else if (flag == "--sign-in") {
      settings.sign_in = list(value);
      for (const auto& m : settings.sign_in) {
        if (m != "magic_link" && m != "password") usage("unknown sign-in method '" + m + "'");
      }
    } else if (flag == "--allowed-domains") {
      settings.allowed_domains = list(value);
    } else if (flag == "--primary-color") {
      settings.theme.primary_color = value;
    } else if (flag == "--accent-color") {
      settings.theme.accent_color = value;
    } else if (flag == "--logo-url") {
      settings.theme.logo_url = value;
    } else {
      usage("unknown argument '" + std::string(flag) + "'");
    }
  }
  if (!named) usage("project create needs --name NAME");

  auto log = open_log(data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto created = portal.create_project(slug, settings, {dom::system_actor(), "", {}});
  if (!created) {
    print_error(("project " + slug).c_str(), created.error());
    return 1;
  }
  std::printf("project %s created: %s\n", slug.c_str(), settings.name.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data;
  std::vector<std::string_view> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--data") {
      if (i + 1 >= argc) usage("--data needs a directory");
      data = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      rest.push_back(a);
    }
  }
  if (data.empty()) usage("--data DIR is required");
  if (rest.size() >= 2 && rest[0] == "project" && rest[1] == "create") {
    return project_create(data, {rest.begin() + 2, rest.end()});
  }
  if (rest.size() >= 2 && rest[0] == "staff" && rest[1] == "add") {
    return staff_add(data, {rest.begin() + 2, rest.end()});
  }
  usage(rest.empty() ? "no command" : "unknown command '" + std::string(rest[0]) + "'");
}
