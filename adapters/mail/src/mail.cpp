#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <portico/domain/account.hpp>
#include <portico/errc.hpp>
#include <portico/mail/mail.hpp>
#include <portico/utf8.hpp>
#include <random>

namespace portico::mail {

namespace {

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Header text: control characters (line breaks above all) become spaces; so do C1 controls,
// separators and bidirectional controls, which encoded words would otherwise carry.
std::string header_text(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (!is_ascii(out)) out = name_text(out, std::string::npos);
  return out;
}

std::string base64(std::string_view text) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(text[i]) << 16 |
                       static_cast<unsigned char>(text[i + 1]) << 8 |
                       static_cast<unsigned char>(text[i + 2]);
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
  }
  if (i + 1 == text.size()) {
    const unsigned v = static_cast<unsigned char>(text[i]) << 16;
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == text.size()) {
    const unsigned v =
        static_cast<unsigned char>(text[i]) << 16 | static_cast<unsigned char>(text[i + 1]) << 8;
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
  }
  return out;
}

// RFC 2047 encoded-words of at most 75 characters, split on UTF-8 character boundaries and folded
// onto continuation lines.
std::string encode_words(std::string_view text) {
  // base64 of 39 bytes is 52 characters, + 12 of framing: 64, which leaves room on the first
  // line for the header's name ("Subject: ").
  constexpr std::size_t kMaxBytes = 39;
  std::string out;
  while (!text.empty()) {
    std::size_t take = std::min(kMaxBytes, text.size());
    while (take < text.size() && (static_cast<unsigned char>(text[take]) & 0xc0) == 0x80) --take;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(0, take)) + "?=";
    text.remove_prefix(take);
  }
  return out;
}

// A header value: plain when ASCII and short enough, else encoded words.
std::string header_value(std::string_view text) {
  const std::string clean = header_text(text);
  if (is_ascii(clean) && clean.size() <= 900) return clean;
  return encode_words(clean);
}

// The display name as a quoted-string (ASCII) or encoded words, then the address.
std::string mailbox(std::string_view name, std::string_view address) {
  const std::string clean = header_text(name);
  if (clean.empty()) return std::string(address);
  if (!is_ascii(clean)) return encode_words(clean) + "\r\n <" + std::string(address) + ">";
  std::string quoted = "\"";
  for (char c : clean) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  return quoted + "\" <" + std::string(address) + ">";
}

// Quoted-printable (RFC 2045): lines of at most 76 characters, CRLF line ends.
std::string quoted_printable(std::string_view text) {
  std::string out;
  std::size_t column = 0;
  auto emit = [&](std::string_view piece) {
    if (column + piece.size() > 75) {
      out += "=\r\n";
      column = 0;
    }
    out += piece;
    column += piece.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\r\n";
      column = 0;
    } else if (c == '\r') {
      continue;
    } else if ((c == ' ' || c == '\t') &&
               (i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r')) {
      emit(fmt::format("={:02X}", c));  // trailing white space would be lost in transit
    } else if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
      const char ch = static_cast<char>(c);
      emit(std::string_view(&ch, 1));
    } else {
      emit(fmt::format("={:02X}", c));
    }
  }
  return out;
}

}  // namespace

std::string name_text(std::string_view name, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  bool space = false, cut = false;
  auto append = [&](char32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out += {static_cast<char>(0xc0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3f))};
    } else if (cp < 0x10000) {
      out += {static_cast<char>(0xe0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3f)),
              static_cast<char>(0x80 | (cp & 0x3f))};
    } else {
      out += {static_cast<char>(0xf0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3f)),
              static_cast<char>(0x80 | ((cp >> 6) & 0x3f)), static_cast<char>(0x80 | (cp & 0x3f))};
    }
  };
  auto take = [&](char32_t cp) {
    if (cp == ' ' || cp == 0xa0 || domain::account::unsafe_in_name(cp)) {
      space = !out.empty();
      return true;
    }
    if (chars == max_chars) {
      cut = true;
      return false;
    }
    if (space) {
      if (chars + 1 == max_chars) {
        cut = true;
        return false;
      }
      out.push_back(' ');
      ++chars;
      space = false;
    }
    append(cp);
    ++chars;
    return true;
  };
  // Decoded piece by piece: a malformed sequence becomes U+FFFD and decoding goes on after it.
  std::size_t i = 0;
  while (i < name.size() && !cut) {
    std::size_t n = 1;
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 0xf0) {
      n = 4;
    } else if (c >= 0xe0) {
      n = 3;
    } else if (c >= 0xc0) {
      n = 2;
    }
    const std::string_view piece = name.substr(i, n);
    std::optional<char32_t> cp;
    if (piece.size() == n) {
      utf8::for_each_code_point(piece, [&](char32_t v) { return cp = v, true; });
      if (!utf8::valid(piece)) cp.reset();
    }
    if (!cp) n = 1;
    if (!take(cp.value_or(0xfffd))) break;
    i += n;
  }
  if (cut) {
    // Room for the ellipsis: the last character goes.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
    if (!out.empty()) out.pop_back();
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\xe2\x80\xa6";  // …
  }
  return out;
}

