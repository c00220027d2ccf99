// The sign-in e-mails: magic link, address verification, password reset, and "you already have
// an account" (a registration for an address that has a password: no account enumeration).
#pragma once

#include <portico/mail/mail.hpp>
#include <portico/service/accounts.hpp>
#include <string_view>

namespace portico::mail {

// The link a sign-in e-mail carries: {base_url}/p/{project}/auth/{magic|verify|reset}?token=…
std::string sign_in_link(const service::Mailing& mailing, std::string_view base_url);
// The e-mail for `mailing`, from the project (by name) at `from_address`.
Message sign_in_message(const service::Mailing& mailing, std::string_view project_name,
                        std::string_view base_url, std::string_view from_address);

}  // namespace portico::mail
