#include <boost/describe/enum_to_string.hpp>
#include <portico/domain/common.hpp>
#include <portico/utf8.hpp>

#include "payload.hpp"

namespace portico::domain {

std::string_view to_string(Status s) noexcept {
  return boost::describe::enum_to_string(s, "unknown");
}

std::optional<Status> parse_status(std::string_view text) noexcept {
  for (Status s : kAllStatuses) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(Realm r) noexcept {
  return boost::describe::enum_to_string(r, "unknown");
}

std::optional<std::size_t> utf8_length(std::string_view s) noexcept { return utf8::length(s); }

std::string_view trim(std::string_view text) noexcept {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

boost::json::result<Policies> tag_invoke(boost::json::try_value_to_tag<Policies>,
                                         const boost::json::value& value) {
  return detail::lenient_value_to<Policies>(value);
}

std::optional<TimeUs> parse_duration(std::string_view text) noexcept {
  if (text == "0") return TimeUs{0};
  if (text.size() < 2 || text.size() > 12) return std::nullopt;
  TimeUs unit = 0;
  switch (text.back()) {
    case 's':
      unit = kSecond;
      break;
    case 'm':
      unit = 60 * kSecond;
      break;
    case 'h':
      unit = kHour;
      break;
    case 'd':
      unit = kDay;
      break;
    default:
      return std::nullopt;
  }
  TimeUs n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
    if (n > 100'000'000) return std::nullopt;  // over 3,000 years of seconds: a typo
  }
  return n * unit;
}

std::string format_duration(TimeUs d) {
  if (d <= 0) return "0";
  for (auto [unit, suffix] :
       {std::pair{kDay, 'd'}, std::pair{kHour, 'h'}, std::pair{60 * kSecond, 'm'}}) {
    if (d % unit == 0) return std::to_string(d / unit) + suffix;
  }
  return std::to_string(d / kSecond) + 's';
}

}  // namespace portico::domain
