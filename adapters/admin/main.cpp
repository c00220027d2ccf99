// portico-admin — the operator's tool, safe to run beside a running server on the same data
// directory (LMDB serialises the writers; the server sees the new events at its next read).
//
//   portico-admin --data DIR project create SLUG --name NAME
//                 [--customer-reply keep_status|reopen]
//                 [--closed-tickets closed_is_final|reply_reopens]
//                 [--sign-in LIST] [--allowed-domains LIST]
//
// Exit status: 0 done, 1 refused or failed (the reason on standard error), 2 bad usage.
#include <cstdio>
#include <portico/projections/outbox.hpp>
#include <portico/projections/views.hpp>
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
    } else {
      usage("unknown argument '" + std::string(flag) + "'");
    }
  }
  if (!named) usage("project create needs --name NAME");

  // The same projections as the server, so that the read models follow this append too.
  plog::Options options;
  options.create = false;
  options.projections = {proj::Views::projection()};
  options.async_projections = {proj::Outbox::projection()};
  auto log = plog::Log::open(data, std::move(options));
  if (!log) {
    std::fprintf(stderr, "portico-admin: cannot open %s: %s\n", data.c_str(),
                 log.error().message.c_str());
    return 1;
  }
  svc::Portal portal(**log);
  auto created = portal.create_project(slug, settings, {dom::system_actor(), "", {}});
  if (!created) {
    std::fprintf(stderr, "portico-admin: project %s: %s (%s%s%s)\n", slug.c_str(),
                 created.error().message.c_str(), created.error().code.c_str(),
                 created.error().field.empty() ? "" : ", ", created.error().field.c_str());
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
  usage(rest.empty() ? "no command" : "unknown command '" + std::string(rest[0]) + "'");
}
