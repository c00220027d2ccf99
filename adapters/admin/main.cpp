// portico-admin — the operator's tool, safe to run beside a running server on the same data
// directory (LMDB serialises the writers; the server sees the new events at its next read).
// Every change is an event like any other. The commands (API.md, "Operations" and "Operations,
// part 2"; docs/operations.md):
//
//   project create SLUG --name NAME [settings flags]   (makes a missing or empty data directory)
//   project update SLUG [settings flags]               (changes only what is named)
//   project show SLUG                                  (JSON)
//   project list                                       (slug, name, portal URL)
//   staff add --project SLUG --email E --name N --role admin|agent [--team T]…
//             (the password on standard input: one line)
//   staff list --project SLUG                          (email, name, role, teams)
//   staff remove --project SLUG --email E              (their sessions end at once)
//   staff totp-reset --email E                         (two-factor off, sessions ended)
//   team add|remove --project SLUG --name TEAM
//   team members --project SLUG --name TEAM --add E | --remove E
//   template set --project SLUG --file TEMPLATE.json   (adds, or replaces by key)
//   template remove --project SLUG --key K
//   template list --project SLUG                       (JSON: {items: [template]})
//   outbox list [--dead]                               (deliveries waiting, or given up)
//   outbox retry ID                                    (a dead delivery tried again now)
//
// Exit status: 0 done, 1 refused or failed (the reason on standard error, naming the flag when a
// value is wrong; nothing was changed), 2 bad usage.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <portico/clock.hpp>
#include <portico/domain/templates.hpp>
#include <portico/errc.hpp>
#include <portico/log/types.hpp>
#include <portico/projections/outbox.hpp>
#include <portico/projections/register.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/accounts.hpp>
#include <portico/service/portal.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "settings_flags.hpp"

namespace dom = portico::domain;
namespace plog = portico::log;
namespace proj = portico::projections;
namespace svc = portico::service;
namespace errc = portico::errc;
namespace admin = portico::admin;

