// What the "views" tables hold as values (private to projections/). JSON through Boost.Describe:
// members serialize in declaration order, so equal records are equal bytes (a rebuild compares
// byte for byte). Ticket records, read once per item of every list page, are binary instead
// (records.cpp).
#pragma once

#include <boost/describe/class.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <optional>
#include <portico/domain/common.hpp>
#include <portico/domain/project.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::projections::detail {

namespace domain = portico::domain;

struct TicketRecord {
  std::string project;
  std::uint64_t number = 0;
  std::string subject;
  domain::Status status = domain::Status::open;
  std::string priority;
  std::string team;
  domain::TimeUs created_at = 0;
  domain::TimeUs updated_at = 0;         // any activity: the staff queue's order
  domain::TimeUs public_updated_at = 0;  // activity customers see: their lists' order
  std::string creator;
  std::string domain;                     // the creator's e-mail domain: the organisation key
  std::vector<std::string> participants;  // sorted, the creator included
  domain::Realm waiting_on = domain::Realm::staff;

  bool has_participant(std::string_view customer) const;
  friend bool operator==(const TicketRecord&, const TicketRecord&) = default;
};
BOOST_DESCRIBE_STRUCT(TicketRecord, (),
                      (project, number, subject, status, priority, team, created_at, updated_at,
                       public_updated_at, creator, domain, participants, waiting_on))

struct CustomerRecord {
  std::string domain;
  std::string display_name;
  std::string handle;
};
BOOST_DESCRIBE_STRUCT(CustomerRecord, (), (domain, display_name, handle))

struct ProjectRecord {
  bool organization_visibility = false;
  std::vector<domain::project::Organization> organizations;

  // The organisation an e-mail domain belongs to in this project ("" for none).
  const domain::project::Organization* organization_of(std::string_view domain) const;
};
BOOST_DESCRIBE_STRUCT(ProjectRecord, (), (organization_visibility, organizations))

struct NotificationRecord {
  std::string kind;  // "mention", "survey", "staff_reply"
  std::string project;
  std::uint64_t ticket = 0;
  std::string subject;
  std::string preview;
  domain::TimeUs created_at = 0;
  bool read = false;
};
BOOST_DESCRIBE_STRUCT(NotificationRecord, (),
                      (kind, project, ticket, subject, preview, created_at, read))

template <class T>
std::string encode(const T& value) {
  return boost::json::serialize(boost::json::value_from(value));
}

template <class T>
std::optional<T> decode(std::string_view bytes) {
  boost::system::error_code ec;
  auto v = boost::json::parse(bytes, ec);
  if (ec) return std::nullopt;
  auto r = boost::json::try_value_to<T>(v);
  if (!r) return std::nullopt;
  return std::move(*r);
}

std::string encode(const TicketRecord& r);
template <>
std::optional<TicketRecord> decode<TicketRecord>(std::string_view bytes);

}  // namespace portico::projections::detail
