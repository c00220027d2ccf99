// Ticket templates: the forms a project offers customers for opening a ticket ("Bug report":
// the fields the team needs), and the rules for the answers a ticket is opened with (API.md part
// 2, "Templates, custom fields, priority"). A template is project data (project.hpp:
// TemplateSet, TemplateRemoved); a ticket keeps the template's name and its answers as they were
// when it was opened.
//
// Pure, like the rest of portico::domain: what is valid is decided here; portico-admin reads a
// template from a file, the HTTP adapter reads answers from a request.
#pragma once

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <portico/domain/common.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portico::domain::templates {

enum class FieldType { text, textarea, number, select, multiselect, checkbox, date, url, email };
BOOST_DESCRIBE_ENUM(FieldType, text, textarea, number, select, multiselect, checkbox, date, url,
                    email)

// One field of a template. `options` for select and multiselect; `min` and `max` for number;
// `max_length` (characters) for text (default 200), textarea (10,000), url and email.
struct Field {
  std::string key;    // 1 to 40 of a-z 0-9 '_' '-', starting with a letter; unique in the template
  std::string label;  // 1 to 100 characters
  FieldType type = FieldType::text;
  bool required = false;
  std::string help;  // up to 500 characters
  std::vector<std::string> options;
  std::optional<double> min;
  std::optional<double> max;
  std::optional<std::int64_t> max_length;
  friend bool operator==(const Field&, const Field&) = default;
};
BOOST_DESCRIBE_STRUCT(Field, (), (key, label, type, required, help, options, min, max, max_length))

struct Template {
  std::string key;          // as a field's key: how tickets and `template remove` name it
  std::string name;         // 1 to 100 characters: the picker's text
  std::string description;  // up to 1,000 characters
  std::string team;         // "" or one of the project's teams: tickets of this template go there
  std::vector<Field> fields;
  friend bool operator==(const Template&, const Template&) = default;
};
BOOST_DESCRIBE_STRUCT(Template, (), (key, name, description, team, fields))

inline constexpr std::size_t kMaxFields = 50;
inline constexpr std::size_t kMaxOptions = 100;
inline constexpr std::int64_t kTextLength = 200;
inline constexpr std::int64_t kTextareaLength = 10000;  // its default and its most
inline constexpr std::int64_t kLineLength = 2000;       // the most for text, url and email

bool valid_key(std::string_view key) noexcept;

// The template as stored: its rules checked and its defaults filled in (max_length of text and
// textarea). invalid_request naming what is wrong: "key", "name", "description",
// "fields[2].options" …
Result<Template> check_template(Template t);

// A template as the operator writes it (portico-admin template set --file): a JSON object with
// key, name, description?, team?, fields: [{key, label, type, required?, help?, options?, min?,
// max?, max_length?}]. An unknown key, or a value of the wrong JSON type, is refused naming it;
// then check_template.
Result<Template> parse_template(const boost::json::value& json);
// The same shape back (what GET /api/v1/projects/{p}/templates lists).
boost::json::object to_json(const Template& t);

// One answer of a ticket, in the template's order.
struct Answer {
  std::string key;
  std::string label;
  boost::json::value value;
  friend bool operator==(const Answer&, const Answer&) = default;
};
// A ticket's answers to `t`: every required field present (an empty text, an unchecked box and
// an empty selection count as absent), no key the template lacks, each value of its field's type
// and within its bounds — else invalid_request with field "fields.KEY". An optional field left
// out has no answer. Values as stored: text trimmed, a date "YYYY-MM-DD" that exists, a url
// http:// or https:// with a host, an e-mail address lower-cased, a number finite.
Result<std::vector<Answer>> check_answers(const Template& t, const boost::json::object& fields);

}  // namespace portico::domain::templates
