#include "render.hpp"

#include <portico/log/types.hpp>

namespace portico::http {

namespace dt = dom::ticket;

const std::string& NameBook::customer(const std::string& id) {
  auto it = names_.find(id);
  if (it == names_.end()) {
    it = names_.emplace(id, lookup_(id).value_or("Former customer")).first;
  }
  return it->second;
}

std::string time_json(dom::TimeUs t) { return log::format_time_us(t); }

std::string_view role_name(dt::Role role) {
  switch (role) {
    case dt::Role::creator:
      return "creator";
    case dt::Role::participant:
      return "participant";
    case dt::Role::organization:
      return "organization";
    case dt::Role::none:
      break;
  }
  return "";
}

namespace {

boost::json::value role_value(dt::Role role) {
  const auto name = role_name(role);
  if (name.empty()) return nullptr;
  return boost::json::string(name);
}

boost::json::object person(NameBook& names, const std::string& id) {
  return {{"id", id}, {"display_name", names.customer(id)}};
}

}  // namespace

boost::json::object summary_json(const projections::TicketSummary& s, bool staff) {
  boost::json::object o{
      {"number", s.number},
      {"subject", s.subject},
      {"status", dom::to_string(s.status)},
      {"priority", s.priority},
      {"team", s.team.empty() ? boost::json::value(nullptr) : boost::json::value(s.team)},
      {"created_at", time_json(s.created_at)},
      {"updated_at", time_json(s.updated_at)},
      {"favorite", s.favorite},
      {"role", staff ? boost::json::value(nullptr) : role_value(s.role)},
  };
  if (staff) {
    o["waiting_on"] = dom::to_string(s.waiting_on);
    o["creator"] = s.creator;
  }
  return o;
}

boost::json::object page_json(const projections::Page<projections::TicketSummary>& page,
                              bool staff) {
  boost::json::array items;
  items.reserve(page.items.size());
  for (const auto& s : page.items) items.push_back(summary_json(s, staff));
  return {{"items", std::move(items)},
          {"next_cursor",
           page.next_cursor ? boost::json::value(*page.next_cursor) : boost::json::value(nullptr)}};
}

boost::json::object message_json(const dt::Message& m, const dom::project::State& project,
                                 const Viewer& viewer, NameBook& names) {
  std::string name;
  switch (m.author.realm) {
    case dom::Realm::customer:
      name = names.customer(m.author.id);
      break;
    case dom::Realm::staff: {
      auto it = project.staff.find(m.author.id);
      name = it != project.staff.end() ? it->second.display_name : "Support";
      break;
    }
    case dom::Realm::system:
      name = project.settings.name;
      break;
  }
  boost::json::object reactions;
  for (const auto& [emoji, who] : m.reactions) {
    if (who.empty()) continue;
    reactions[emoji] = {{"count", who.size()}, {"mine", dt::reacted(m, viewer.actor, emoji)}};
  }
  boost::json::object o{
      {"id", m.id},
      {"author",
       {{"id", m.author.id}, {"display_name", name}, {"realm", dom::to_string(m.author.realm)}}},
      {"body", m.deleted ? boost::json::value(nullptr) : boost::json::value(m.body)},
      {"created_at", time_json(m.created_at)},
      {"edited_at",
       m.edited_at ? boost::json::value(time_json(*m.edited_at)) : boost::json::value(nullptr)},
      {"deleted", m.deleted},
      {"internal", m.internal},
      {"reactions", std::move(reactions)},
  };
  if (viewer.actor.realm == dom::Realm::staff) {
    boost::json::array history;
    for (const auto& h : m.history) history.emplace_back(h);
    o["history"] = std::move(history);
  }
  return o;
}

boost::json::object ticket_json(const dt::State& t, const dom::project::State& project,
                                const Viewer& viewer, NameBook& names) {
  const bool staff = viewer.actor.realm == dom::Realm::staff;
  boost::json::object o{
      {"number", t.number},
      {"subject", t.subject},
      {"status", dom::to_string(t.status)},
      {"priority", t.priority},
      {"team", t.team.empty() ? boost::json::value(nullptr) : boost::json::value(t.team)},
      {"created_at", time_json(t.created_at)},
      // Customers see their own clock of activity: internal notes and staff edits never move it.
      {"updated_at", time_json(staff ? t.updated_at : t.public_updated_at)},
      {"favorite", !staff && t.favorites.contains(viewer.actor.id)},
      {"role", staff ? boost::json::value(nullptr) : role_value(viewer.role)},
  };
  o["creator"] = person(names, t.creator);
  boost::json::array participants;
  for (const auto& p : t.participants) {
    if (p != t.creator) participants.push_back(person(names, p));
  }
  o["participants"] = std::move(participants);
  boost::json::array messages;
  for (const auto& m : t.messages) {
    if (m.internal && !staff) continue;  // customers never see internal notes
    messages.push_back(message_json(m, project, viewer, names));
  }
  o["messages"] = std::move(messages);
  if (t.closure) {
    boost::json::object closure;
    if (t.closure->requested_by) closure["requested_by"] = *t.closure->requested_by;
    if (t.closure->closes_at) closure["closes_at"] = time_json(*t.closure->closes_at);
    o["closure"] = std::move(closure);
  } else {
    o["closure"] = nullptr;
  }
  const dt::Survey* survey = dt::pending_survey(t, viewer.now);
  o["survey_pending"] =
      survey != nullptr && (staff || (viewer.actor.realm == dom::Realm::customer &&
                                      viewer.actor.id == survey->customer));
  if (t.purchase_id) o["purchase"] = {{"id", *t.purchase_id}};
  if (t.template_name) o["template"] = *t.template_name;
  if (!t.fields.empty()) o["fields"] = t.fields;
  if (staff) {
    o["waiting_on"] = t.last_public_author ? dom::to_string(*t.last_public_author) : "staff";
    o["first_staff_reply_at"] = t.first_staff_reply_at
                                    ? boost::json::value(time_json(*t.first_staff_reply_at))
                                    : boost::json::value(nullptr);
  }
  return o;
}

boost::json::object invites_json(const dt::State& t, NameBook& names) {
  boost::json::array items;
  for (const dt::Invite* i : dt::active_invites(t)) {
    items.push_back({{"id", i->id},
                     {"created_by", person(names, i->created_by)},
                     {"created_at", time_json(i->created_at)}});
  }
  return {{"items", std::move(items)}};
}

boost::json::object customer_json(const dom::customer::State& c) {
  return {{"id", c.id}, {"display_name", c.display_name}, {"handle", c.handle}, {"email", c.email}};
}

}  // namespace portico::http
