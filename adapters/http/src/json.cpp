#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <iterator>
#include <optional>
#include <portico/errc.hpp>
#include <portico/http/json.hpp>
#include <portico/utf8.hpp>
#include <utility>
#include <vector>

namespace portico::http {

namespace {

// API.md's status of every code (portico/errc.hpp); a code not here answers 500.
constexpr std::pair<std::string_view, unsigned> kStatuses[] = {
    {errc::kInvalidRequest, 400},
    {errc::kUnauthenticated, 401},
    {errc::kInvalidCredentials, 401},
    {errc::kInvalidToken, 401},
    {errc::kTotpRequired, 401},
    {errc::kForbidden, 403},
    {errc::kNotAuthor, 403},
    {errc::kNotCreator, 403},
    {errc::kEmailNotVerified, 403},
    {errc::kDomainNotAllowed, 403},
    {errc::kCsrf, 403},
    {errc::kNotFound, 404},
    {errc::kMethodNotAllowed, 405},
    {errc::kTicketClosed, 409},
    {errc::kTicketNotActive, 409},
    {errc::kInvalidTransition, 409},
    {errc::kCreatorCannotLeave, 409},
    {errc::kNoSurveyPending, 409},
    {errc::kConflict, 409},
    {errc::kInviteInactive, 410},
    {errc::kSurveyInactive, 410},
    {errc::kTooLarge, 413},
    {errc::kUnsupportedMediaType, 415},
    {errc::kRateLimited, 429},
    {errc::kHeadersTooLarge, 431},
    {errc::kUnavailable, 503},
};

// A code added to errc::kAll without a status fails to compile here.
constexpr bool maps_every_code() {
  for (std::string_view code : errc::kAll) {
    bool found = false;
    for (const auto& [c, s] : kStatuses) found = found || c == code;
    if (!found) return false;
  }
  return std::size(kStatuses) == errc::kAll.size();
}
static_assert(maps_every_code(), "every code of portico::errc::kAll has one HTTP status");

}  // namespace

unsigned status_of(std::string_view code) noexcept {
  for (const auto& [c, s] : kStatuses) {
    if (c == code) return s;
  }
  return 500;
}

Response json_response(const Request& request, unsigned status, const boost::json::value& body) {
  Response r{static_cast<beast_http::status>(status), request.version()};
  r.set(beast_http::field::content_type, "application/json; charset=utf-8");
  r.keep_alive(request.keep_alive());
  r.body() = boost::json::serialize(body);
  r.prepare_payload();
  return r;
}

namespace {
// `text` as JSON may carry it (RFC 8259: UTF-8): a message may quote what the client sent (a
// query string's "unknown status \xff"), so bytes that are not UTF-8 become U+FFFD.
std::string utf8_text(std::string_view text) {
  if (utf8::valid(text)) return std::string(text);
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = 1;
    while (n <= 4 && i + n <= text.size() && !utf8::valid(text.substr(i, n))) ++n;
    if (n <= 4 && i + n <= text.size()) {
      out += text.substr(i, n);
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}
}  // namespace

Response error_response(const Request& request, unsigned status, std::string_view code,
                        std::string_view message, std::string_view field) {
  boost::json::object e{{"code", code}, {"message", utf8_text(message)}};
  if (!field.empty()) e["field"] = field;
  return json_response(request, status, boost::json::object{{"error", std::move(e)}});
}

Response error_response(const Request& request, const Error& error) {
  return error_response(request, status_of(error.code), error.code, error.message, error.field);
}

Response no_content(const Request& request) {
  Response r{beast_http::status::no_content, request.version()};
  r.keep_alive(request.keep_alive());
  r.prepare_payload();
  return r;
}

namespace {
// What JSON allows but Portico never stores: numbers too large for a double (1e999 parses as
// infinity, which cannot be written back as JSON) and NUL characters in strings.
std::optional<std::string> unfit(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      if (!std::isfinite(v.get_double())) return "a number is out of range";
      return std::nullopt;
    case boost::json::kind::string:
      if (v.get_string().find('\0') != boost::json::string::npos) return "a string holds NUL";
      return std::nullopt;
    case boost::json::kind::array:
      for (const auto& e : v.get_array()) {
        if (auto bad = unfit(e)) return bad;
      }
      return std::nullopt;
    case boost::json::kind::object:
      for (const auto& [k, e] : v.get_object()) {
        if (k.find('\0') != boost::json::string_view::npos) return "a key holds NUL";
        if (auto bad = unfit(e)) return bad;
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}
}  // namespace

namespace {

// Boost.JSON keeps the last of two equal keys in an object; a body that says two things about
// one field is refused instead. One pass over the body: a handler for Boost.JSON's SAX parser that
// builds the value (as boost::json::parse does, through a value_stack) and compares each object's
// keys when the object ends (sorted: a body of many keys costs n log n).
class BodyBuilder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  using ec_t = boost::system::error_code;
  using sv = boost::json::string_view;

