// The portal's static files, compiled into the program (adapters/http/web/, embed.cmake).
#pragma once

#include <span>
#include <string_view>

namespace portico::http::web {

struct Asset {
  std::string_view path;          // relative to adapters/http/web/: "portal.js"
  std::string_view content_type;  // with charset for text
  std::string_view body;
  std::string_view etag;  // quoted, strong: a digest of the bytes
};

std::span<const Asset> assets();

}  // namespace portico::http::web
