#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <portico/errc.hpp>
#include <portico/log/types.hpp>
#include <portico/mail/deliverer.hpp>
#include <portico/service/tokens.hpp>

namespace portico::mail {

namespace dom = portico::domain;
namespace dt = portico::domain::ticket;

namespace {

constexpr std::size_t kContextMessages = 5;

std::string author_name(const dt::Message& m, const dom::project::State& project,
                        service::Portal& portal) {
  switch (m.author.realm) {
    case dom::Realm::staff: {
      auto it = project.staff.find(m.author.id);
      return it == project.staff.end() ? "Support" : it->second.display_name;
    }
    case dom::Realm::customer: {
      auto c = portal.customer(m.author.id);
      return c ? c->display_name : "A customer";
    }
    case dom::Realm::system:
      break;
  }
  return "System";
}

dom::TimeUs now_of(const DelivererOptions& options) {
  return options.clock ? options.clock() : system_clock_us();
}

}  // namespace

std::string ticket_message_id(std::string_view project, std::uint64_t ticket,
                              std::string_view base_url) {
  return fmt::format("ticket-{}.{}@{}", ticket, project, message_id_domain(base_url));
}

std::string message_id_domain(std::string_view base_url) {
  std::string_view host = base_url;
  if (const auto scheme = host.find("://"); scheme != std::string_view::npos) {
    host.remove_prefix(scheme + 3);
  }
  host = host.substr(0, host.find_first_of("/?#"));
  if (const auto at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  if (host.starts_with('['))
    host = host.substr(0, host.find(']') + 1);  // IPv6: as it is
  else
    host = host.substr(0, host.find(':'));
  std::string out;
  for (char c : host) {  // a dot-atom: nothing a header could be broken with
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') out.push_back(c);
  }
  return out.empty() ? "portico.invalid" : out;
}

Result<Message> compose(const projections::Delivery& d, service::Portal& portal,
                        const DelivererOptions& options) {
  auto project = portal.project(d.project);
  if (!project) return Unexpected(project.error());
  auto ticket = portal.ticket(d.project, d.ticket);
  if (!ticket) return Unexpected(ticket.error());
  auto recipient = portal.customer(d.recipient);
  if (!recipient) return Unexpected(recipient.error());
  const dt::State& t = **ticket;
  // Only someone who may read the ticket now hears about it (a participant removed since, a
  // customer who left the project: nothing).
  auto ctx = portal.reading_context(d.project, t, {dom::Realm::customer, d.recipient});
  if (!ctx) return Unexpected(ctx.error());
  if (!t.exists || !dt::can_read(t, *ctx)) {
    return fail(kNoReader, "the recipient may not read the ticket");
  }
  // A customer from an identity provider that vouched for no address: the bell only.
  if (recipient->email.empty()) return fail(kNoReader, "the recipient has no e-mail address");

  const std::string& name = project->settings.name;
  const std::string number = "#" + std::to_string(d.ticket);
  std::string subject, lead;
  if (d.kind == "ticket_created") {
    subject = fmt::format("[{}] {} received: {}", name, number, t.subject);
    lead = fmt::format("we received your ticket {} and will answer as soon as we can.", number);
  } else if (d.kind == "staff_replied") {
    subject = fmt::format("[{}] {} new reply: {}", name, number, t.subject);
    lead = fmt::format("there is a new reply on {}.", number);
  } else if (d.kind == "status_changed") {
    subject =
        fmt::format("[{}] {} is now {}: {}", name, number, dom::to_string(t.status), t.subject);
    lead = fmt::format("{} is now {}.", number, dom::to_string(t.status));
  } else if (d.kind == "closed") {
    subject = fmt::format("[{}] {} closed: {}", name, number, t.subject);
    lead = fmt::format("{} is closed.", number);
  } else if (d.kind == "feedback_requested") {
    subject = fmt::format("[{}] How did we do on {}?", name, number);
    lead = fmt::format("how did we do on {}? Rate the help you got on the ticket's page.", number);
    // The survey's own link answers it without signing in (while it is pending).
    const dt::Survey* survey = dt::pending_survey(t, now_of(options));
    if (!options.secret.empty() && survey != nullptr && survey->customer == d.recipient) {
      lead = fmt::format(
          "how did we do on {}? One click rates the help you got (no sign-in needed):\n\n"
          "{}/p/{}/survey?token={}",
          number, options.base_url, d.project,
          service::survey_token(options.secret, {d.project, d.ticket, survey->id}));
    }
  } else {
    return fail(kNoReader, "no e-mail for deliveries of kind " + d.kind);
  }
  std::string text =
      fmt::format("Hello {},\n\n{}\n\n{}/p/{}/tickets/{}\n", name_text(recipient->display_name),
                  lead, options.base_url, d.project, d.ticket);
  // The last public messages, oldest first: internal notes and deleted messages never leave.
  std::vector<const dt::Message*> shown;
  for (auto it = t.messages.rbegin(); it != t.messages.rend() && shown.size() < kContextMessages;
       ++it) {
    if (!it->internal && !it->deleted) shown.push_back(&*it);
  }
  if (!shown.empty()) text += "\nThe latest messages:\n";
  for (auto it = shown.rbegin(); it != shown.rend(); ++it) {
    const dt::Message& m = **it;
    text += fmt::format("\n--- {} ({})\n{}\n", name_text(author_name(m, *project, portal)),
                        log::format_time_us(m.created_at).substr(0, 16) + " UTC", m.body);
  }
  text += fmt::format("\n-- \n{} ({})\n", name, options.base_url);
  // The same Message-ID on every attempt: a copy sent twice can be told for what it is. The
  // ticket's first e-mail is the one every later one follows, so they thread in mail clients.
  const std::string first = ticket_message_id(d.project, d.ticket, options.base_url);
  std::string own = d.id + "." + d.project;
  std::replace(own.begin(), own.end(), ':', '.');  // a msg-id's left part is a dot-atom
  own += "@" + message_id_domain(options.base_url);
  Message out{name,
              options.from_address,
              recipient->email,
              std::move(subject),
              std::move(text),
              d.kind == "ticket_created" ? first : own};
  out.in_reply_to = first;
  return out;
}

Deliverer::Deliverer(log::Log& log, service::Portal& portal, Transport& transport,
                     DelivererOptions options)
    : outbox_(log, options.first_retry),
      portal_(portal),
      transport_(transport),
      options_(std::move(options)) {
  if (!options_.on_warning) options_.on_warning = warn_on_stderr;
}

Deliverer::~Deliverer() { stop(); }

dom::TimeUs Deliverer::now() const { return now_of(options_); }

Result<DeliveryCount> Deliverer::deliver_due(std::size_t limit) {
  const dom::TimeUs at = now();
  // The transport failed last time (a mail server down): nothing is tried until the pause is
  // over, so an outage costs one attempt of one delivery per pause, not every delivery's.
  if (at < paused_until_) return DeliveryCount{};
  auto due = outbox_.due(at, limit);
  if (!due) return Unexpected(due.error());
  DeliveryCount count;
  // What went out (or had nobody to go to) is marked delivered in one write per batch: a write
  // per mail cost a disk sync each, which the appends of the replies that queued them wait on.
  // A crash before the mark sends the batch again (delivery is at least once, as before).
  std::vector<std::string> settled;
  auto settle = [&]() -> Result<void> {
    auto ok = outbox_.delivered(settled);
    settled.clear();
    return ok;
  };
  for (const projections::Delivery& d : *due) {
    auto message = compose(d, portal_, options_);
    if (!message && message.error().code == kNoReader) {
      ++count.dropped;  // nobody may be told, or nothing to tell
      settled.push_back(d.id);
      continue;
    }
    Result<void> sent =
        message ? transport_.send(*message) : Result<void>(Unexpected(message.error()));
    if (!sent) {
      ++count.failed;
      // A message refused for what it is (an SMTP 5xx, a malformed address) fails the same way
      // every time: it is parked as dead at once. Anything else waits and is tried again.
      const bool final_answer = sent.error().code == errc::kInvalidRequest;
      // The outbox's own bookkeeping must succeed, or the batch stops (nothing is then sent
      // twice in a tight loop, nor retried without backoff).
      auto parked = outbox_.failed(
          d.id, at, sent.error().message,
          final_answer ? projections::Outbox::Retry::never : projections::Outbox::Retry::later);
      if (!parked && parked.error().code != errc::kNotFound) {
        if (auto ok = settle(); !ok) return Unexpected(ok.error());
        return Unexpected(parked.error());
      }
      if (parked && (final_answer || d.attempts + 1 >= projections::Outbox::kMaxAttempts)) {
        options_.on_warning(fmt::format(
            "mail delivery: {} ({} to customer {}, ticket {}#{}) given up after {} attempt{}: {}",
            d.id, d.kind, d.recipient, d.project, d.ticket, d.attempts + 1,
            d.attempts == 0 ? "" : "s", sent.error().message));
      }
      // The transport is failing (a mail server down): the rest of the batch waits, and the
      // deliverer pauses (first_retry, doubling with each failed round, at most 10 minutes).
      if (!final_answer) {
        ++transport_failures_;
        const dom::TimeUs pause = std::min<dom::TimeUs>(
            options_.first_retry << std::min<std::uint32_t>(transport_failures_ - 1, 20),
            10 * 60 * dom::kSecond);
        paused_until_ = at + pause;
        break;
      }
      continue;
    }
    transport_failures_ = 0;
    ++count.sent;
    settled.push_back(d.id);
  }
  if (auto ok = settle(); !ok) return Unexpected(ok.error());
  return count;
}

void Deliverer::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (!stopping_) {
      auto done = deliver_due();
      if (!done) {
        options_.on_warning("mail delivery: " + done.error().message + " (" + done.error().code +
                            "); trying again in " + std::to_string(options_.poll.count()) + " ms");
      }
      const auto until = std::chrono::steady_clock::now() + options_.poll;
      while (!stopping_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
}

void Deliverer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace portico::mail