  boost::json::value_stack stack;
  std::optional<std::string> duplicate;  // the first key found twice
  bool top_level = false;                // ... in the body's own object

  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t n, ec_t&) { return stack.push_array(n), true; }
  bool on_object_begin(ec_t&) { return objects_.emplace_back(), true; }
  bool on_object_end(std::size_t n, ec_t& ec) {
    auto& keys = objects_.back();
    std::sort(keys.begin(), keys.end());
    if (auto twice = std::adjacent_find(keys.begin(), keys.end()); twice != keys.end()) {
      duplicate = *twice;
      top_level = objects_.size() == 1;
      ec = boost::json::error::syntax;  // stops the parse; `duplicate` says why
      return false;
    }
    objects_.pop_back();
    stack.push_object(n);
    return true;
  }
  bool on_string_part(sv s, std::size_t, ec_t&) { return stack.push_chars(s), true; }
  bool on_string(sv s, std::size_t, ec_t&) { return stack.push_string(s), true; }
  bool on_key_part(sv s, std::size_t, ec_t&) {
    key_.append(s.data(), s.size());
    stack.push_chars(s);
    return true;
  }
  bool on_key(sv s, std::size_t, ec_t&) {
    key_.append(s.data(), s.size());
    objects_.back().push_back(std::move(key_));
    key_.clear();
    stack.push_key(s);
    return true;
  }
  bool on_number_part(sv, ec_t&) { return true; }
  bool on_int64(std::int64_t i, sv, ec_t&) { return stack.push_int64(i), true; }
  bool on_uint64(std::uint64_t u, sv, ec_t&) { return stack.push_uint64(u), true; }
  bool on_double(double d, sv, ec_t&) { return stack.push_double(d), true; }
  bool on_bool(bool b, ec_t&) { return stack.push_bool(b), true; }
  bool on_null(ec_t&) { return stack.push_null(), true; }
  bool on_comment_part(sv, ec_t&) { return true; }
  bool on_comment(sv, ec_t&) { return true; }

 private:
  std::vector<std::vector<std::string>> objects_;
  std::string key_;
};

}  // namespace

Result<boost::json::object> parse_body(const Request& request) {
  // "application/json", any case, with parameters or not; not "application/jsonp".
  auto media = request[beast_http::field::content_type];
  media = media.substr(0, media.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (!boost::beast::iequals(media, "application/json")) {
    return fail(errc::kUnsupportedMediaType, "send the body as application/json");
  }
  if (!utf8::valid(request.body())) {
    return fail(errc::kInvalidRequest, "the body is not UTF-8", "body");
  }
  boost::json::parse_options options;
  options.max_depth = 32;
  boost::json::basic_parser<BodyBuilder> parser(options);
  BodyBuilder& built = parser.handler();
  built.stack.reset();
  boost::system::error_code ec;
  const std::string& text = request.body();
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = boost::json::error::extra_data;  // as boost::json::parse
  if (built.duplicate) {
    const std::string& key = *built.duplicate;
    // Named when it can be shown as it is: short, UTF-8, no NUL.
    const bool named = key.size() <= 64 && utf8::valid(key) && key.find('\0') == std::string::npos;
    return fail(
        errc::kInvalidRequest,
        (named ? "the key \"" + key + "\"" : std::string("a key")) + " appears twice in one object",
        named && built.top_level ? key : "body");
  }
  if (ec) return fail(errc::kInvalidRequest, "the body is not JSON: " + ec.message(), "body");
  boost::json::value v = built.stack.release();
  if (!v.is_object()) return fail(errc::kInvalidRequest, "the body must be a JSON object", "body");
  if (auto bad = unfit(v)) return fail(errc::kInvalidRequest, *bad, "body");
  return std::move(v.as_object());
}

}  // namespace portico::http
