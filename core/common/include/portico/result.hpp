// Result<T, E>: the error-or-value type used across Portico's module boundaries.
//
// Shaped like C++23 std::expected (GCC 12 offers it only in C++23 mode), reduced to what the
// library needs. No exception crosses a module boundary: a function that can fail returns a
// Result, and a caller that reads value() from an error has a bug, which aborts.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace portico {

// A failure with a stable, machine-readable code (for domain rejections, the codes of API.md such
// as "ticket_closed"), a message for people, and for invalid input the name of the field.
struct Error {
  std::string code;
  std::string message;
  std::string field;

  friend bool operator==(const Error&, const Error&) = default;
};

template <class E>
class Unexpected {
 public:
  explicit Unexpected(E error) : error_(std::move(error)) {}
  E& error() & { return error_; }
  E&& error() && { return std::move(error_); }

 private:
  E error_;
};

template <class E>
Unexpected(E) -> Unexpected<E>;

// Convenience: `return fail(errc::kConflict, "stream moved on");` (codes: portico/errc.hpp).
inline Unexpected<Error> fail(std::string_view code, std::string message, std::string field = {}) {
  return Unexpected<Error>(Error{std::string(code), std::move(message), std::move(field)});
}

namespace detail {
[[noreturn]] inline void bad_result_access(const char* what) {
  std::fprintf(stderr, "portico: %s\n", what);
  std::abort();
}
}  // namespace detail

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&(!std::is_same_v<std::remove_cvref_t<U>, Result>)&&(
      !std::is_same_v<std::remove_cvref_t<U>, Unexpected<E>>)Result(U&& value)
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  template <class G>
  requires std::is_constructible_v<E, G&&> Result(Unexpected<G> u)
      : v_(std::in_place_index<1>, std::move(u).error()) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return check_value(), std::get<0>(v_); }
  const T& value() const& { return check_value(), std::get<0>(v_); }
  T&& value() && { return check_value(), std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & { return check_error(), std::get<1>(v_); }
  const E& error() const& { return check_error(), std::get<1>(v_); }
  E&& error() && { return check_error(), std::get<1>(std::move(v_)); }

 private:
  void check_value() const {
    if (!has_value()) detail::bad_result_access("value() called on a Result holding an error");
  }
  void check_error() const {
    if (has_value()) detail::bad_result_access("error() called on a Result holding a value");
  }
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  Result() = default;
  template <class G>
  requires std::is_constructible_v<E, G&&> Result(Unexpected<G> u)
      : error_(std::move(u).error()), ok_(false) {}

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  void value() const {
    if (!ok_) detail::bad_result_access("value() called on a Result holding an error");
  }
  const E& error() const& {
    if (ok_) detail::bad_result_access("error() called on a Result holding a value");
    return error_;
  }
  E&& error() && {
    if (ok_) detail::bad_result_access("error() called on a Result holding a value");
    return std::move(error_);
  }

 private:
  E error_{};
  bool ok_ = true;
};

}  // namespace portico
