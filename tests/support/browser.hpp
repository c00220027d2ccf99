// A browser's part in a sign-in with an identity provider, over libcurl: one cookie jar for every
// host (the portal's and the provider's, as a browser keeps them), the provider's HTTPS trusted
// through the test's certificate, and redirects followed one at a time so a test sees each hop.
#pragma once

#include <curl/curl.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace portico::test {

class Browser {
 public:
  struct Page {
    long status = 0;
    std::string url;       // what was fetched
    std::string location;  // a redirect's target, absolute ("" when none)
    std::string body;
    std::vector<std::string> set_cookies;  // the Set-Cookie values, as sent
  };

  explicit Browser(std::string ca_file) : ca_file_(std::move(ca_file)), curl_(curl_easy_init()) {
    REQUIRE(curl_ != nullptr);
    curl_easy_setopt(curl_, CURLOPT_COOKIEFILE, "");  // the cookie engine, in memory
  }
  ~Browser() { curl_easy_cleanup(curl_); }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  Page get(const std::string& url, const std::vector<std::string>& headers = {}) {
    return fetch("GET", url, {}, headers);
  }
  Page post(const std::string& url, const std::string& body,
            const std::vector<std::string>& headers) {
    return fetch("POST", url, body, headers);
  }
  Page del(const std::string& url, const std::vector<std::string>& headers) {
    return fetch("DELETE", url, {}, headers);
  }

  // Follows redirects from `url` until a page that is no redirect (returned) or a redirect to a
  // URL starting with `stop` (returned unfetched, as the redirect that leads there).
  Page follow(std::string url, const std::string& stop) {
    for (int hop = 0; hop < 20; ++hop) {
      Page page = get(url);
      if (page.location.empty()) return page;
      if (page.location.starts_with(stop)) return page;
      url = page.location;
    }
    FAIL("more than 20 redirects from " << url);
    return {};
  }

  // The value of the cookie `name` in the jar, "" when it holds none.
  std::string cookie(const std::string& name) {
    struct curl_slist* cookies = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_COOKIELIST, &cookies);
    std::string value;
    for (auto* c = cookies; c != nullptr; c = c->next) {
      // Netscape format: domain, flag, path, secure, expiry, name, value (tab-separated).
      std::vector<std::string> fields;
      std::string line = c->data, part;
      for (char ch : line) {
        if (ch == '\t') {
          fields.push_back(part);
          part.clear();
        } else {
          part.push_back(ch);
        }
      }
      fields.push_back(part);
      if (fields.size() == 7 && fields[5] == name) value = fields[6];
    }
    curl_slist_free_all(cookies);
    return value;
  }

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* out) {
    std::string line(data, size * n);
    constexpr std::string_view kSetCookie = "set-cookie:";
    if (line.size() > kSetCookie.size()) {
      std::string head = line.substr(0, kSetCookie.size());
      for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (head == kSetCookie) {
        std::string value = line.substr(kSetCookie.size());
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        static_cast<std::vector<std::string>*>(out)->push_back(value);
      }
    }
    return size * n;
  }

  Page fetch(const char* method, const std::string& url, const std::string& body,
             const std::vector<std::string>& headers) {
    Page page;
    page.url = url;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl_, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    if (std::string_view(method) != "GET") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &page.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &page.set_cookies);
    struct curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    const CURLcode done = curl_easy_perform(curl_);
    curl_slist_free_all(list);
    REQUIRE_MESSAGE(done == CURLE_OK, url << ": " << curl_easy_strerror(done));
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &page.status);
    char* location = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_REDIRECT_URL, &location);
    if (location != nullptr) page.location = location;
    return page;
  }

  std::string ca_file_;
  CURL* curl_;
};

}  // namespace portico::test