namespace {

constexpr const char* kUsage =
    "usage: portico-admin --data DIR [--base-url URL] COMMAND\n"
    "  project create SLUG --name NAME [SETTINGS]\n"
    "  project update SLUG [SETTINGS]\n"
    "  project show SLUG\n"
    "  project list\n"
    "  staff add --project SLUG --email E --name N --role admin|agent [--team T]...\n"
    "            (the password on standard input: one line)\n"
    "  staff list --project SLUG\n"
    "  staff remove --project SLUG --email E\n"
    "  staff totp-reset --email E  (two-factor sign-in off, sessions ended)\n"
    "  team add|remove --project SLUG --name TEAM\n"
    "  team members --project SLUG --name TEAM (--add E | --remove E)\n"
    "  template set --project SLUG --file TEMPLATE.json  (adds, or replaces by key)\n"
    "  template remove --project SLUG --key K\n"
    "  template list --project SLUG\n"
    "  outbox list [--dead]\n"
    "  outbox retry ID\n"
    "SETTINGS (each changes one thing; LIST is comma-separated, DUR is 45s, 30m, 48h, 14d or 0):\n"
    "  --name N  --customer-reply keep_status|reopen\n"
    "  --closed-tickets closed_is_final|reply_reopens  --sign-in LIST  --allowed-domains LIST\n"
    "  --organization NAME=DOMAIN[,DOMAIN...]  --no-organization NAME\n"
    "  --organization-visibility on|off  --pending-closure-timeout DUR  --resolved-timeout DUR\n"
    "  --surveys on|off  --survey-options LIST  --primary-color #rrggbb  --accent-color #rrggbb\n"
    "  --logo-url URL  --languages LIST (en, de, fr)  --customer-priority on|off\n"
    "  --staff-totp optional|required  --kb public|members|off  --time-zone TZ\n"
    "  --working-hours 'mon-fri 09:00-17:00[;...]'  --holidays YYYY-MM-DD,...\n"
    "  --attachments COUNTxSIZE (5x10MB)  --host NAME (-NAME removes one, '' clears)\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "portico-admin: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

int refuse(const std::string& what) {
  std::fprintf(stderr, "portico-admin: %s\n", what.c_str());
  return 1;
}

int print_error(const std::string& what, const portico::Error& e) {
  std::fprintf(stderr, "portico-admin: %s: %s (%s%s%s)\n", what.c_str(), e.message.c_str(),
               e.code.c_str(), e.field.empty() ? "" : ", ", e.field.c_str());
  return 1;
}

struct Global {
  std::string data;
  std::string base_url = "http://127.0.0.1:8080";
};

// The same projections as the server, so that the read models follow this append too. With
// `create`, a directory that does not exist yet, or is empty, becomes a new log.
std::unique_ptr<plog::Log> open_log(const std::string& data, bool create = false) {
  std::error_code ec;
  const std::filesystem::path dir(data);
  if (create && std::filesystem::exists(dir, ec) &&
      !std::filesystem::exists(dir / "data.mdb", ec)) {
    if (!std::filesystem::is_directory(dir, ec)) {
      refuse(data + " is not a directory");
      return nullptr;
    }
    if (!std::filesystem::is_empty(dir, ec)) {
      refuse(data + " is not empty and holds no Portico log: give a new or empty directory");
      return nullptr;
    }
  }
  plog::Options options;
  options.create = create;
  proj::register_all(options);
  auto log = plog::Log::open(data, std::move(options));
  if (!log) {
    refuse("cannot open " + data + ": " + log.error().message +
           (create ? "" : " (portico-admin project create makes a new data directory)"));
    return nullptr;
  }
  return std::move(*log);
}

// Flags of a command: each given once, from the allowed set (settings flags may repeat where
// that means something: --organization, --no-organization, --host, --team).
struct Flags {
  std::vector<std::pair<std::string, std::string>> given;  // in order
  std::string one(const std::string& flag) const {
    for (const auto& [f, v] : given) {
      if (f == flag) return v;
    }
    return {};
  }
  bool has(const std::string& flag) const {
    for (const auto& [f, v] : given) {
      if (f == flag) return true;
    }
    return false;
  }
};

Flags parse_flags(const std::vector<std::string_view>& args, std::size_t from,
                  const std::vector<std::string_view>& allowed, bool settings) {
  Flags out;
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    const bool known = std::find(allowed.begin(), allowed.end(), flag) != allowed.end() ||
                       (settings && admin::is_settings_flag(flag));
    if (!known) usage("unknown argument '" + std::string(flag) + "'");
    if (i + 1 >= args.size()) usage(std::string(flag) + " needs a value");
    const bool repeats = flag == "--organization" || flag == "--no-organization" ||
                         flag == "--host" || flag == "--team";
    if (!repeats && out.has(std::string(flag))) usage(std::string(flag) + " is given twice");
    out.given.emplace_back(flag, args[++i]);
  }
  return out;
}

// Applies the settings flags; prints why and returns false on the first invalid one.
bool apply_settings(dom::project::Settings& settings, const Flags& flags) {
  for (const auto& [flag, value] : flags.given) {
    if (!admin::is_settings_flag(flag)) continue;
    if (auto ok = admin::apply_settings_flag(settings, flag, value); !ok) {
      std::fprintf(stderr, "portico-admin: %s: %s\n", flag.c_str(), ok.error().message.c_str());
      return false;
    }
  }
  if (auto ok = dom::project::check_settings(settings); !ok) {
    std::fprintf(stderr, "portico-admin: %s: %s\n", admin::flag_of_field(ok.error().field).c_str(),
                 ok.error().message.c_str());
    return false;
  }
  return true;
}

std::string portal_url(const Global& g, const dom::project::State& p) {
  if (!p.settings.hosts.empty()) {
    const auto scheme = g.base_url.substr(0, g.base_url.find("://"));
    return scheme + "://" + p.settings.hosts.front() + "/";
  }
  return g.base_url + "/p/" + p.slug + "/";
}

