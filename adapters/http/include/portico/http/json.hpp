// JSON in and out of HTTP messages, and API.md's error shape and status table.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <portico/http/router.hpp>
#include <portico/result.hpp>
#include <string>
#include <string_view>

namespace portico::http {

// API.md's status for an error code of portico::errc::kAll (errc::kTicketClosed -> 409, ...); 500
// for any other (errc::kInternal, or a code that is none).
unsigned status_of(std::string_view code) noexcept;

// A response to `request` (same HTTP version and keep-alive) with a JSON body.
Response json_response(const Request& request, unsigned status, const boost::json::value& body);
// {"error": {"code", "message", "field"?}} with the given status.
Response error_response(const Request& request, unsigned status, std::string_view code,
                        std::string_view message, std::string_view field = {});
// A domain or handler error, with the status its code stands for.
Response error_response(const Request& request, const Error& error);
// 204 No Content.
Response no_content(const Request& request);

// The request body as a JSON object: 415 unless the content type is JSON, 400 (field "body")
// when it does not parse, is not an object, or nests deeper than 32 levels.
Result<boost::json::object> parse_body(const Request& request);

}  // namespace portico::http
