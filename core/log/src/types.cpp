#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <mutex>
#include <portico/log/error.hpp>
#include <portico/log/types.hpp>
#include <portico/log/upcasters.hpp>
#include <random>

namespace portico::log {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One generator per process, seeded from the OS; the mutex keeps v7 ids monotonic across threads.
struct IdSource {
  std::mutex mu;
  std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t last_ms = 0;
  std::uint64_t counter = 0;  // 12-bit rand_a, bumped when the millisecond repeats
};

IdSource& id_source() {
  static IdSource source;
  return source;
}

}  // namespace

bool Uuid::is_nil() const noexcept {
  for (auto b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string Uuid::to_string() const {
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid id;
  std::size_t at = 0;
  for (std::size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.bytes[at++] = static_cast<std::uint8_t>(hi << 4 | lo);
    ++i;
  }
  return id;
}

Uuid new_uuid_v7() {
  // The system clock itself, not a portico::Clock: an id's timestamp only orders ids and must
  // keep them unique across processes, so a test's fake time (which may stand still or go back)
  // must not reach it. Milliseconds, as RFC 9562 wants.
  using namespace std::chrono;
  const auto now_ms = static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  IdSource& s = id_source();
  std::uint64_t ms, counter, tail;
  {
    std::lock_guard lock(s.mu);
    // RFC 9562 §6.2 method 1: a counter in rand_a keeps ids from one millisecond in order; if it
    // overflows (4096 ids in one ms) the timestamp is borrowed from the next millisecond.
    if (now_ms > s.last_ms) {
      s.last_ms = now_ms;
      s.counter = s.rng() & 0x3ff;  // leave headroom above a random start
    } else if (++s.counter > 0xfff) {
      ++s.last_ms;
      s.counter = 0;
    }
    ms = s.last_ms;
    counter = s.counter;
    tail = s.rng();
  }
  Uuid id;
  for (int i = 0; i < 6; ++i) id.bytes[static_cast<std::size_t>(i)] = (ms >> (40 - 8 * i)) & 0xff;
  id.bytes[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0f));
  id.bytes[7] = static_cast<std::uint8_t>(counter & 0xff);
  for (int i = 0; i < 8; ++i) id.bytes[8 + static_cast<std::size_t>(i)] = (tail >> (8 * i)) & 0xff;
  id.bytes[8] = static_cast<std::uint8_t>(0x80 | (id.bytes[8] & 0x3f));
  return id;
}

Uuid new_uuid_v4() {
  IdSource& s = id_source();
  std::uint64_t a, b;
  {
    std::lock_guard lock(s.mu);
    a = s.rng();
    b = s.rng();
  }
  Uuid id;
  for (int i = 0; i < 8; ++i) {
    id.bytes[static_cast<std::size_t>(i)] = (a >> (8 * i)) & 0xff;
    id.bytes[8 + static_cast<std::size_t>(i)] = (b >> (8 * i)) & 0xff;
  }
  id.bytes[6] = static_cast<std::uint8_t>(0x40 | (id.bytes[6] & 0x0f));
  id.bytes[8] = static_cast<std::uint8_t>(0x80 | (id.bytes[8] & 0x3f));
  return id;
}

std::string to_hex(const Hash& hash) {
  std::string out;
  out.reserve(64);
  for (auto b : hash) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string_view to_string(Realm realm) noexcept {
  switch (realm) {
    case Realm::system:
      return "system";
    case Realm::customer:
      return "customer";
    case Realm::staff:
      return "staff";
  }
  return "unknown";
}

std::optional<Realm> parse_realm(std::string_view text) noexcept {
  if (text == "system") return Realm::system;
  if (text == "customer") return Realm::customer;
  if (text == "staff") return Realm::staff;
  return std::nullopt;
}

std::string ExpectedVersion::to_string() const {
  switch (kind_) {
    case Kind::any:
      return "any";
    case Kind::no_stream:
      return "no stream";
    case Kind::exactly:
      return fmt::format("version {}", version_);
  }
  return "?";
}

boost::json::object Record::payload_object() const {
  boost::system::error_code ec;
  auto value = boost::json::parse(payload, ec);
  if (ec || !value.is_object()) return {};
  return std::move(value.as_object());
}

std::string format_time_us(std::int64_t us) {
  using namespace std::chrono;
  const sys_time<microseconds> t{microseconds{us}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  const int year = static_cast<int>(ymd.year());
  if (year >= 0 && year <= 9999) {
    // Every list item carries two of these: digits by hand, without a format string to parse.
    char out[] = "0000-00-00T00:00:00.000000Z";
    auto digits = [&](std::size_t end, std::uint64_t v, int n) {
      for (int i = 0; i < n; ++i, v /= 10) out[end - i] = static_cast<char>('0' + v % 10);
    };
    digits(3, static_cast<std::uint64_t>(year), 4);
    digits(6, static_cast<unsigned>(ymd.month()), 2);
    digits(9, static_cast<unsigned>(ymd.day()), 2);
    digits(12, static_cast<std::uint64_t>(hms.hours().count()), 2);
    digits(15, static_cast<std::uint64_t>(hms.minutes().count()), 2);
    digits(18, static_cast<std::uint64_t>(hms.seconds().count()), 2);
    digits(25, static_cast<std::uint64_t>(hms.subseconds().count()), 6);
    return std::string(out, sizeof out - 1);
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

boost::json::object to_json(const Record& r) {
  boost::json::object o;
  o["position"] = r.position;
  o["stream"] = r.stream;
  o["stream_version"] = r.stream_version;
  o["id"] = r.id.to_string();
  o["type"] = r.type;
  o["schema_version"] = r.schema_version;
  o["recorded_at"] = format_time_us(r.recorded_at_us);
  o["actor"] = {{"realm", to_string(r.actor.realm)}, {"id", r.actor.id}};
  o["correlation_id"] = r.correlation_id.to_string();
  o["causation_id"] = r.causation_id.to_string();
  o["payload"] = r.payload_object();
  if (!r.sealed.empty()) o["sealed_bytes"] = r.sealed.size();
  o["prev_hash"] = to_hex(r.prev_hash);
  o["hash"] = to_hex(r.hash);
  return o;
}

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::conflict:
      return "conflict";
    case Errc::storage_full:
      return "storage_full";
    case Errc::io_error:
      return "io_error";
    case Errc::corrupt:
      return "corrupt";
    case Errc::already_open:
      return "already_open";
    case Errc::read_only:
      return "read_only";
    case Errc::projection_failed:
      return "projection_failed";
    case Errc::closed:
      return "closed";
  }
  return "unknown";
}

void Upcasters::add(std::string type, std::uint32_t from_version, Step step) {
  steps_[std::move(type)][from_version] = std::move(step);
}

bool Upcasters::handles(std::string_view type, std::uint32_t version) const {
  auto it = steps_.find(type);
  return it != steps_.end() && it->second.contains(version);
}

std::uint32_t Upcasters::apply(std::string_view type, std::uint32_t version,
                               boost::json::object& payload) const {
  auto it = steps_.find(type);
  if (it == steps_.end()) return version;
  for (auto step = it->second.find(version); step != it->second.end();
       step = it->second.find(version)) {
    step->second(payload);
    ++version;
  }
  return version;
}

}  // namespace portico::log
