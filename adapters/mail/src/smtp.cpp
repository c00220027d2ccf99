#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <portico/errc.hpp>
#include <portico/mail/smtp.hpp>
#include <vector>

namespace portico::mail {

namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The part of the URL called `part`, or empty.
std::string url_part(CURLU* u, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(u, part, &raw, 0) != CURLUE_OK || raw == nullptr) return {};
  CurlString owned(raw);
  return std::string(raw);
}

// The message text handed to libcurl a piece at a time (it escapes leading dots itself and
// ends the DATA section).
struct Upload {
  std::string_view rest;
};

size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->rest.size());
  std::memcpy(buffer, upload->rest.data(), n);
  upload->rest.remove_prefix(n);
  return n;
}

size_t ignore_output(char*, size_t size, size_t count, void*) { return size * count; }

}  // namespace

Result<void> check_smtp_url(std::string_view url) {
  init_curl_once();
  std::unique_ptr<CURLU, CurlUrlDeleter> u(curl_url());
  if (!u) return fail(errc::kUnavailable, "out of memory");
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return fail(errc::kInvalidRequest, "not a URL: " + text, "smtp");
  }
  const std::string scheme = url_part(u.get(), CURLUPART_SCHEME);
  if (scheme != "smtp" && scheme != "smtps") {
    return fail(errc::kInvalidRequest, "the SMTP URL is smtp://HOST:PORT or smtps://HOST:PORT",
                "smtp");
  }
  if (url_part(u.get(), CURLUPART_HOST).empty()) {
    return fail(errc::kInvalidRequest, "the SMTP URL names no host", "smtp");
  }
  const std::string path = url_part(u.get(), CURLUPART_PATH);
  if ((!path.empty() && path != "/") || !url_part(u.get(), CURLUPART_QUERY).empty() ||
      !url_part(u.get(), CURLUPART_FRAGMENT).empty()) {
    return fail(errc::kInvalidRequest, "the SMTP URL is only a scheme, a host and a port", "smtp");
  }
  if (!url_part(u.get(), CURLUPART_USER).empty()) {
    return fail(errc::kInvalidRequest,
                "the SMTP URL carries no credentials (smtp-user and smtp-password-file do)",
                "smtp");
  }
  return {};
}

struct Smtp::Impl {
  SmtpOptions options;
  std::string base;  // the URL without a trailing slash
  std::mutex mutex;
  std::vector<CURL*> idle;  // easy handles, each holding its open connection

  CURL* take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        CURL* c = idle.back();
        idle.pop_back();
        return c;
      }
    }
    return curl_easy_init();
  }

  // A handle goes back to the idle ones after a message went out; after a failure its
  // connection is closed (the next message starts from a fresh one).
  void give_back(CURL* c, bool healthy) {
    if (healthy) {
      std::lock_guard lock(mutex);
      if (idle.size() < options.idle_connections) {
        idle.push_back(c);
        return;
      }
    }
    curl_easy_cleanup(c);
  }
};

Smtp::Smtp(SmtpOptions options) : impl_(std::make_unique<Impl>()) {
  init_curl_once();
  impl_->options = std::move(options);
  impl_->base = impl_->options.url;
  while (!impl_->base.empty() && impl_->base.back() == '/') impl_->base.pop_back();
}

Smtp::~Smtp() {
  for (CURL* c : impl_->idle) curl_easy_cleanup(c);
}

Result<void> Smtp::send(const Message& message) {
  auto formatted = format_now(message);
  if (!formatted) return Unexpected(formatted.error());
  const SmtpOptions& o = impl_->options;

  CURL* c = impl_->take();
  if (c == nullptr) return fail(errc::kUnavailable, "SMTP: out of memory");
  curl_easy_reset(c);  // the options; the open connection stays

  // EHLO names the sender's domain: smtp://host:port/DOMAIN is how libcurl is told.
  const std::string from_domain = message.from_address.substr(message.from_address.find('@') + 1);
  const std::string url = impl_->base + "/" + from_domain;
  const std::string from = "<" + message.from_address + ">";
  std::unique_ptr<curl_slist, SlistDeleter> rcpt(
      curl_slist_append(nullptr, ("<" + message.to + ">").c_str()));
  Upload upload{formatted->text};
  char error[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  // With credentials, TLS is required too: a man in the middle who strips STARTTLS from the
  // server's answer must not get the password in the clear.
  const bool tls_required = o.require_tls || !o.user.empty();
  curl_easy_setopt(c, CURLOPT_USE_SSL, tls_required ? CURLUSESSL_ALL : CURLUSESSL_TRY);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, o.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload.rest.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ignore_output);

  const CURLcode rc = curl_easy_perform(c);
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  const std::string said = error[0] != 0 ? error : curl_easy_strerror(rc);
  curl_easy_reset(c);  // nothing of this call (its buffers) stays on the handle
  impl_->give_back(c, rc == CURLE_OK);
  if (rc == CURLE_OK) return {};

  const std::string why =
      fmt::format("SMTP {}: {}{}", o.url, said,
                  reply != 0 ? fmt::format(" (the server answered {})", reply) : "");
  // Only a 5xx to RCPT TO is the server's final word on this message (no such mailbox). A 5xx
  // at the greeting, to EHLO, STARTTLS, AUTH or MAIL FROM is about this server's setup (a
  // blocklisted address, a wrong --mail-from, relaying refused without a login) and would
  // refuse every message alike: those wait, like a server that cannot be reached, for the
  // operator to fix it.
  const bool recipient_refused = said.starts_with("RCPT failed") && reply >= 500 && reply < 600;
  if (recipient_refused) return fail(errc::kInvalidRequest, why, "to");
  return fail(errc::kUnavailable, why);
}

}  // namespace portico::mail
