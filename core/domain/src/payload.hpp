// Event <-> JSON payload conversion shared by the aggregates (private to core/domain).
// Events are Boost.Describe'd structs; a payload holds exactly their members. EventCodec derives
// an aggregate's stored type names and schema versions from its event structs.
#pragma once

#include <algorithm>
#include <array>
#include <boost/describe/members.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <boost/mp11/algorithm.hpp>
#include <cstdint>
#include <portico/domain/common.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace portico::domain::detail {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

template <class Variant>
boost::json::object to_payload(const Variant& event) {
  return std::visit([](const auto& e) { return boost::json::value_from(e).as_object(); }, event);
}

// A described struct read leniently: a member the object lacks keeps its default; a member of
// the wrong type, or a key that names no member, is an error. For configuration records, which
// gain settings over time (docs/events.md, "Changing an event").
template <class T>
boost::json::result<T> lenient_value_to(const boost::json::value& value) {
  const boost::json::object* object = value.if_object();
  if (!object) return boost::json::make_error_code(boost::json::error::not_object);
  T out;
  boost::json::error_code ec;
  std::size_t known = 0;
  using Members = boost::describe::describe_members<T, boost::describe::mod_public>;
  boost::mp11::mp_for_each<Members>([&](auto member) {
    if (ec) return;
    const boost::json::value* v = object->if_contains(member.name);
    if (!v) return;
    ++known;
    using M = std::remove_cvref_t<decltype(out.*member.pointer)>;
    auto r = boost::json::try_value_to<M>(*v);
    if (!r) {
      ec = r.error();
      return;
    }
    out.*member.pointer = std::move(*r);
  });
  if (ec) return ec;
  if (known != object->size())
    return boost::json::make_error_code(boost::json::error::unknown_name);
  return out;
}

template <class Variant, std::size_t I>
Result<Variant> decode_as(boost::json::object&& payload, std::string_view type) {
  using T = std::variant_alternative_t<I, Variant>;
  const boost::json::value value(std::move(payload));  // moved, not copied
  auto r = boost::json::try_value_to<T>(value);
  if (!r) {
    return fail(errc::kInvalidRequest,
                "payload does not fit " + std::string(type) + ": " + r.error().message());
  }
  return Variant(std::in_place_index<I>, std::move(*r));
}

template <std::size_t N>
constexpr bool distinct(const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t j = i + 1; j < N; ++j) {
      if (names[i] == names[j]) return false;
    }
  }
  return true;
}

// The stored names and versions of an aggregate's events, read off the alternatives of its
// variant (each event struct has `kType` and `kVersion`), and the conversions that use them.
// Adding an event to the variant is all it takes; no list to keep in step.
template <class Variant>
struct EventCodec;

template <class... Events>
struct EventCodec<std::variant<Events...>> {
  using Variant = std::variant<Events...>;
  static constexpr std::array<std::string_view, sizeof...(Events)> kTypes = {Events::kType...};
  static constexpr std::array<std::uint32_t, sizeof...(Events)> kVersions = {Events::kVersion...};
  static_assert(distinct(kTypes), "two events of one aggregate share a stored type name (kType)");
  static_assert(((Events::kVersion >= 1) && ...), "schema versions start at 1 (the log refuses 0)");

  static std::string_view type_name(const Variant& event) noexcept { return kTypes[event.index()]; }
  static std::uint32_t schema_version(const Variant& event) noexcept {
    return kVersions[event.index()];
  }
  static bool is_event_type(std::string_view type) noexcept {
    return std::find(kTypes.begin(), kTypes.end(), type) != kTypes.end();
  }
  // Rebuilds the alternative whose kType is `type`; invalid_request when none is, or when the
  // payload does not fit it.
  static Result<Variant> from_payload(std::string_view type, boost::json::object&& payload) {
    return decode(type, std::move(payload), std::index_sequence_for<Events...>());
  }

 private:
  template <std::size_t... I>
  static Result<Variant> decode(std::string_view type, boost::json::object&& payload,
                                std::index_sequence<I...>) {
    using Decoder = Result<Variant> (*)(boost::json::object&&, std::string_view);
    static constexpr Decoder kDecoders[] = {&decode_as<Variant, I>...};
    for (std::size_t i = 0; i < kTypes.size(); ++i) {
      if (kTypes[i] == type) return kDecoders[i](std::move(payload), type);
    }
    return fail(errc::kInvalidRequest, "unknown event type " + std::string(type));
  }
};

}  // namespace portico::domain::detail
