#include <portico/mail/sign_in.hpp>

namespace portico::mail {

namespace account = domain::account;

namespace {

// The templates: {{name}}, {{project}}, {{link}}, {{minutes}} are filled in by render().
constexpr std::string_view kMagicSubject = "Your sign-in link for {{project}}";
constexpr std::string_view kMagicText =
    "Hello {{name}},\n\n"
    "follow this link to sign in to {{project}}:\n\n{{link}}\n\n"
    "It works once, within {{minutes}} minutes. If you did not ask for it, ignore this e-mail:\n"
    "nobody can sign in without the link.\n";
constexpr std::string_view kVerifySubject = "Confirm your e-mail address for {{project}}";
constexpr std::string_view kVerifyText =
    "Hello {{name}},\n\n"
    "confirm your address to finish signing up to {{project}}:\n\n{{link}}\n\n"
    "If you did not sign up, ignore this e-mail and no account will use your password.\n";
constexpr std::string_view kResetSubject = "Reset your {{project}} password";
constexpr std::string_view kResetText =
    "Hello {{name}},\n\n"
    "follow this link to choose a new password for {{project}}:\n\n{{link}}\n\n"
    "It works once, within {{minutes}} minutes, and signs you out everywhere else.\n"
    "If you did not ask for it, ignore this e-mail: your password stays as it is.\n";
constexpr std::string_view kExistsSubject = "You already have a {{project}} account";
constexpr std::string_view kExistsText =
    "Hello {{name}},\n\n"
    "someone (perhaps you) tried to sign up to {{project}} with this address, which already\n"
    "has an account. Sign in with your password, or reset it here:\n\n{{link}}\n";

}  // namespace

std::string sign_in_link(const service::Mailing& m, std::string_view base_url) {
  std::string base(base_url);
  while (!base.empty() && base.back() == '/') base.pop_back();
  const char* page = "magic";
  if (m.token.empty()) return base + "/p/" + m.project + "/auth/reset";
  if (m.purpose == account::Purpose::verify_email) page = "verify";
  if (m.purpose == account::Purpose::password_reset) page = "reset";
  return base + "/p/" + m.project + "/auth/" + page + "?token=" + m.token;
}

Message sign_in_message(const service::Mailing& m, std::string_view project_name,
                        std::string_view base_url, std::string_view from_address) {
  std::string_view subject = kMagicSubject, text = kMagicText;
  std::string minutes = "15";
  if (m.token.empty()) {
    subject = kExistsSubject;
    text = kExistsText;
  } else if (m.purpose == account::Purpose::verify_email) {
    subject = kVerifySubject;
    text = kVerifyText;
  } else if (m.purpose == account::Purpose::password_reset) {
    subject = kResetSubject;
    text = kResetText;
    minutes = "60";
  }
  const std::map<std::string, std::string> values{
      {"name", m.display_name.empty() ? std::string("there") : m.display_name},
      {"project", std::string(project_name)},
      {"link", sign_in_link(m, base_url)},
      {"minutes", minutes}};
  return Message{std::string(project_name), std::string(from_address), m.email,
                 render(subject, values),   render(text, values),      {}};
}

}  // namespace portico::mail
