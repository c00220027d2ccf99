#include <boost/describe/enum_to_string.hpp>
#include <portico/domain/common.hpp>
#include <portico/utf8.hpp>

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

}  // namespace portico::domain