int project_create(const Global& g, const std::vector<std::string_view>& args) {
  if (args.size() < 3 || args[2].starts_with("--")) usage("project create takes a SLUG");
  const std::string slug(args[2]);
  const Flags flags = parse_flags(args, 3, {}, true);
  if (!flags.has("--name")) usage("project create needs --name NAME");
  if (!dom::project::valid_slug(slug)) {
    return refuse("SLUG: a slug is 2 to 40 of a-z, 0-9 and '-', not starting with '-'");
  }
  dom::project::Settings settings;
  if (!apply_settings(settings, flags)) return 1;
  auto log = open_log(g.data, true);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto created = portal.create_project(slug, settings, {dom::system_actor(), "", {}});
  if (!created) {
    const auto& e = created.error();
    if (e.field == "hosts") return refuse("--host: " + e.message);
    return print_error("project " + slug, e);
  }
  std::printf("project %s created: %s (%s)\n", slug.c_str(), settings.name.c_str(),
              portal_url(g, *created).c_str());
  return 0;
}

int project_update(const Global& g, const std::vector<std::string_view>& args) {
  if (args.size() < 3 || args[2].starts_with("--")) usage("project update takes a SLUG");
  const std::string slug(args[2]);
  const Flags flags = parse_flags(args, 3, {}, true);
  if (flags.given.empty()) usage("project update needs at least one setting to change");
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  // Read, change what is named, write the whole: another admin's change in between makes the
  // write a conflict (the project's version moved), retried on the new settings.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto current = portal.project(slug);
    if (!current) {
      return current.error().code == errc::kNotFound
                 ? refuse("no project " + slug)
                 : print_error("project " + slug, current.error());
    }
    dom::project::Settings settings = current->settings;
    if (!apply_settings(settings, flags)) return 1;
    if (settings == current->settings) {
      std::printf("project %s: nothing changed\n", slug.c_str());
      return 0;
    }
    auto done = portal.configure_project(slug, settings, {dom::system_actor(), "", {}});
    if (done) {
      std::printf("project %s updated\n", slug.c_str());
      return 0;
    }
    if (done.error().field == "hosts") return refuse("--host: " + done.error().message);
    if (done.error().code != errc::kConflict) return print_error("project " + slug, done.error());
  }
  return refuse("project " + slug + " kept changing; try again");
}

int project_show(const Global& g, const std::vector<std::string_view>& args) {
  if (args.size() != 3) usage("project show takes a SLUG");
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto p = portal.project(std::string(args[2]));
  if (!p) {
    return p.error().code == errc::kNotFound ? refuse("no project " + std::string(args[2]))
                                             : print_error("project", p.error());
  }
  boost::json::object out = admin::settings_json(*p);
  out["portal_url"] = portal_url(g, *p);
  std::printf("%s\n", boost::json::serialize(out).c_str());
  return 0;
}

int project_list(const Global& g, const std::vector<std::string_view>& args) {
  if (args.size() != 2) usage("project list takes no arguments");
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  proj::Views views(*log);
  auto slugs = views.projects();
  if (!slugs) return print_error("project list", slugs.error());
  for (const auto& slug : *slugs) {
    auto p = portal.project(slug);
    if (!p) return print_error("project " + slug, p.error());
    std::printf("%s\t%s\t%s\n", slug.c_str(), p->settings.name.c_str(), portal_url(g, *p).c_str());
  }
  return 0;
}

// The project named by --project, or a message and nullopt.
std::optional<dom::project::State> project_of(svc::Portal& portal, const Flags& flags) {
  auto p = portal.project(flags.one("--project"));
  if (!p) {
    refuse(p.error().code == errc::kNotFound ? "--project: no project " + flags.one("--project")
                                             : p.error().message);
    return std::nullopt;
  }
  return *p;
}

std::string staff_id_by_email(const dom::project::State& p, const std::string& email) {
  const auto wanted = dom::account::normalize_email(email);
  for (const auto& [id, m] : p.staff) {
    if (wanted && m.email == *wanted) return id;
  }
  return {};
}

