#include "history.hpp"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <chrono>
#include <cstdio>
#include <portico/domain/ticket.hpp>

namespace portico::audit {
namespace {

namespace dt = portico::domain::ticket;

boost::json::object state_json(const dt::State& s) {
  using boost::json::value_from;
  boost::json::object o;
  o["project"] = s.project;
  o["number"] = s.number;
  o["subject"] = s.subject;
  o["status"] = domain::to_string(s.status);
  o["status_since"] = log::format_time_us(s.status_since);
  o["creator"] = s.creator;
  o["organization"] = s.organization;
  o["participants"] = value_from(s.participants);
  o["priority"] = s.priority;
  o["team"] = s.team;
  boost::json::array messages;
  for (const auto& m : s.messages) {
    boost::json::object msg{{"id", m.id},
                            {"author", value_from(m.author)},
                            {"created_at", log::format_time_us(m.created_at)},
                            {"internal", m.internal},
                            {"deleted", m.deleted},
                            {"body", m.body}};
    if (m.edited_at) msg["edited_at"] = log::format_time_us(*m.edited_at);
    if (!m.history.empty()) msg["history"] = value_from(m.history);
    if (!m.reactions.empty()) msg["reactions"] = value_from(m.reactions);
    messages.push_back(std::move(msg));
  }
  o["messages"] = std::move(messages);
  if (s.closure) {
    boost::json::object c;
    if (s.closure->requested_by) c["requested_by"] = *s.closure->requested_by;
    if (s.closure->closes_at) c["closes_at"] = log::format_time_us(*s.closure->closes_at);
    o["closure"] = std::move(c);
  } else {
    o["closure"] = nullptr;
  }
  boost::json::array surveys;
  constexpr const char* kSurveyStates[] = {"pending", "answered", "withdrawn", "expired"};
  for (const auto& v : s.surveys) {
    boost::json::object survey{{"id", v.id},
                               {"state", kSurveyStates[static_cast<int>(v.state)]},
                               {"offered_at", log::format_time_us(v.offered_at)},
                               {"expires_at", log::format_time_us(v.expires_at)}};
    if (v.state == dt::SurveyState::answered) survey["rating"] = v.rating;
    surveys.push_back(std::move(survey));
  }
  o["surveys"] = std::move(surveys);
  o["favorites"] = value_from(s.favorites);
  boost::json::array invites;
  for (const auto& [id, inv] : s.invites) {
    invites.push_back(
        {{"id", id}, {"created_by", inv.created_by}, {"active", !inv.revoked && !inv.dead}});
  }
  o["invites"] = std::move(invites);
  o["created_at"] = log::format_time_us(s.created_at);
  o["updated_at"] = log::format_time_us(s.updated_at);
  return o;
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > text.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
             mi = digits(14, 2), sec = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || *h > 23 || *mi > 59 || *sec > 60) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  std::size_t at = 19;
  std::int64_t micros = 0;
  if (at < text.size() && text[at] == '.') {
    std::size_t n = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++n) {
      if (n < 6) micros = micros * 10 + (text[at] - '0');
    }
    if (n == 0) return std::nullopt;
    for (; n < 6; ++n) micros *= 10;
  }
  std::int64_t offset_s = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    const auto oh = digits(at + 1, 2), om = digits(at + 4, 2);
    if (!oh || !om) return std::nullopt;
    offset_s = (text[at] == '-' ? -1 : 1) * (*oh * 3600 + *om * 60);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  const std::int64_t seconds_since_epoch =
      sys_days{ymd}.time_since_epoch().count() * 86'400 + *h * 3600 + *mi * 60 + *sec - offset_s;
  return seconds_since_epoch * 1'000'000 + micros;
}

int print_history(const log::Log& log, const std::string& project, std::uint64_t number,
                  std::optional<std::int64_t> at) {
  const std::string stream = dt::stream_id(project, number);
  dt::State state;
  std::size_t shown = 0, total = 0;
  std::uint64_t next = 1;
  for (;;) {
    auto records = log.read_stream(stream, next, log::Direction::forward, 1024);
    if (!records) {
      fmt::print(stderr, "portico-audit: {}\n", records.error().message);
      return 2;
    }
    for (const log::Record& r : *records) {
      ++total;
      if (at && r.recorded_at_us > *at) continue;
      auto payload = r.payload_object();
      auto event = dt::from_payload(r.type, payload);
      if (!event) {
        fmt::print(stderr, "portico-audit: position {}: {}\n", r.position, event.error().message);
        return 2;
      }
      state = dt::evolve(std::move(state), *event);
      ++shown;
      payload.erase("at");
      fmt::print("{}  #{:<6} v{:<4} {}:{:<12} {:<18} {}\n", log::format_time_us(r.recorded_at_us),
                 r.position, r.stream_version, log::to_string(r.actor.realm), r.actor.id, r.type,
                 boost::json::serialize(payload));
    }
    if (records->size() < 1024) break;
    next = records->back().stream_version + 1;
  }
  if (total == 0) {
    fmt::print(stderr, "portico-audit: no ticket {} #{} in this log\n", project, number);
    return 2;
  }
  fmt::print("\nstate of {} #{} {} ({} of {} events):\n{}\n", project, number,
             at ? "at " + log::format_time_us(*at) : std::string("now"), shown, total,
             shown ? boost::json::serialize(state_json(state)) : std::string("(not opened yet)"));
  return 0;
}

}  // namespace portico::audit
