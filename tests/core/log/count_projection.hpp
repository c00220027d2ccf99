// A small projection for the log's own tests: counts events per stream and in all.
#pragma once

#include <charconv>
#include <portico/log/log.hpp>
#include <string>

namespace portico::test {

class CountProjection final : public log::Projection {
 public:
  // `step` is what each event adds (a "new version" of the code counts differently); events of
  // type `refuse` are refused.
  explicit CountProjection(std::uint32_t version = 1, int step = 1, std::string refuse = "Poison",
                           std::string name = "counts")
      : version_(version), step_(step), refuse_(std::move(refuse)), name_(std::move(name)) {}

  std::string name() const override { return name_; }
  std::uint32_t version() const override { return version_; }
  std::vector<std::string> tables() const override { return {"by_stream", "totals"}; }
  Result<void> apply(log::TableWriter& t, const log::Record& r) override {
    if (r.type == refuse_) return fail("invalid_request", "this projection refuses " + refuse_);
    bump(t, 0, r.stream);
    bump(t, 1, "events");
    return {};
  }

  static long read(const log::TableReader& t, std::size_t table, std::string_view key) {
    auto v = t.get(table, key);
    long n = 0;
    if (v) std::from_chars(v->data(), v->data() + v->size(), n);
    return n;
  }

 private:
  void bump(log::TableWriter& t, std::size_t table, std::string_view key) const {
    t.put(table, key, std::to_string(read(t, table, key) + step_));
  }
  std::uint32_t version_;
  int step_;
  std::string refuse_;
  std::string name_;
};

}  // namespace portico::test
