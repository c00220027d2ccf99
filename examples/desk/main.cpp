// Embedding the help desk: a Portal (the command handler) over a log that keeps the portal's read
// models, a customer and a staff member at work, and what each of them then sees.
//
//   portico-desk-example [DIR]      (a fresh temporary directory when DIR is left out)
#include <cstdio>
#include <filesystem>
#include <portico/projections/views.hpp>
#include <portico/service/portal.hpp>
#include <string>

namespace dom = portico::domain;
namespace dt = portico::domain::ticket;
namespace plog = portico::log;
namespace proj = portico::projections;
namespace svc = portico::service;

namespace {

template <class T>
T must(portico::Result<T> r, const char* what) {
  if (!r) {
    std::fprintf(stderr, "%s: %s (%s)\n", what, r.error().message.c_str(), r.error().code.c_str());
    std::exit(1);
  }
  return std::move(*r);
}

void print(const char* title, const proj::Page<proj::TicketSummary>& page) {
  std::printf("%s:\n", title);
  for (const auto& s : page.items) {
    std::printf("  #%llu %-28s %-18s waiting on %s%s\n", static_cast<unsigned long long>(s.number),
                s.subject.c_str(), std::string(dom::to_string(s.status)).c_str(),
                std::string(dom::to_string(s.waiting_on)).c_str(), s.favorite ? "  ★" : "");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir;
  if (argc > 1) {
    dir = argv[1];
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-desk-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return std::perror("mkdtemp"), 1;
    dir = tmpl;
  }

  // The read models live in the log's own environment and commit with every append.
  plog::Options options;
  options.projections = {proj::Views::projection()};
  auto opened = plog::Log::open(dir, options);
  if (!opened) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), opened.error().message.c_str());
    return 1;
  }
  auto& log = *opened;
  svc::Portal portal(*log);
  proj::Views views(*log);

  const svc::CommandMeta admin{dom::system_actor(), "", {}};
  const svc::CommandMeta ann{{dom::Realm::customer, "c-ann"}, "", {}};
  const svc::CommandMeta agent{{dom::Realm::staff, "s-agnes"}, "", {}};

  dom::project::Settings settings;
  settings.name = "Acme Support";
  must(portal.create_project("acme", settings, admin), "create project");
  must(portal.add_staff("acme", {"s-agnes", "agnes@acme.test", "Agnes", "agent"}, admin),
       "add staff");
  must(portal.register_customer({"c-ann", "ann@example.test", "Ann", "ann"}, admin), "register");
  must(portal.join_project("c-ann", "acme", ann), "sign in");

  dt::OpenTicket printer{
      .subject = "The printer is on fire", .body = "Smoke everywhere.", .message_id = "m-1"};
  dt::OpenTicket password{
      .subject = "Password reset", .body = "The link expired.", .message_id = "m-2"};
  const auto first = must(portal.open_ticket("acme", printer, ann), "open").state->number;
  const auto second = must(portal.open_ticket("acme", password, ann), "open").state->number;
  must(portal.execute("acme", first, dt::AddFavorite{}, ann), "favorite");
  must(portal.execute("acme", second,
                      dt::PostStaffMessage{"m-3", "Here is a new link.", false,
                                           dom::Status::awaiting_customer},
                      agent),
       "staff reply");

  // Read-your-writes: every command above is already in the lists.
  print("Ann's tickets", must(views.customer_tickets("c-ann", "acme", {}), "list"));
  const auto bell = must(views.notifications("c-ann"), "bell");
  std::printf("Ann's bell: %llu unread\n", static_cast<unsigned long long>(bell.unread));
  for (const auto& n : bell.items) {
    std::printf("  %s on #%llu: %s\n", std::string(proj::to_string(n.kind)).c_str(),
                static_cast<unsigned long long>(n.ticket), n.preview.c_str());
  }
  proj::QueueQuery open_only;
  open_only.statuses = {dom::Status::open};
  print("Staff queue, open", must(views.staff_queue("acme", open_only), "queue"));
  const auto overview = must(views.overview("c-ann", "acme"), "overview");
  std::printf("Overview: %llu active\nlog in %s\n",
              static_cast<unsigned long long>(overview.active), dir.c_str());
  return 0;
}
