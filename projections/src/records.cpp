// The ticket record's binary form: every list page decodes one per item, and JSON parsing was
// most of a page's cost. Layout (integers big-endian):
//   u8 format (1), str project, be64 number, str subject, u8 status, str priority, str team,
//   be64 created_at, be64 updated_at, be64 public_updated_at, str creator, str domain, be32
//   participant count, then each participant as str, u8 waiting_on; where str = be32 length +
//   bytes.
// Deterministic (a rebuild writes the same bytes); a record that does not decode is reported by
// the readers as damaged, never read past its end.
#include "records.hpp"

#include "keys.hpp"

namespace portico::projections::detail {
namespace {

constexpr unsigned char kTicketFormat = 2;  // 2: public_updated_at

void put_be32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  put_be32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  bool u8(unsigned char& v) {
    if (rest_.empty()) return false;
    v = static_cast<unsigned char>(rest_.front());
    rest_.remove_prefix(1);
    return true;
  }
  bool be32(std::uint32_t& v) {
    if (rest_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(4);
    return true;
  }
  bool be64(std::uint64_t& v) {
    if (rest_.size() < 8) return false;
    v = get_be64(rest_.substr(0, 8));
    rest_.remove_prefix(8);
    return true;
  }
  bool time(domain::TimeUs& v) {
    std::uint64_t u = 0;
    if (!be64(u)) return false;
    v = static_cast<domain::TimeUs>(u);
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t n = 0;
    if (!be32(n) || rest_.size() < n) return false;
    s.assign(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return true;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace

std::string encode(const TicketRecord& r) {
  std::string out;
  out.reserve(96 + r.project.size() + r.subject.size() + r.priority.size() + r.team.size() +
              (r.participants.size() + 1) * 24);
  out.push_back(static_cast<char>(kTicketFormat));
  put_str(out, r.project);
  put_be64(out, r.number);
  put_str(out, r.subject);
  out.push_back(static_cast<char>(r.status));
  put_str(out, r.priority);
  put_str(out, r.team);
  put_be64(out, static_cast<std::uint64_t>(r.created_at));
  put_be64(out, static_cast<std::uint64_t>(r.updated_at));
  put_be64(out, static_cast<std::uint64_t>(r.public_updated_at));
  put_str(out, r.creator);
  put_str(out, r.domain);
  put_be32(out, static_cast<std::uint32_t>(r.participants.size()));
  for (const auto& p : r.participants) put_str(out, p);
  out.push_back(static_cast<char>(r.waiting_on));
  return out;
}

template <>
std::optional<TicketRecord> decode<TicketRecord>(std::string_view bytes) {
  Reader in(bytes);
  TicketRecord r;
  unsigned char format = 0, status = 0, waiting = 0;
  std::uint32_t participants = 0;
  if (!in.u8(format) || format != kTicketFormat || !in.str(r.project) || !in.be64(r.number) ||
      !in.str(r.subject) || !in.u8(status) || !in.str(r.priority) || !in.str(r.team) ||
      !in.time(r.created_at) || !in.time(r.updated_at) || !in.time(r.public_updated_at) ||
      !in.str(r.creator) || !in.str(r.domain) || !in.be32(participants) ||
      participants > bytes.size() / 4) {
    return std::nullopt;
  }
  r.participants.resize(participants);
  for (auto& p : r.participants) {
    if (!in.str(p)) return std::nullopt;
  }
  if (!in.u8(waiting) || !in.done() ||
      status > static_cast<unsigned char>(domain::Status::closed) ||
      waiting > static_cast<unsigned char>(domain::Realm::system)) {
    return std::nullopt;
  }
  r.status = static_cast<domain::Status>(status);
  r.waiting_on = static_cast<domain::Realm>(waiting);
  return r;
}

}  // namespace portico::projections::detail
