// UTF-8 checks shared by the log (ids, payload text) and the rules (lengths in characters).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portico::utf8 {

// Calls `on_code_point(char32_t)` for each code point of `text` in order and returns true when
// the text is well-formed UTF-8 (no overlong forms, surrogates, truncated sequences or values
// past U+10FFFF) and every call returned true.
template <class OnCodePoint>
constexpr bool for_each_code_point(std::string_view text, OnCodePoint&& on_code_point) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n;
    char32_t cp;
    if (c < 0x80) {
      n = 0, cp = c;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + n >= text.size() && n > 0) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3fu);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    if (!on_code_point(cp)) return false;
    i += n + 1;
  }
  return true;
}

constexpr bool valid(std::string_view text) {
  return for_each_code_point(text, [](char32_t) { return true; });
}

// The number of code points, or nullopt when `text` is not UTF-8.
constexpr std::optional<std::size_t> length(std::string_view text) {
  std::size_t count = 0;
  if (!for_each_code_point(text, [&](char32_t) { return ++count, true; })) return std::nullopt;
  return count;
}

// UTF-8 without control characters (C0, DEL, C1): for identifiers.
constexpr bool valid_printable(std::string_view text) {
  return for_each_code_point(
      text, [](char32_t cp) { return cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp <= 0x9f); });
}

}  // namespace portico::utf8
