// Event <-> JSON payload conversion shared by the aggregates (private to core/domain).
// Events are Boost.Describe'd structs; a payload holds exactly their members.
#pragma once

#include <array>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
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

// Rebuilds the alternative of `Variant` whose name in `names` is `type`.
template <class Variant, std::size_t N, std::size_t... I>
Result<Variant> from_payload(const std::array<std::string_view, N>& names, std::string_view type,
                             boost::json::object&& payload, std::index_sequence<I...>) {
  static_assert(N == std::variant_size_v<Variant>);
  using Decoder = Result<Variant> (*)(boost::json::object&&, std::string_view);
  static constexpr Decoder kDecoders[] = {&decode_as<Variant, I>...};
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == type) return kDecoders[i](std::move(payload), type);
  }
  return fail(errc::kInvalidRequest, "unknown event type " + std::string(type));
}

template <class Variant, std::size_t N>
Result<Variant> from_payload(const std::array<std::string_view, N>& names, std::string_view type,
                             boost::json::object&& payload) {
  return from_payload<Variant>(names, type, std::move(payload), std::make_index_sequence<N>());
}

}  // namespace portico::domain::detail
