// portico::errc — the stable error codes: API.md's ("Conventions": the `code` of the error
// envelope) and the two the HTTP adapter adds. One definition for every module: the domain's
// rejections, the service's and the adapters' errors (Error::code), and the HTTP status table
// (portico::http::status_of), which maps every code of kAll and is tested to give API.md's status.
//
// A code is part of the API: clients branch on it (adapters/http/web/portal.js turns each into
// words). Renaming one breaks them; adding one means adding it to kAll, to the status table and to
// docs/openapi.yaml's Error schema (tests check all three).
#pragma once

#include <array>
#include <string_view>

namespace portico::errc {

// 400: bad JSON, a missing or out-of-range field (Error::field names it).
inline constexpr std::string_view kInvalidRequest = "invalid_request";

// 401: no valid session, or a sign-in that failed.
inline constexpr std::string_view kUnauthenticated = "unauthenticated";
inline constexpr std::string_view kInvalidCredentials = "invalid_credentials";
inline constexpr std::string_view kInvalidToken = "invalid_token";  // an e-mailed link's token
inline constexpr std::string_view kTotpRequired = "totp_required";

// 403: known, but not allowed.
inline constexpr std::string_view kForbidden = "forbidden";
inline constexpr std::string_view kNotAuthor = "not_author";
inline constexpr std::string_view kNotCreator = "not_creator";
inline constexpr std::string_view kEmailNotVerified = "email_not_verified";
inline constexpr std::string_view kDomainNotAllowed = "domain_not_allowed";
inline constexpr std::string_view kCsrf = "csrf";

// 404: also for anything the caller may not see (existence is never revealed).
inline constexpr std::string_view kNotFound = "not_found";

// 409: the state does not allow it (now).
inline constexpr std::string_view kTicketClosed = "ticket_closed";
inline constexpr std::string_view kTicketNotActive = "ticket_not_active";
inline constexpr std::string_view kInvalidTransition = "invalid_transition";
inline constexpr std::string_view kCreatorCannotLeave = "creator_cannot_leave";
inline constexpr std::string_view kNoSurveyPending = "no_survey_pending";
inline constexpr std::string_view kConflict = "conflict";

// 410: a link that worked once.
inline constexpr std::string_view kInviteInactive = "invite_inactive";
inline constexpr std::string_view kSurveyInactive = "survey_inactive";

// 413, 415, 429 (with Retry-After).
inline constexpr std::string_view kTooLarge = "too_large";
inline constexpr std::string_view kUnsupportedMediaType = "unsupported_media_type";
inline constexpr std::string_view kRateLimited = "rate_limited";

// 503: the action was not recorded and may be retried (storage full, a mail transport down).
inline constexpr std::string_view kUnavailable = "unavailable";

// Beyond API.md, the HTTP adapter's own (docs/api.md, "Behaviour on every request"): 405 for a
// known path with another method (with Allow), 431 for a request line and headers over the limit.
inline constexpr std::string_view kMethodNotAllowed = "method_not_allowed";
inline constexpr std::string_view kHeadersTooLarge = "headers_too_large";

// Every code above, in API.md's order.
inline constexpr std::array kAll = {
    kInvalidRequest,
    kUnauthenticated,
    kInvalidCredentials,
    kInvalidToken,
    kTotpRequired,
    kForbidden,
    kNotAuthor,
    kNotCreator,
    kEmailNotVerified,
    kDomainNotAllowed,
    kCsrf,
    kNotFound,
    kTicketClosed,
    kTicketNotActive,
    kInvalidTransition,
    kCreatorCannotLeave,
    kNoSurveyPending,
    kConflict,
    kInviteInactive,
    kSurveyInactive,
    kTooLarge,
    kUnsupportedMediaType,
    kRateLimited,
    kUnavailable,
    kMethodNotAllowed,
    kHeadersTooLarge,
};

// Not in kAll: what the HTTP server answers (500) when a handler failed unexpectedly, a bug. No
// Result carries it, and status_of answers 500 for it as for any code it does not know.
inline constexpr std::string_view kInternal = "internal";

}  // namespace portico::errc
