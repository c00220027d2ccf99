// Schema evolution: upcasters turn old payloads into the current shape on read.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace portico::log {

// A set of upcasters, each turning a payload of one event type from schema version N into N + 1.
// Reads apply them in a chain until no upcaster matches, so a log written by old code replays as
// if the current code had written it; the stored bytes (and so the hash chain) never change.
// Fill it before opening the log; it is read-only afterwards, hence safe to share across threads.
class Upcasters {
 public:
  using Step = std::function<void(boost::json::object& payload)>;

  // Registers `step` for `type` at `from_version`; a second registration for the same pair
  // replaces the first.
  void add(std::string type, std::uint32_t from_version, Step step);

  bool empty() const noexcept { return steps_.empty(); }
  bool handles(std::string_view type, std::uint32_t version) const;

  // Applies every matching step in order and returns the resulting schema version.
  std::uint32_t apply(std::string_view type, std::uint32_t version,
                      boost::json::object& payload) const;

 private:
  std::map<std::string, std::map<std::uint32_t, Step>, std::less<>> steps_;
};

}  // namespace portico::log
