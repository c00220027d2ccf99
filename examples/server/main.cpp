// portico-server — the reference server: Portico's HTTP API over an LMDB data directory.
//
//   portico-server [--config FILE] --data DIR [--listen HOST:PORT] [--base-url URL]
//                  [--mail-dir DIR] [--threads N] [--workers N] [--access-log FILE|-]
//                  [--tls-cert PEM --tls-key PEM] [--mail-from ADDRESS] [--smtp URL …]
//                  [--password-list FILE] [--demo]            (the whole list: --help)
//
// SIGTERM or SIGINT stops it gracefully: no new connections, requests under way are answered,
// then the log is closed. A failed start-up says why and exits non-zero.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <portico/http/app.hpp>
#include <portico/http/server.hpp>
#include <portico/mail/deliverer.hpp>
#include <portico/mail/smtp.hpp>
#include <portico/oidc/provider.hpp>
#include <portico/projections/outbox.hpp>
#include <portico/projections/register.hpp>
#include <portico/projections/runner.hpp>
#include <portico/projections/views.hpp>
#include <portico/service/accounts.hpp>
#include <portico/service/portal.hpp>
#include <portico/service/scheduler.hpp>
#include <portico/service/tokens.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
namespace phttp = portico::http;
namespace plog = portico::log;
namespace proj = portico::projections;
namespace svc = portico::service;

namespace {

constexpr const char* kUsage =
    "usage: portico-server [--config FILE] --data DIR [--listen HOST:PORT] [--base-url URL]\n"
    "                      [--mail-dir DIR] [--threads N] [--workers N] [--access-log FILE|-]\n"
    "                      [--tls-cert PEM --tls-key PEM] [--mail-from ADDRESS]\n"
    "                      [--smtp smtp://HOST:PORT|smtps://HOST:PORT [--smtp-require-tls]\n"
    "                       [--smtp-user U --smtp-password-file FILE] [--smtp-ca-file PEM]]\n"
    "                      [--mail-retry DURATION] [--key-file FILE]\n"
    "                      [--password-list FILE] [--sign-in-rate N] [--write-rate N]\n"
    "                      [--trusted-proxy CIDR]... [--max-connections-per-address N]\n"
    "                      [--metrics-token TOKEN | --metrics-token-file FILE] [--demo]\n"
    "  --config FILE: a TOML file whose keys are these flags' names (listen = \"…\");\n"
    "  a flag on the command line wins over the file; its [oidc.NAME] sections are the\n"
    "  identity providers customers may sign in with (docs/operations.md)\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "portico-server: %s\n%s", why.c_str(), kUsage);
  std::exit(2);
}

[[noreturn]] void config_error(const std::string& why) {
  std::fprintf(stderr, "portico-server: %s\n", why.c_str());
  std::exit(1);
}

struct Args {
  std::string data;
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  std::string base_url;
  std::string mail_dir;
  unsigned threads = 0;
  unsigned workers = 64;
  std::string access_log;
  std::string tls_cert;
  std::string tls_key;
  std::string mail_from = "support@portico.invalid";
  std::string key_file;  // the server's key; DATA/secret.key when empty
  std::string smtp;      // smtp:// or smtps:// URL; empty: e-mail goes to mail_dir
  bool smtp_require_tls = false;
  std::string smtp_user;
  std::string smtp_password;
  std::string smtp_ca_file;
  dom::TimeUs mail_retry = proj::Outbox::kFirstRetry;
  std::string password_list = portico::service::kDefaultPasswordList;
  unsigned sign_in_rate = 30;  // sign-in requests per client address per minute (and burst)
  unsigned write_rate = 60;    // changes per signed-in caller per minute (burst: twice that)
  std::vector<std::string> trusted_proxies;    // CIDRs whose X-Forwarded-For is believed
  unsigned max_connections_per_address = 100;  // 0: no cap
  std::string metrics_token;                   // GET /metrics needs it when set
  bool demo = false;
  std::vector<portico::oidc::ProviderConfig> providers;  // the file's [oidc.NAME] sections
};

// Where a setting came from, for messages: "--workers" or "workers (in FILE)".
using Source = std::function<std::string()>;

unsigned number(std::string_view text, const Source& from) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    usage(from() + " takes a number");
  }
  return v;
}

// One setting: a flag on the command line, a key of the configuration file (the flag's name
// without "--"). `secret` ones may also be given as NAME-file, a file holding the value.
struct Setting {
  std::string_view name;
  bool takes_value = true;
  bool secret = false;
  std::function<void(Args&, std::string_view value, const Source& from)> apply;
};

