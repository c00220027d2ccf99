#include <algorithm>
#include <boost/describe/enum_from_string.hpp>
#include <boost/describe/enum_to_string.hpp>
#include <boost/json/array.hpp>
#include <cmath>
#include <portico/domain/account.hpp>
#include <portico/domain/project.hpp>
#include <portico/domain/templates.hpp>
#include <portico/errc.hpp>
#include <portico/utf8.hpp>
#include <set>

namespace portico::domain::templates {

namespace {

Unexpected<Error> invalid(std::string field, std::string message) {
  return fail(errc::kInvalidRequest, std::move(message), std::move(field));
}

// Text of 1 (0 when `may_be_empty`) to `max` characters, printable.
bool text_ok(std::string_view s, std::size_t max, bool may_be_empty) {
  const auto n = utf8_length(s);
  if (!n || *n > max || (*n == 0 && !may_be_empty)) return false;
  return utf8::valid_printable(s);
}

// Multi-line text (a textarea's answer): printable, with line breaks and tabs.
bool multiline_ok(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\r' && c != '\t') || u == 0x7f) return false;
  }
  return utf8_length(s).has_value();
}

std::string where(std::size_t i, std::string_view what) {
  return "fields[" + std::to_string(i) + "]" + (what.empty() ? "" : "." + std::string(what));
}

bool has_length(FieldType t) {
  return t == FieldType::text || t == FieldType::textarea || t == FieldType::url ||
         t == FieldType::email;
}

// "YYYY-MM-DD" naming a day of the Gregorian calendar.
bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  const int y = std::stoi(std::string(s.substr(0, 4)));
  const int m = std::stoi(std::string(s.substr(5, 2)));
  const int d = std::stoi(std::string(s.substr(8, 2)));
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

// http:// or https://, then a host of letters, digits, '-', '.' (and a port or path after it).
bool valid_url(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else {
    return false;
  }
  const auto end = rest.find_first_of("/:?#");
  const auto host = rest.substr(0, end);
  if (host.empty()) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

std::string number_text(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  return std::to_string(v);
}

// ---- Reading the operator's JSON ----

Result<std::string> string_member(const boost::json::object& o, std::string_view key,
                                  const std::string& at, bool required) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    if (required) return invalid(at + std::string(key), std::string(key) + " is required");
    return std::string();
  }
  if (!v->is_string()) return invalid(at + std::string(key), std::string(key) + " is a string");
  return std::string(v->as_string());
}

Result<std::optional<double>> number_member(const boost::json::object& o, std::string_view key,
                                            const std::string& at) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::optional<double>();
  if (!v->is_number()) return invalid(at + std::string(key), std::string(key) + " is a number");
  return std::optional<double>(v->to_number<double>());
}

Result<Field> parse_field(const boost::json::value& json, std::size_t i) {
  const std::string at = where(i, "");
  const auto* o = json.if_object();
  if (o == nullptr) return invalid(at, "a field is an object");
  static const std::set<std::string, std::less<>> kKeys = {
      "key", "label", "type", "required", "help", "options", "min", "max", "max_length"};
  for (const auto& [k, v] : *o) {
    if (!kKeys.contains(k)) return invalid(at + "." + std::string(k), "unknown key");
  }
  Field f;
  const std::string dot = at + ".";
  auto key = string_member(*o, "key", dot, true);
  if (!key) return Unexpected(key.error());
  f.key = *key;
  auto label = string_member(*o, "label", dot, true);
  if (!label) return Unexpected(label.error());
  f.label = *label;
  auto type = string_member(*o, "type", dot, true);
  if (!type) return Unexpected(type.error());
  if (!boost::describe::enum_from_string(type->c_str(), f.type)) {
    return invalid(dot + "type",
                   "type is text, textarea, number, select, multiselect, checkbox, date, url "
                   "or email");
  }
  if (const auto* r = o->if_contains("required")) {
    if (!r->is_bool()) return invalid(dot + "required", "required is true or false");
    f.required = r->as_bool();
  }
  auto help = string_member(*o, "help", dot, false);
  if (!help) return Unexpected(help.error());
  f.help = *help;
  if (const auto* opts = o->if_contains("options")) {
    if (!opts->is_array()) return invalid(dot + "options", "options is a list of strings");
    for (const auto& opt : opts->as_array()) {
      if (!opt.is_string()) return invalid(dot + "options", "options is a list of strings");
      f.options.emplace_back(opt.as_string());
    }
  }
  auto min = number_member(*o, "min", dot);
  if (!min) return Unexpected(min.error());
  f.min = *min;
  auto max = number_member(*o, "max", dot);
  if (!max) return Unexpected(max.error());
  f.max = *max;
  if (const auto* len = o->if_contains("max_length"); len != nullptr && !len->is_null()) {
    if (!len->is_int64() && !len->is_uint64()) {
      return invalid(dot + "max_length", "max_length is a whole number");
    }
    f.max_length = len->to_number<std::int64_t>();
  }
  return f;
}

}  // namespace

