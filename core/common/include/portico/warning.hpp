// portico::WarningSink — where a library component reports what it notices but cannot answer to
// a caller (a background step that failed, a delivery given up, a projection stalled).
//
// Every option struct of a component with a thread of its own has one (log::Options,
// service::SchedulerOptions, mail::DelivererOptions, http::ServerOptions, http::AppOptions),
// defaulting to warn_on_stderr. An embedder redirects the lines into its own logging by setting
// it; a sink is called from the component's own threads, so it must be thread-safe. Each line is
// one sentence without a trailing newline.
// An empty sink is taken as the default (standard error), so a warning is never dropped by
// accident; to drop them, pass a sink that does nothing.
//
// Not for bugs: a broken invariant aborts (portico/result.hpp), it is not a warning.
#pragma once

#include <cstdio>
#include <functional>
#include <string_view>

namespace portico {

using WarningSink = std::function<void(std::string_view line)>;

// Writes "portico: {line}\n" to standard error, in one call (lines of several threads do not mix).
inline void warn_on_stderr(std::string_view line) {
  std::fprintf(stderr, "portico: %.*s\n", static_cast<int>(line.size()), line.data());
}

}  // namespace portico