const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = {
      {"data", true, false, [](Args& a, std::string_view v, const Source&) { a.data = v; }},
      {"listen", true, false,
       [](Args& a, std::string_view v, const Source& from) {
         const auto colon = v.rfind(':');
         if (colon == std::string_view::npos) usage(from() + " takes HOST:PORT");
         a.host = std::string(v.substr(0, colon));
         const unsigned port = number(v.substr(colon + 1), from);
         if (port > 65535) usage(from() + ": no such port");
         a.port = static_cast<unsigned short>(port);
       }},
      {"base-url", true, false, [](Args& a, std::string_view v, const Source&) { a.base_url = v; }},
      {"mail-dir", true, false, [](Args& a, std::string_view v, const Source&) { a.mail_dir = v; }},
      {"key-file", true, false, [](Args& a, std::string_view v, const Source&) { a.key_file = v; }},
      {"smtp", true, false,
       [](Args& a, std::string_view v, const Source& from) {
         if (auto ok = portico::mail::check_smtp_url(v); !ok) {
           usage(from() + ": " + ok.error().message);
         }
         a.smtp = v;
       }},
      {"smtp-require-tls", false, false,
       [](Args& a, std::string_view v, const Source&) { a.smtp_require_tls = v == "true"; }},
      {"smtp-user", true, false,
       [](Args& a, std::string_view v, const Source&) { a.smtp_user = v; }},
      {"smtp-password", true, true,
       [](Args& a, std::string_view v, const Source&) { a.smtp_password = v; }},
      {"smtp-ca-file", true, false,
       [](Args& a, std::string_view v, const Source&) { a.smtp_ca_file = v; }},
      {"mail-retry", true, false,
       [](Args& a, std::string_view v, const Source& from) {
         auto d = dom::parse_duration(v);
         if (!d || *d <= 0) usage(from() + " takes a duration such as 30s or 5m");
         a.mail_retry = *d;
       }},
      {"threads", true, false,
       [](Args& a, std::string_view v, const Source& from) { a.threads = number(v, from); }},
      {"workers", true, false,
       [](Args& a, std::string_view v, const Source& from) { a.workers = number(v, from); }},
      {"access-log", true, false,
       [](Args& a, std::string_view v, const Source&) { a.access_log = v; }},
      {"tls-cert", true, false, [](Args& a, std::string_view v, const Source&) { a.tls_cert = v; }},
      {"tls-key", true, false, [](Args& a, std::string_view v, const Source&) { a.tls_key = v; }},
      {"mail-from", true, false,
       [](Args& a, std::string_view v, const Source&) { a.mail_from = v; }},
      {"password-list", true, false,
       [](Args& a, std::string_view v, const Source&) { a.password_list = v; }},
      {"sign-in-rate", true, false,
       [](Args& a, std::string_view v, const Source& from) { a.sign_in_rate = number(v, from); }},
      {"write-rate", true, false,
       [](Args& a, std::string_view v, const Source& from) { a.write_rate = number(v, from); }},
      {"trusted-proxy", true, false,
       [](Args& a, std::string_view v, const Source&) {
         // Repeatable, and a comma list too; each range is checked when the server starts.
         std::size_t from = 0;
         while (from <= v.size()) {
           const auto comma = std::min(v.find(',', from), v.size());
           if (comma > from) a.trusted_proxies.emplace_back(v.substr(from, comma - from));
           from = comma + 1;
         }
       }},
      {"max-connections-per-address", true, false,
       [](Args& a, std::string_view v, const Source& from) {
         a.max_connections_per_address = number(v, from);
       }},
      {"metrics-token", true, true,
       [](Args& a, std::string_view v, const Source& from) {
         if (v.size() < 16) usage(from() + ": a metrics token has at least 16 characters");
         a.metrics_token = v;
       }},
      {"demo", false, false,
       [](Args& a, std::string_view v, const Source&) { a.demo = v == "true"; }},
  };
  return kSettings;
}

// The setting called `name`, and whether `name` is its "-file" form.
std::optional<std::pair<const Setting*, bool>> find_setting(std::string_view name) {
  for (const Setting& s : settings()) {
    if (s.name == name) return std::pair{&s, false};
    if (s.secret && name.size() == s.name.size() + 5 && name.starts_with(s.name) &&
        name.ends_with("-file")) {
      return std::pair{&s, true};
    }
  }
  return std::nullopt;
}