bool valid_address(std::string_view a) {
  const auto at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= a.size() || a.size() > 254) return false;
  if (a.find('@', at + 1) != std::string_view::npos) return false;
  for (unsigned char c : a) {
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::string_view(",;:<>\"()[]\\").find(static_cast<char>(c)) != std::string_view::npos) {
      return false;
    }
  }
  return a.find('.', at) != std::string_view::npos;
}

Result<std::string> format_rfc5322(const Message& m, const std::string& message_id,
                                   const std::string& date) {
  if (!valid_address(m.to)) {
    return fail(errc::kInvalidRequest, "not one e-mail address: " + m.to, "to");
  }
  if (!valid_address(m.from_address)) {
    return fail(errc::kInvalidRequest, "not one e-mail address: " + m.from_address, "from");
  }
  if (!utf8::valid(m.subject) || !utf8::valid(m.text) || !utf8::valid(m.from_name)) {
    return fail(errc::kInvalidRequest, "mail text must be UTF-8", "mail");
  }
  const std::string id = header_text(m.message_id.empty() ? message_id : m.message_id);
  std::string out;
  out += "Date: " + date + "\r\n";
  out += "From: " + mailbox(m.from_name, m.from_address) + "\r\n";
  out += "To: " + m.to + "\r\n";
  out += "Subject: " + header_value(m.subject) + "\r\n";
  out += "Message-ID: <" + id + ">\r\n";
  if (!m.in_reply_to.empty() && m.in_reply_to != id) {
    const std::string parent = header_text(m.in_reply_to);
    out += "In-Reply-To: <" + parent + ">\r\n";
    out += "References: <" + parent + ">\r\n";
  }
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
  out += "\r\n";
  out += quoted_printable(m.text);
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
}

std::string render(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find("{{", i);
    if (open == std::string_view::npos) break;
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    out += text.substr(i, open - i);
    const std::string name(text.substr(open + 2, close - open - 2));
    auto it = values.find(name);
    out += it == values.end() ? std::string(text.substr(open, close + 2 - open)) : it->second;
    i = close + 2;
  }
  out += text.substr(i);
  return out;
}

MailDir::MailDir(std::filesystem::path dir) : dir_(std::move(dir)) {}

Result<Outgoing> format_now(const Message& message) {
  using namespace std::chrono;
  static std::atomic<std::uint64_t> sequence{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  const auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
  Outgoing out;
  out.unique = fmt::format("{}-{}-{:016x}", us, ++sequence, rng());
  auto text = format_rfc5322(message, out.unique + "@portico", date);
  if (!text) return Unexpected(text.error());
  out.text = std::move(*text);
  return out;
}

Result<void> MailDir::send(const Message& message) {
  auto formatted = format_now(message);
  if (!formatted) return Unexpected(formatted.error());
  const std::string& unique = formatted->unique;
  const std::string_view text = formatted->text;

  std::error_code ec;
  // The messages carry live sign-in links: the directory and files are the owner's alone.
  if (std::filesystem::create_directories(dir_, ec)) {
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  const auto tmp = dir_ / ("." + unique + ".tmp");
  const auto final_path = dir_ / (unique + ".eml");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(errc::kUnavailable,
                fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(errc::kUnavailable,
                  fmt::format("cannot write {}: {}", tmp.string(), std::strerror(err)));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(errc::kUnavailable,
                fmt::format("cannot store {}: {}", final_path.string(), std::strerror(err)));
  }
  return {};
}

}  // namespace portico::mail
