#include <algorithm>
#include <portico/mail/sign_in.hpp>
#include <string>

namespace portico::mail {

namespace account = domain::account;

namespace {

// The templates: {{name}}, {{project}}, {{link}}, {{valid_for}} are filled in by render().
constexpr std::string_view kMagicSubject = "Your sign-in link for {{project}}";
constexpr std::string_view kMagicText =
    "Hello {{name}},\n\n"
    "follow this link to sign in to {{project}}:\n\n{{link}}\n\n"
    "It works once, within {{valid_for}}. If you did not ask for it, ignore this e-mail:\n"
    "nobody can sign in without the link.\n";
constexpr std::string_view kVerifySubject = "Confirm your e-mail address for {{project}}";
constexpr std::string_view kVerifyText =
    "Hello {{name}},\n\n"
    "confirm your address to finish signing up to {{project}}:\n\n{{link}}\n\n"
    "It works within {{valid_for}}. If you did not sign up, ignore this e-mail and no account\n"
    "will use your password.\n";
constexpr std::string_view kResetSubject = "Reset your {{project}} password";
constexpr std::string_view kResetText =
    "Hello {{name}},\n\n"
    "follow this link to choose a new password for {{project}}:\n\n{{link}}\n\n"
    "It works once, within {{valid_for}}, and signs you out everywhere else.\n"
    "If you did not ask for it, ignore this e-mail: your password stays as it is.\n";
constexpr std::string_view kExistsSubject = "You already have a {{project}} account";
constexpr std::string_view kExistsText =
    "Hello {{name}},\n\n"
    "someone (perhaps you) tried to sign up to {{project}} with this address, which already\n"
    "has an account. Sign in with your password, or reset it here:\n\n{{link}}\n";

// "15 minutes", "1 hour", "24 hours", "3 days": the largest unit that divides the time evenly
// (a day is said in hours), at least a minute.
std::string in_words(domain::TimeUs t) {
  const auto minutes = std::max<domain::TimeUs>(1, t / (60 * domain::kSecond));
  auto say = [](domain::TimeUs n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
  };
  if (minutes % (60 * 24) == 0 && minutes >= 2 * 60 * 24) return say(minutes / (60 * 24), "day");
  if (minutes % 60 == 0) return say(minutes / 60, "hour");
  return say(minutes, "minute");
}

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
  if (m.token.empty()) {
    subject = kExistsSubject;
    text = kExistsText;
  } else if (m.purpose == account::Purpose::verify_email) {
    subject = kVerifySubject;
    text = kVerifyText;
  } else if (m.purpose == account::Purpose::password_reset) {
    subject = kResetSubject;
    text = kResetText;
  }
  const std::map<std::string, std::string> values{
      {"name",
       name_text(m.display_name).empty() ? std::string("there") : name_text(m.display_name)},
      {"project", name_text(project_name, 100)},
      {"link", sign_in_link(m, base_url)},
      {"valid_for", in_words(m.valid_for)}};
  return Message{std::string(project_name), std::string(from_address), m.email,
                 render(subject, values),   render(text, values),      {}};
}

}  // namespace portico::mail