// A secret's value from its file: the whole file, less one trailing newline.
std::string read_secret_file(const std::string& path, const Source& from) {
  std::ifstream in(path, std::ios::binary);
  if (!in) config_error(from() + ": cannot read " + path);
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) config_error(from() + ": " + path + " is empty");
  return value;
}

// An [oidc.NAME] section: an identity provider (API.md part 2). Its keys are strings; a
// `*-file` key names a file holding the value (client-secret-file). A wrong one ends the start
// naming the key.
portico::oidc::ProviderConfig read_provider(const std::string& file, std::string_view name,
                                            const toml::node& node) {
  const std::string section = "[oidc." + std::string(name) + "]";
  if (!node.is_table()) config_error(file + ": " + section + " is a table of settings");
  std::map<std::string, std::string> settings;
  for (const auto& [key, value] : *node.as_table()) {
    std::string k(key.str());
    const Source from = [&] { return "'" + k + "' of " + section + " in " + file; };
    if (!value.is_string()) config_error(from() + " is a string");
    std::string v = value.as_string()->get();
    if (k == "client-secret-file") {
      v = read_secret_file(v, from);
      k = "client-secret";
    }
    if (!settings.emplace(k, std::move(v)).second) {
      config_error(file + ": " + section + " gives client-secret twice");
    }
  }
  auto config = portico::oidc::provider_config(name, settings);
  if (!config) {
    config_error(file + ": " + config.error().message +
                 (config.error().field.empty() ? "" : " ('" + config.error().field + "')"));
  }
  return std::move(*config);
}

// The configuration file's settings, in the order written, and its identity providers. Unknown
// keys and values of the wrong type end the start (exit 1) naming the key.
std::vector<std::pair<std::string, std::string>> read_config(
    const std::string& file, std::vector<portico::oidc::ProviderConfig>& providers) {
  toml::table table;
  try {
    table = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    config_error(file + ": " + std::string(e.description()) + " (" + where.str() + ")");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    const Source from = [&] { return "'" + name + "' in " + file; };
    if (name == "oidc") {
      if (!node.is_table())
        config_error(file + ": [oidc] holds one [oidc.NAME] table per provider");
      for (const auto& [provider, section] : *node.as_table()) {
        providers.push_back(read_provider(file, provider.str(), section));
      }
      continue;
    }
    auto found = find_setting(name);
    if (!found || name == "config") config_error(file + ": unknown key '" + name + "'");
    const Setting& s = *found->first;
    std::string value;
    if (!s.takes_value) {
      if (!node.is_boolean()) config_error(from() + " is true or false");
      value = node.as_boolean()->get() ? "true" : "false";
    } else if (node.is_string()) {
      value = node.as_string()->get();
    } else if (node.is_integer()) {
      value = std::to_string(node.as_integer()->get());
    } else if (node.is_array() && name == "trusted-proxy") {  // a list of ranges
      for (const auto& item : *node.as_array()) {
        if (!item.is_string()) config_error(from() + " is a list of strings");
        value += (value.empty() ? "" : ",") + item.as_string()->get();
      }
    } else {
      const bool numeric = name == "workers" || name == "threads" || name == "sign-in-rate" ||
                           name == "write-rate" || name == "max-connections-per-address";
      config_error(from() + " is a string" + (numeric ? " or a number" : ""));
    }
    if (found->second) value = read_secret_file(value, from);
    out.emplace_back(std::string(s.name), std::move(value));
  }
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  std::string config;
  std::vector<std::tuple<const Setting*, std::string, std::string>> given;  // setting, value, flag
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (!flag.starts_with("--")) usage("unknown argument '" + std::string(flag) + "'");
    if (flag == "--config") {
      if (i + 1 >= argc) usage("--config needs a value");
      config = argv[++i];
      continue;
    }
    auto found = find_setting(flag.substr(2));
    if (!found) usage("unknown argument '" + std::string(flag) + "'");
    const Setting& s = *found->first;
    std::string value = "true";
    if (s.takes_value) {
      if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
      value = argv[++i];
    }
    const std::string name(flag);
    if (found->second) value = read_secret_file(value, [&] { return name; });
    given.emplace_back(&s, std::move(value), name);
  }
  // The file first, then the command line over it.
  if (!config.empty()) {
    for (auto& [name, value] : read_config(config, a.providers)) {
      const Setting& s = *find_setting(name)->first;
      s.apply(a, value, [&, n = name] { return "'" + n + "' in " + config; });
    }
  }
  for (const auto& [s, value, flag] : given) {
    s->apply(a, value, [f = flag] { return f; });
  }
  if (a.data.empty()) usage("--data DIR is required (or data = \"DIR\" in the --config file)");
  if (a.mail_dir.empty()) a.mail_dir = a.data + "/mail";  // the development default
  if (a.key_file.empty()) a.key_file = a.data + "/secret.key";
  if (a.smtp.empty() && (a.smtp_require_tls || !a.smtp_user.empty() || !a.smtp_password.empty() ||
                         !a.smtp_ca_file.empty())) {
    usage("--smtp-require-tls, --smtp-user, --smtp-password and --smtp-ca-file need --smtp");
  }
  if (a.smtp_user.empty() != a.smtp_password.empty()) {
    usage("--smtp-user and --smtp-password (or --smtp-password-file) go together");
  }
  if (!portico::mail::valid_address(a.mail_from)) usage("--mail-from takes one e-mail address");
  if (a.workers == 0) usage("--workers must be at least 1");
  if (a.sign_in_rate == 0) usage("--sign-in-rate must be at least 1");
  if (a.write_rate == 0) usage("--write-rate must be at least 1");
  if (a.tls_cert.empty() != a.tls_key.empty()) usage("--tls-cert and --tls-key go together");
  return a;
}

