#include "qr_code.hpp"

#include <fmt/format.h>
#include <qrencode.h>
#include <sodium.h>

#include <memory>

namespace portico::http::detail {

std::optional<std::string> qr_code_data_url(std::string_view text) {
  const std::string input(text);
  std::unique_ptr<QRcode, decltype(&QRcode_free)> qr(
      QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), &QRcode_free);
  if (!qr) return std::nullopt;
  constexpr int kQuiet = 4;
  const int width = qr->width, size = width + 2 * kQuiet;
  // One path of unit squares, one per dark module (the low bit of each byte).
  std::string path;
  for (int y = 0; y < width; ++y) {
    for (int x = 0; x < width; ++x) {
      if (qr->data[y * width + x] & 1)
        path += fmt::format("M{} {}h1v1h-1z", x + kQuiet, y + kQuiet);
    }
  }
  const std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {0}\" "
      "shape-rendering=\"crispEdges\"><rect width=\"{0}\" height=\"{0}\" fill=\"#fff\"/>"
      "<path d=\"{1}\" fill=\"#000\"/></svg>",
      size, path);
  std::string b64(sodium_base64_ENCODED_LEN(svg.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(svg.data()),
                    svg.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.pop_back();
  return "data:image/svg+xml;base64," + b64;
}

}  // namespace portico::http::detail