bool valid_key(std::string_view key) noexcept {
  if (key.empty() || key.size() > 40 || !(key[0] >= 'a' && key[0] <= 'z')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

Result<Template> check_template(Template t) {
  if (!valid_key(t.key)) {
    return invalid("key", "a template's key is 1 to 40 of a-z 0-9 '_' '-', starting with a letter");
  }
  if (!text_ok(t.name, 100, false)) return invalid("name", "a name is 1 to 100 characters");
  if (!text_ok(t.description, 1000, true)) {
    return invalid("description", "a description is at most 1,000 characters");
  }
  if (!t.team.empty() && !project::valid_team(t.team)) return invalid("team", "not a team name");
  if (t.fields.size() > kMaxFields) {
    return invalid("fields", "a template has at most " + std::to_string(kMaxFields) + " fields");
  }
  std::set<std::string> keys;
  for (std::size_t i = 0; i < t.fields.size(); ++i) {
    Field& f = t.fields[i];
    if (!valid_key(f.key)) {
      return invalid(where(i, "key"), "a field's key is 1 to 40 of a-z 0-9 '_' '-'");
    }
    if (!keys.insert(f.key).second) return invalid(where(i, "key"), "two fields share " + f.key);
    if (!text_ok(f.label, 100, false))
      return invalid(where(i, "label"), "a label is 1 to 100 characters");
    if (!text_ok(f.help, 500, true))
      return invalid(where(i, "help"), "help is at most 500 characters");
    const bool choice = f.type == FieldType::select || f.type == FieldType::multiselect;
    if (choice) {
      if (f.options.empty() || f.options.size() > kMaxOptions) {
        return invalid(where(i, "options"),
                       "a choice has 1 to " + std::to_string(kMaxOptions) + " options");
      }
      std::set<std::string> seen;
      for (const auto& o : f.options) {
        if (!text_ok(o, 100, false) || !seen.insert(o).second) {
          return invalid(where(i, "options"), "options are distinct, 1 to 100 characters each");
        }
      }
    } else if (!f.options.empty()) {
      return invalid(where(i, "options"), "only select and multiselect have options");
    }
    if (f.type == FieldType::number) {
      if ((f.min && !std::isfinite(*f.min)) || (f.max && !std::isfinite(*f.max)) ||
          (f.min && f.max && *f.min > *f.max)) {
        return invalid(where(i, "min"), "min and max are numbers, min at most max");
      }
    } else if (f.min || f.max) {
      return invalid(where(i, f.min ? "min" : "max"), "only a number has min and max");
    }
    if (has_length(f.type)) {
      const bool long_text = f.type == FieldType::textarea;
      const std::int64_t ceiling = long_text ? kTextareaLength : kLineLength;
      if (!f.max_length) f.max_length = long_text ? kTextareaLength : kTextLength;
      if (*f.max_length < 1 || *f.max_length > ceiling) {
        return invalid(where(i, "max_length"), "max_length is 1 to " + std::to_string(ceiling));
      }
    } else if (f.max_length) {
      return invalid(where(i, "max_length"), "only text, textarea, url and email have max_length");
    }
  }
  return t;
}

Result<Template> parse_template(const boost::json::value& json) {
  const auto* o = json.if_object();
  if (o == nullptr) return invalid("", "a template is a JSON object");
  static const std::set<std::string, std::less<>> kKeys = {"key", "name", "description", "team",
                                                           "fields"};
  for (const auto& [k, v] : *o) {
    if (!kKeys.contains(k)) return invalid(std::string(k), "unknown key");
  }
  Template t;
  auto key = string_member(*o, "key", "", true);
  if (!key) return Unexpected(key.error());
  t.key = *key;
  auto name = string_member(*o, "name", "", true);
  if (!name) return Unexpected(name.error());
  t.name = *name;
  auto description = string_member(*o, "description", "", false);
  if (!description) return Unexpected(description.error());
  t.description = *description;
  auto team = string_member(*o, "team", "", false);
  if (!team) return Unexpected(team.error());
  t.team = *team;
  if (const auto* fields = o->if_contains("fields")) {
    if (!fields->is_array()) return invalid("fields", "fields is a list");
    if (fields->as_array().size() > kMaxFields) {
      return invalid("fields", "a template has at most " + std::to_string(kMaxFields) + " fields");
    }
    for (std::size_t i = 0; i < fields->as_array().size(); ++i) {
      auto f = parse_field(fields->as_array()[i], i);
      if (!f) return Unexpected(f.error());
      t.fields.push_back(std::move(*f));
    }
  }
  return check_template(std::move(t));
}

boost::json::object to_json(const Template& t) {
  boost::json::array fields;
  for (const auto& f : t.fields) {
    boost::json::object o{{"key", f.key},
                          {"label", f.label},
                          {"type", boost::describe::enum_to_string(f.type, "text")},
                          {"required", f.required}};
    if (!f.help.empty()) o["help"] = f.help;
    if (!f.options.empty()) {
      boost::json::array options;
      for (const auto& x : f.options) options.emplace_back(x);
      o["options"] = std::move(options);
    }
    if (f.min) o["min"] = *f.min;
    if (f.max) o["max"] = *f.max;
    if (f.max_length) o["max_length"] = *f.max_length;
    fields.push_back(std::move(o));
  }
  boost::json::object out{{"key", t.key},
                          {"name", t.name},
                          {"description", t.description},
                          {"fields", std::move(fields)}};
  if (!t.team.empty()) out["team"] = t.team;
  return out;
}

Result<std::vector<Answer>> check_answers(const Template& t, const boost::json::object& fields) {
  for (const auto& [k, v] : fields) {
    if (std::none_of(t.fields.begin(), t.fields.end(),
                     [&](const Field& f) { return f.key == k; })) {
      return invalid("fields." + std::string(k), "this template has no such field");
    }
  }
  std::vector<Answer> out;
  for (const Field& f : t.fields) {
    const std::string at = "fields." + f.key;
    const auto* v = fields.if_contains(f.key);
    const bool absent = v == nullptr || v->is_null() ||
                        (v->is_string() && trim(v->as_string()).empty()) ||
                        (v->is_array() && v->as_array().empty()) ||
                        (f.type == FieldType::checkbox && v->is_bool() && !v->as_bool());
    if (absent) {
      if (f.required) return invalid(at, f.label + " is required");
      if (f.type == FieldType::checkbox && v != nullptr && v->is_bool()) {
        out.push_back({f.key, f.label, false});
      }
      continue;
    }
    // Within the field's max_length: else the field's error.
    auto within_length = [&](std::string_view s) -> Result<void> {
      const auto n = utf8_length(s);
      if (n && static_cast<std::int64_t>(*n) <= f.max_length.value_or(kTextLength)) return {};
      return invalid(at, f.label + " is at most " +
                             std::to_string(f.max_length.value_or(kTextLength)) + " characters");
    };
    switch (f.type) {
      case FieldType::text:
      case FieldType::textarea: {
        if (!v->is_string()) return invalid(at, f.label + " is text");
        std::string s(trim(v->as_string()));
        const bool ok = f.type == FieldType::text ? utf8::valid_printable(s) : multiline_ok(s);
        if (!ok) return invalid(at, f.label + " holds characters that are not text");
        if (auto fits = within_length(s); !fits) return Unexpected(fits.error());
        out.push_back({f.key, f.label, boost::json::value(s)});
        break;
      }
      case FieldType::number: {
        if (!v->is_number()) return invalid(at, f.label + " is a number");
        const double x = v->to_number<double>();
        if (!std::isfinite(x)) return invalid(at, f.label + " is a number");
        if ((f.min && x < *f.min) || (f.max && x > *f.max)) {
          std::string range = f.min && f.max
                                  ? "from " + number_text(*f.min) + " to " + number_text(*f.max)
                              : f.min ? "at least " + number_text(*f.min)
                                      : "at most " + number_text(*f.max);
          return invalid(at, f.label + " is " + range);
        }
        out.push_back({f.key, f.label, *v});
        break;
      }
      case FieldType::select: {
        if (!v->is_string()) return invalid(at, f.label + " is one of its options");
        const std::string s(v->as_string());
        if (std::find(f.options.begin(), f.options.end(), s) == f.options.end()) {
          return invalid(at, f.label + " is one of its options");
        }
        out.push_back({f.key, f.label, boost::json::value(s)});
        break;
      }
      case FieldType::multiselect: {
        if (!v->is_array()) return invalid(at, f.label + " is a list of its options");
        std::set<std::string> chosen;
        for (const auto& x : v->as_array()) {
          if (!x.is_string() || std::find(f.options.begin(), f.options.end(),
                                          std::string(x.as_string())) == f.options.end()) {
            return invalid(at, f.label + " is a list of its options");
          }
          chosen.insert(std::string(x.as_string()));
        }
        boost::json::array ordered;  // in the options' order, each once
        for (const auto& o : f.options) {
          if (chosen.contains(o)) ordered.emplace_back(o);
        }
        out.push_back({f.key, f.label, std::move(ordered)});
        break;
      }
      case FieldType::checkbox:
        if (!v->is_bool()) return invalid(at, f.label + " is true or false");
        out.push_back({f.key, f.label, true});
        break;
      case FieldType::date: {
        if (!v->is_string() || !valid_date(v->as_string())) {
          return invalid(at, f.label + " is a date, YYYY-MM-DD");
        }
        out.push_back({f.key, f.label, *v});
        break;
      }
      case FieldType::url: {
        if (!v->is_string()) return invalid(at, f.label + " is a web address");
        std::string s(trim(v->as_string()));
        if (!valid_url(s)) return invalid(at, f.label + " is a web address (http:// or https://)");
        if (auto fits = within_length(s); !fits) return Unexpected(fits.error());
        out.push_back({f.key, f.label, boost::json::value(s)});
        break;
      }
      case FieldType::email: {
        if (!v->is_string()) return invalid(at, f.label + " is an e-mail address");
        auto address = account::normalize_email(v->as_string());
        if (!address) return invalid(at, f.label + " is an e-mail address");
        if (auto fits = within_length(*address); !fits) return Unexpected(fits.error());
        out.push_back({f.key, f.label, boost::json::value(*address)});
        break;
      }
    }
  }
  return out;
}

}  // namespace portico::domain::templates