// The demo accounts' passwords: random per data directory (security review L13: a published
// admin password would outlive the demo), printed once, on the run that makes them. Only their
// hashes are kept (in the log), so a restart on the directory keeps them and cannot print them.
struct DemoPasswords {
  std::string staff;
  std::string customer;
};

// The server's key (DATA/secret.key, made on first start with 32 random bytes, or the file
// --key-file names, which must exist): it signs survey links and seals two-factor secrets. A key
// made anew where one was expected would lock out everyone with two-factor sign-in on.
std::optional<std::string> load_secret(const std::string& path, bool make_if_missing) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && make_if_missing) {
    const std::string key = portico::service::new_token();
    const std::string tmp = path + ".tmp";
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return std::nullopt;
    const bool ok = ::write(out, key.data(), key.size()) == static_cast<ssize_t>(key.size()) &&
                    ::fsync(out) == 0;
    ::close(out);
    // link() fails if another process made the key first: then theirs is the key.
    if (!ok || (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)) return std::nullopt;
    ::unlink(tmp.c_str());
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return std::nullopt;
  char buffer[256];
  const ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  if (n < 32) return std::nullopt;
  return std::string(buffer, static_cast<std::size_t>(n));
}

// A demo project with a staff member, two customers and a few tickets (once per data directory);
// the passwords it gave, or nullopt when the directory had the demo already.
std::optional<DemoPasswords> seed_demo(svc::Portal& portal, svc::Accounts& accounts) {
  const svc::CommandMeta admin{dom::system_actor(), "demo:seed:project", {}};
  if (auto p = portal.project("demo"); p && p->exists) return std::nullopt;
  const DemoPasswords passwords{svc::new_passphrase(), svc::new_passphrase()};
  dom::project::Settings s;
  s.name = "Demo Support";
  s.organizations = {{"Example Corp", {"example.com"}}};
  auto ok = [](auto r, const char* what) {
    if (!r) {
      std::fprintf(stderr, "portico-server: --demo: %s: %s\n", what, r.error().message.c_str());
      std::exit(1);
    }
    return std::move(*r);
  };
  ok(portal.create_project("demo", s, admin), "create project");
  const auto agent =
      ok(accounts.set_staff_account("agent@demo.test", "Dana Agent", passwords.staff),
         "staff account");
  ok(portal.add_staff("demo", {agent.id, agent.email, agent.display_name, "admin"},
                      {dom::system_actor(), "demo:seed:staff", {}}),
     "add staff");
  for (const auto& [id, email, name, handle] :
       {std::tuple{"c-ann", "ann@example.com", "Ann Example", "ann"},
        std::tuple{"c-bob", "bob@example.com", "Bob Example", "bob"}}) {
    ok(portal.register_customer({id, email, name, handle},
                                {dom::system_actor(), std::string("demo:seed:") + id, {}}),
       "register");
    ok(portal.join_project(id, "demo",
                           {{dom::Realm::customer, id}, std::string("demo:seed:join:") + id, {}}),
       "join");
  }
  // Ann also has a password (as if she had chosen it through a reset link).
  auto password_set = accounts.set_customer_password("c-ann", passwords.customer);
  if (!password_set) {
    std::fprintf(stderr, "portico-server: --demo: password: %s\n",
                 password_set.error().message.c_str());
    std::exit(1);
  }
  auto t1 = ok(portal.open_ticket("demo",
                                  {0,
                                   "The installer stops at 80%",
                                   "It hangs on 'copying files'.",
                                   "demo-m1",
                                   {},
                                   {},
                                   {},
                                   {}},
                                  {{dom::Realm::customer, "c-ann"}, "demo:seed:t1", {}}),
               "open");
  // The demo project keeps priorities to staff: the agent marks the first one high.
  ok(portal.execute("demo", t1.state->number, dt::UpdateTicket{"high", std::nullopt},
                    {{dom::Realm::staff, agent.id}, "demo:seed:p1", {}}),
     "priority");
  ok(portal.execute("demo", t1.state->number,
                    dt::PostStaffMessage{"demo-m2", "Which version are you installing?", false,
                                         dom::Status::awaiting_customer},
                    {{dom::Realm::staff, agent.id}, "demo:seed:m2", {}}),
     "reply");
  ok(portal.open_ticket("demo",
                        {0, "How do I export my data?", "I need a CSV.", "demo-m3", {}, {}, {}, {}},
                        {{dom::Realm::customer, "c-ann"}, "demo:seed:t2", {}}),
     "open");
  return passwords;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);

  // Signals are taken by sigwait below; every thread started from here on blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  plog::Options options;
  proj::register_all(options);  // Views inline, Outbox async: as portico-admin and portico-audit
  options.rebuild_progress = [](std::string_view name, std::uint64_t done, std::uint64_t total) {
    if (total == 0) return;  // a new, empty log
    std::fprintf(stderr, "portico-server: rebuilding %.*s: %llu / %llu events\n",
                 static_cast<int>(name.size()), name.data(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total));
  };
  auto log = plog::Log::open(args.data, std::move(options));
  if (!log) {
    std::fprintf(stderr, "portico-server: cannot open %s: %s\n", args.data.c_str(),
                 log.error().message.c_str());
    return 1;
  }
  svc::Portal portal(**log);
  proj::Views views(**log);
  const bool default_key = args.key_file == args.data + "/secret.key";
  const auto secret = load_secret(args.key_file, default_key);
  if (!secret) {
    std::fprintf(
        stderr, "portico-server: cannot read%s %s: %s%s\n", default_key ? " or make" : "",
        args.key_file.c_str(), std::strerror(errno),
        default_key ? "" : " (make one with: openssl rand -base64 32 > FILE; chmod 600 FILE)");
    return 1;
  }
  auto common = svc::load_password_list(args.password_list);
  if (!common) {
    std::fprintf(stderr, "portico-server: %s\n", common.error().message.c_str());
    return 1;
  }
  phttp::AppOptions app_options;
  app_options.base_url = args.base_url;
  app_options.mail_from = args.mail_from;
  app_options.secret = *secret;
  app_options.accounts.server_key = *secret;  // seals two-factor secrets
  app_options.accounts.password_rules.is_common = *common;
  app_options.limits.per_address = {static_cast<double>(args.sign_in_rate),
                                    static_cast<double>(args.sign_in_rate)};
  app_options.writes = {2.0 * args.write_rate, static_cast<double>(args.write_rate)};
  app_options.metrics_token = args.metrics_token;
  app_options.providers = args.providers;

  // E-mail: the outbox follows the log; the deliverer sends what is due into the mail directory.
  proj::Runner outbox_feed(**log, std::string(proj::Outbox::kName));
  if (auto fed = outbox_feed.start(); !fed) {
    std::fprintf(stderr, "portico-server: outbox: %s\n", fed.error().message.c_str());
    return 1;
  }
  // SMTP when --smtp names a server; the development mail directory otherwise.
  std::unique_ptr<portico::mail::Transport> transport;
  if (args.smtp.empty()) {
    transport = std::make_unique<portico::mail::MailDir>(args.mail_dir);
  } else {
    portico::mail::SmtpOptions smtp;
    smtp.url = args.smtp;
    smtp.require_tls = args.smtp_require_tls;
    smtp.user = args.smtp_user;
    smtp.password = args.smtp_password;
    smtp.ca_file = args.smtp_ca_file;
    transport = std::make_unique<portico::mail::Smtp>(std::move(smtp));
  }
  std::optional<portico::mail::Deliverer> deliverer;  // started once the port is bound

  std::string base_url = args.base_url;  // filled in with the bound port when not given
  app_options.mail = transport.get();
  phttp::App app(**log, portal, views, app_options);
  std::optional<DemoPasswords> demo_passwords;
  if (args.demo) demo_passwords = seed_demo(portal, app.accounts());
  // The timers (scheduled closures, auto-close, survey expiry) run for as long as the server
  // does; a second server on the same directory fires none twice (their command ids match).
  svc::Scheduler scheduler(portal);
  scheduler.start();
  phttp::ServerOptions so;
  so.host = args.host;
  so.port = args.port;
  so.io_threads = args.threads;
  so.workers = args.workers;
  so.headers = phttp::security_headers();
  so.tls_cert_file = args.tls_cert;
  so.tls_key_file = args.tls_key;
  so.trusted_proxies = args.trusted_proxies;
  so.max_connections_per_address = args.max_connections_per_address;
  std::FILE* access = nullptr;
  if (args.access_log == "-") {
    so.access_log = stdout;
  } else if (!args.access_log.empty()) {
    access = std::fopen(args.access_log.c_str(), "a");
    if (!access) {
      std::fprintf(stderr, "portico-server: cannot open %s: %s\n", args.access_log.c_str(),
                   std::strerror(errno));
      return 1;
    }
    so.access_log = access;
  }
  phttp::Server server(
      [&app](const phttp::Request& r, const phttp::Peer& p) { return app.handle(r, p); }, so);
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "portico-server: %s\n", started.error().message.c_str());
    return 1;
  }
  if (base_url.empty()) {
    base_url = std::string(args.tls_cert.empty() ? "http://" : "https://") + args.host + ":" +
               std::to_string(server.port());
    app.set_base_url(base_url);
  }
  // One sender per data directory: a second server on it (another port) sends nothing.
  const std::string lock_path = args.data + "/deliverer.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd >= 0 && ::flock(lock_fd, LOCK_EX | LOCK_NB) == 0) {
    portico::mail::DelivererOptions delivery;
    delivery.base_url = base_url;
    delivery.from_address = args.mail_from;
    delivery.first_retry = args.mail_retry;
    delivery.secret = *secret;
    deliverer.emplace(**log, portal, *transport, std::move(delivery));
    deliverer->start();
  } else {
    std::fprintf(stderr,
                 "portico-server: another process sends this data directory's e-mail (%s); "
                 "this one will not\n",
                 lock_path.c_str());
  }
  std::printf("portico-server: listening on %s://%s:%u (data in %s)\n",
              args.tls_cert.empty() ? "http" : "https", args.host.c_str(), server.port(),
              args.data.c_str());
  if (args.demo) {
    std::printf(
        "portico-server: demo project 'demo': the portal at %s/p/demo/, the staff console at "
        "%s/staff/demo/,\n"
        "  the JSON API at %s/api/v1/projects/demo; magic links for ann@example.com or\n"
        "  bob@example.com go to %s\n",
        base_url.c_str(), base_url.c_str(), base_url.c_str(),
        args.smtp.empty() ? args.mail_dir.c_str() : args.smtp.c_str());
    if (demo_passwords) {
      // Printed this once: only their hashes are kept.
      std::printf(
          "portico-server: demo password for customer ann@example.com: %s\n"
          "portico-server: demo password for staff agent@demo.test: %s\n"
          "  (made for this data directory and printed only now: note them)\n",
          demo_passwords->customer.c_str(), demo_passwords->staff.c_str());
    } else {
      std::printf(
          "  the demo accounts' passwords were printed when this data directory got the demo\n"
          "  (reset Ann's with the portal's 'forgot password'; staff: portico-admin staff add)\n");
    }
  }
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  std::printf("portico-server: %s: stopping\n", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  // A second signal while stopping forces the exit (what was acknowledged is on disk already).
  std::thread([signals] {
    int again = 0;
    sigwait(&signals, &again);
    std::fprintf(stderr, "portico-server: second signal: exiting at once\n");
    std::_Exit(130);
  }).detach();
  server.stop();
  server.wait();
  scheduler.stop();
  if (deliverer) deliverer->stop();
  outbox_feed.stop();
  if (lock_fd >= 0) ::close(lock_fd);
  if (access) std::fclose(access);
  std::printf("portico-server: stopped\n");
  return 0;
}