int staff_add(const Global& g, const std::vector<std::string_view>& args) {
  const Flags flags =
      parse_flags(args, 2, {"--project", "--email", "--name", "--role", "--team"}, false);
  for (const char* required : {"--project", "--email", "--name", "--role"}) {
    if (!flags.has(required)) usage(std::string("staff add needs ") + required);
  }
  const std::string role = flags.one("--role");
  if (role != "admin" && role != "agent") return refuse("--role: admin or agent");
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto project = project_of(portal, flags);
  if (!project) return 1;
  for (const auto& [flag, team] : flags.given) {
    if (flag == "--team" && !project->teams.contains(team)) {
      return refuse("--team: no team " + team + " in " + project->slug +
                    " (portico-admin team add makes one)");
    }
  }
  if (isatty(STDIN_FILENO)) std::fprintf(stderr, "password (one line): ");
  std::string password;
  if (!std::getline(std::cin, password)) {
    std::fprintf(stderr, "portico-admin: staff add reads the password from standard input\n");
    return 2;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  auto list = svc::load_password_list(svc::kDefaultPasswordList);
  if (!list) return print_error("password deny list", list.error());
  svc::AccountsOptions options;
  options.password_rules.is_common = *list;
  svc::Accounts accounts(*log, portal, options);
  auto account = accounts.set_staff_account(flags.one("--email"), flags.one("--name"), password);
  if (!account) {
    const auto& e = account.error();
    if (e.field == "password") return refuse("password: " + e.message);
    if (e.field == "email" || e.field == "display_name") {
      return refuse((e.field == "email" ? "--email: " : "--name: ") + e.message);
    }
    return print_error("staff account", e);
  }
  const svc::CommandMeta meta{dom::system_actor(), "", {}};
  auto added = portal.change_project(
      project->slug,
      dom::project::AddStaff{account->id, account->email, account->display_name, role}, meta);
  if (!added) return print_error("add staff", added.error());
  std::string teams;
  for (const auto& [flag, team] : flags.given) {
    if (flag != "--team") continue;
    auto joined =
        portal.change_project(project->slug, dom::project::SetTeamMember{team, account->id}, meta);
    if (!joined) return print_error("--team " + team, joined.error());
    teams += (teams.empty() ? " in " : ", ") + team;
  }
  std::printf("staff %s (%s) is %s of %s%s\n", account->email.c_str(), account->id.c_str(),
              role.c_str(), project->slug.c_str(), teams.c_str());
  return 0;
}

int staff_list(const Global& g, const std::vector<std::string_view>& args) {
  const Flags flags = parse_flags(args, 2, {"--project"}, false);
  if (!flags.has("--project")) usage("staff list needs --project");
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto project = project_of(portal, flags);
  if (!project) return 1;
  for (const auto& [id, m] : project->staff) {
    std::string teams;
    for (const auto& [team, members] : project->teams) {
      if (members.contains(id)) teams += (teams.empty() ? "" : ",") + team;
    }
    std::printf("%s\t%s\t%s\t%s\n", m.email.c_str(), m.display_name.c_str(), m.role.c_str(),
                teams.empty() ? "-" : teams.c_str());
  }
  return 0;
}

int staff_remove(const Global& g, const std::vector<std::string_view>& args) {
  const Flags flags = parse_flags(args, 2, {"--project", "--email"}, false);
  if (!flags.has("--project") || !flags.has("--email")) {
    usage("staff remove needs --project and --email");
  }
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto project = project_of(portal, flags);
  if (!project) return 1;
  const std::string id = staff_id_by_email(*project, flags.one("--email"));
  if (id.empty())
    return refuse("--email: no staff member " + flags.one("--email") + " in " + project->slug);
  auto removed = portal.change_project(project->slug, dom::project::RemoveStaff{id},
                                       {dom::system_actor(), "", {}});
  if (!removed) return print_error("staff remove", removed.error());
  svc::Accounts accounts(*log, portal);
  if (auto ended = accounts.end_staff_sessions(id, "removed"); !ended) {
    return print_error("ending the sessions of " + flags.one("--email"), ended.error());
  }
  std::printf("staff %s removed from %s; their sessions have ended\n", flags.one("--email").c_str(),
              project->slug.c_str());
  return 0;
}

// A member who lost the phone and the recovery codes: two-factor sign-in off, sessions ended.
int staff_totp_reset(const Global& g, const std::vector<std::string_view>& args) {
  const Flags flags = parse_flags(args, 2, {"--email"}, false);
  if (!flags.has("--email")) usage("staff totp-reset needs --email");
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  svc::Accounts accounts(*log, portal);
  auto staff = accounts.staff_by_email(flags.one("--email"));
  if (!staff) return print_error("staff totp-reset", staff.error());
  if (!*staff) return refuse("--email: no staff member " + flags.one("--email"));
  if (auto done = accounts.reset_staff_totp((*staff)->id); !done) {
    return print_error("staff totp-reset", done.error());
  }
  std::printf("two-factor sign-in of %s is off and their sessions have ended\n",
              (*staff)->email.c_str());
  return 0;
}

int team(const Global& g, const std::vector<std::string_view>& args) {
  const std::string_view verb = args[1];
  const bool members = verb == "members";
  if (verb != "add" && verb != "remove" && !members) usage("team add, remove or members");
  const Flags flags =
      members ? parse_flags(args, 2, {"--project", "--name", "--add", "--remove"}, false)
              : parse_flags(args, 2, {"--project", "--name"}, false);
  if (!flags.has("--project") || !flags.has("--name")) {
    usage("team " + std::string(verb) + " needs --project and --name");
  }
  if (members && flags.has("--add") == flags.has("--remove")) {
    usage("team members takes one of --add E and --remove E");
  }
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto project = project_of(portal, flags);
  if (!project) return 1;
  const std::string name = flags.one("--name");
  dom::project::Command command;
  if (verb == "add") {
    command = dom::project::AddTeam{name};
  } else if (verb == "remove") {
    command = dom::project::RemoveTeam{name};
  } else {
    const bool remove = flags.has("--remove");
    const std::string email = flags.one(remove ? "--remove" : "--add");
    const std::string id = staff_id_by_email(*project, email);
    if (id.empty()) {
      return refuse(std::string(remove ? "--remove" : "--add") + ": no staff member " + email +
                    " in " + project->slug);
    }
    command = dom::project::SetTeamMember{name, id, remove};
  }
  auto done = portal.change_project(project->slug, command, {dom::system_actor(), "", {}});
  if (!done) {
    if (done.error().field == "name") return refuse("--name: " + done.error().message);
    return print_error("team", done.error());
  }
  std::printf("team %s of %s: %s\n", name.c_str(), project->slug.c_str(),
              verb == "add"      ? "added"
              : verb == "remove" ? "removed"
                                 : "members changed");
  return 0;
}

// Ticket templates (templates.hpp): set from a JSON file, removed by key, listed as JSON.
int template_command(const Global& g, const std::vector<std::string_view>& args) {
  const std::string_view verb = args[1];
  if (verb != "set" && verb != "remove" && verb != "list") usage("template set, remove or list");
  const Flags flags = verb == "set"      ? parse_flags(args, 2, {"--project", "--file"}, false)
                      : verb == "remove" ? parse_flags(args, 2, {"--project", "--key"}, false)
                                         : parse_flags(args, 2, {"--project"}, false);
  if (!flags.has("--project")) usage("template " + std::string(verb) + " needs --project");
  if (verb == "set" && !flags.has("--file")) usage("template set needs --file TEMPLATE.json");
  if (verb == "remove" && !flags.has("--key")) usage("template remove needs --key K");
  dom::project::Command command;
  std::string key;
  if (verb == "set") {
    const std::string file = flags.one("--file");
    std::ifstream in(file, std::ios::binary);
    if (!in) return refuse("--file: cannot read " + file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 1024 * 1024) return refuse("--file: " + file + " is over 1 MiB");
    boost::system::error_code ec;
    auto json = boost::json::parse(text, ec);
    if (ec) return refuse("--file: " + file + " is not JSON: " + ec.message());
    auto parsed = dom::templates::parse_template(json);
    if (!parsed) {
      return refuse("--file: " + (parsed.error().field.empty() ? "" : parsed.error().field + ": ") +
                    parsed.error().message);
    }
    key = parsed->key;
    command = dom::project::SetTemplate{std::move(*parsed)};
  } else if (verb == "remove") {
    key = flags.one("--key");
    command = dom::project::RemoveTemplate{key};
  }
  auto log = open_log(g.data);
  if (!log) return 1;
  svc::Portal portal(*log);
  auto project = project_of(portal, flags);
  if (!project) return 1;
  if (verb == "list") {
    boost::json::array items;
    for (const auto& [k, t] : project->templates) items.push_back(dom::templates::to_json(t));
    std::printf("%s\n", boost::json::serialize(boost::json::object{{"items", items}}).c_str());
    return 0;
  }
  auto done = portal.change_project(project->slug, command, {dom::system_actor(), "", {}});
  if (!done) {
    const auto& e = done.error();
    if (verb == "remove" && e.code == portico::errc::kNotFound && e.field == "key") {
      return refuse("--key: " + e.message);
    }
    if (e.code == portico::errc::kInvalidRequest) {
      return refuse("--file: " + (e.field.empty() ? "" : e.field + ": ") + e.message);
    }
    return print_error("template", e);
  }
  std::printf("template %s of %s: %s\n", key.c_str(), project->slug.c_str(),
              verb == "set" ? "set" : "removed");
  return 0;
}

// One line per delivery: id, kind, customer, project#ticket, attempts, next attempt (or "dead"),
// last error ("-" for none), tab-separated.
int outbox_list(const Global& g, const std::vector<std::string_view>& args) {
  const bool dead = args.size() == 3 && args[2] == "--dead";
  if (args.size() > 3 || (args.size() == 3 && !dead)) usage("outbox list takes only --dead");
  auto log = open_log(g.data);
  if (!log) return 1;
  proj::Outbox outbox(*log);
  auto rows = dead ? outbox.dead(100'000) : outbox.pending(100'000);
  if (!rows) return print_error("outbox", rows.error());
  for (const proj::Delivery& d : *rows) {
    const std::string next = dead ? "dead" : plog::format_time_us(d.next_attempt_at);
    std::printf("%s\t%s\t%s\t%s#%llu\t%u\t%s\t%s\n", d.id.c_str(), d.kind.c_str(),
                d.recipient.c_str(), d.project.c_str(), static_cast<unsigned long long>(d.ticket),
                d.attempts, next.c_str(), d.last_error.empty() ? "-" : d.last_error.c_str());
  }
  return 0;
}

int outbox_retry(const Global& g, const std::vector<std::string_view>& args) {
  if (args.size() != 3 || args[2].starts_with("--")) usage("outbox retry takes a delivery ID");
  auto log = open_log(g.data);
  if (!log) return 1;
  proj::Outbox outbox(*log);
  const std::string id(args[2]);
  if (auto done = outbox.retry(id, portico::system_clock_us()); !done) {
    return print_error("outbox retry " + id, done.error());
  }
  std::printf("delivery %s will be tried again now\n", id.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Global g;
  std::vector<std::string_view> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--data" || a == "--base-url") {
      if (i + 1 >= argc) usage(std::string(a) + " needs a value");
      (a == "--data" ? g.data : g.base_url) = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      rest.push_back(a);
    }
  }
  if (g.data.empty()) usage("--data DIR is required");
  while (!g.base_url.empty() && g.base_url.back() == '/') g.base_url.pop_back();
  if (rest.size() < 2)
    usage(rest.empty() ? "no command" : "what to do with " + std::string(rest[0]) + "?");
  const std::string_view noun = rest[0], verb = rest[1];
  if (noun == "project") {
    if (verb == "create") return project_create(g, rest);
    if (verb == "update") return project_update(g, rest);
    if (verb == "show") return project_show(g, rest);
    if (verb == "list") return project_list(g, rest);
  } else if (noun == "staff") {
    if (verb == "add") return staff_add(g, rest);
    if (verb == "list") return staff_list(g, rest);
    if (verb == "remove") return staff_remove(g, rest);
    if (verb == "totp-reset") return staff_totp_reset(g, rest);
  } else if (noun == "team") {
    return team(g, rest);
  } else if (noun == "template") {
    return template_command(g, rest);
  } else if (noun == "outbox") {
    if (verb == "list") return outbox_list(g, rest);
    if (verb == "retry") return outbox_retry(g, rest);
  }
  usage("unknown command '" + std::string(noun) + " " + std::string(verb) + "'");
}
