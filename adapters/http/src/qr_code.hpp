// A QR code as an image the portal can show (libqrencode): the two-factor enrolment's
// otpauth:// URL, for an authenticator app's camera.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portico::http::detail {

// "data:image/svg+xml;base64,…": an SVG of `text` as a QR code (error correction M, a quiet zone
// of four modules), or nullopt when it does not fit one (over ~2 KB).
std::optional<std::string> qr_code_data_url(std::string_view text);

}  // namespace portico::http::detail
