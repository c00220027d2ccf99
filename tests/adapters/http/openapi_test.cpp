// docs/openapi.yaml against the server: the same routes as the App's route table, and only the
// error codes of portico::errc, each under the status the server answers it with. The document is
// read by a strict reader of its own regular layout (described at its top), not a YAML library: a
// line the reader does not expect fails the test, so the layout stays the one it can check.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <map>
#include <portico/errc.hpp>
#include <portico/http/app.hpp>
#include <portico/http/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../projections/views_fixtures.hpp"

using namespace portico::test;
namespace phttp = portico::http;
namespace errc = portico::errc;

namespace {

using Route = std::pair<std::string, std::string>;  // ("GET", "/api/v1/projects/{p}")

// An error response of an operation: where, its status, and the codes it lists.
struct Answer {
  std::string where;  // "GET /healthz 503"
  unsigned status = 0;
  std::vector<std::string> codes;
};

// What the test reads of the document.
struct Document {
  std::set<Route> routes;
  std::size_t operations = 0;  // with duplicates, if any
  std::vector<Answer> answers;
  std::set<std::string> mentioned;      // every code of every x-error-codes list and the enum
  std::vector<std::string> error_enum;  // components/schemas/ErrorCode's enum
  std::vector<std::string> problems;    // lines the reader did not accept
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_code(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

bool is_method(std::string_view s) {
  static const std::set<std::string_view> kMethods = {"get",   "put",  "post",    "delete",
                                                      "patch", "head", "options", "trace"};
  return kMethods.contains(s);
}

// "[a, b]" -> {"a", "b"}; nullopt-like empty result with a problem noted when it is not that.
std::vector<std::string> flow_list(std::string_view text, int line, Document& doc) {
  text = trim(text);
  std::vector<std::string> out;
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') {
    doc.problems.push_back("line " + std::to_string(line) + ": x-error-codes is not [a, b]");
    return out;
  }
  text = text.substr(1, text.size() - 2);
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = trim(text.substr(0, comma));
    if (!is_code(item)) {
      doc.problems.push_back("line " + std::to_string(line) + ": not a code: " + std::string(item));
    } else {
      out.emplace_back(item);
    }
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

Document read_document(const std::string& yaml) {
  Document doc;
  std::string section, subsection, path, operation, status, component;
  bool in_responses = false, in_error_code = false, in_enum = false;
  std::string unlisted;  // an error response whose codes are still to come
  int block = -1;  // the indent of a key whose value is a block scalar ("|-"), while inside it
  std::map<std::string, std::vector<std::string>> shared;  // components/responses
  std::vector<std::pair<Answer, std::string>> refs;        // answers naming a shared response
  std::istringstream in(yaml);
  std::string raw;
  int number = 0;
  while (std::getline(in, raw)) {
    ++number;
    const std::string_view line = trim(raw);
    const int indent = static_cast<int>(raw.find_first_not_of(' '));
    if (line.empty()) continue;
    if (block >= 0 && indent > block) continue;  // text of a block scalar
    block = -1;
    if (line.front() == '#') continue;
    const auto colon = line.find(':');
    const std::string_view key = line.substr(0, colon);
    const std::string_view value =
        colon == std::string_view::npos ? std::string_view() : trim(line.substr(colon + 1));
    if (value == "|-" || value == "|" || value == ">-" || value == ">") block = indent;
    if (key == "x-error-codes") {
      for (auto& c : flow_list(value, number, doc)) doc.mentioned.insert(c);
    }
    auto problem = [&](const std::string& what) {
      doc.problems.push_back("line " + std::to_string(number) + ": " + what + ": " +
                             std::string(line));
    };
    if (!unlisted.empty() && indent <= 8) {
      doc.problems.push_back(unlisted + ": an error response without x-error-codes");
      unlisted.clear();
    }
    if (indent == 0) {
      section = std::string(key);
      continue;
    }
    if (section == "paths") {
      if (indent == 2) {
        if (key.empty() || key.front() != '/' || !value.empty()) problem("not a path");
        path = std::string(key);
        operation.clear();
      } else if (indent == 4) {
        in_responses = false;
        operation.clear();
        if (is_method(key) && value.empty()) {
          std::string method(key);
          std::transform(method.begin(), method.end(), method.begin(),
                         [](char c) { return static_cast<char>(c - 'a' + 'A'); });
          doc.routes.emplace(method, path);
          ++doc.operations;
          operation = method + " " + path;
        } else if (key != "parameters" && key != "summary" && key != "description") {
          problem("not a method of " + path);
        }
      } else if (indent == 6 && !operation.empty()) {
        in_responses = key == "responses";
      } else if (indent == 8 && in_responses) {
        if (key.size() == 5 && key.front() == '\'' && key.back() == '\'' && value.empty()) {
          status = std::string(key.substr(1, 3));
          if (status >= "400") unlisted = operation + " " + status;
        } else {
          problem("not a status of " + operation);
        }
      } else if (indent == 10 && in_responses) {
        const Answer here{operation + " " + status, static_cast<unsigned>(std::stoul(status)), {}};
        if (key == "$ref" || key == "x-error-codes") unlisted.clear();
        if (key == "$ref") {
          constexpr std::string_view kPrefix = "'#/components/responses/";
          if (value.starts_with(kPrefix) && value.back() == '\'') {
            refs.emplace_back(
                here, std::string(value.substr(kPrefix.size(), value.size() - kPrefix.size() - 1)));
          } else if (!status.starts_with('2') && !status.starts_with('3')) {
            problem("an error response that is not a components/responses reference");
          }
        } else if (key == "x-error-codes") {
          Answer a = here;
          a.codes = flow_list(value, number, doc);
          doc.answers.push_back(std::move(a));
        }
      }
    } else if (section == "components") {
      if (indent == 2) {
        subsection = std::string(key);
        in_error_code = in_enum = false;
      } else if (indent == 4) {
        component = std::string(key);
        in_error_code = subsection == "schemas" && key == "ErrorCode";
        in_enum = false;
      } else if (indent == 6) {
        in_enum = in_error_code && key == "enum";
        if (subsection == "responses" && key == "x-error-codes") {
          shared[component] = flow_list(value, number, doc);
        }
      } else if (indent == 8 && in_enum) {
        if (!line.starts_with("- ") || !is_code(line.substr(2))) {
          problem("not a code of ErrorCode");
        } else {
          doc.error_enum.emplace_back(line.substr(2));
          doc.mentioned.emplace(line.substr(2));
        }
      }
    }
  }
  for (auto& [answer, name] : refs) {
    auto it = shared.find(name);
    if (it == shared.end()) {
      doc.problems.push_back(answer.where + ": components/responses/" + name +
                             " lists no x-error-codes");
      continue;
    }
    answer.codes = it->second;
    doc.answers.push_back(std::move(answer));
  }
  return doc;
}

Document openapi() { return read_document(read_file(PORTICO_SOURCE_DIR "/docs/openapi.yaml")); }

// The routes of the App the server serves, as the document writes them: "{rest*}" (the rest of
// the path) is "{rest}" there.
std::vector<Route> served_routes() {
  ViewsDesk desk;
  phttp::App app(*desk.log, *desk.portal, desk.views);
  std::vector<Route> out;
  for (const auto& r : app.router().routes()) {
    std::string pattern = r.pattern;
    for (auto star = pattern.find("*}"); star != std::string::npos; star = pattern.find("*}")) {
      pattern.erase(star, 1);
    }
    out.emplace_back(std::string(boost::beast::http::to_string(r.method)), pattern);
  }
  return out;
}

}  // namespace

TEST_CASE("docs/openapi.yaml documents exactly the routes the server has") {
  const Document doc = openapi();
  for (const auto& p : doc.problems) FAIL_CHECK(p);
  CHECK(doc.operations == doc.routes.size());  // no operation twice
  const std::vector<Route> served = served_routes();
  const std::set<Route> table(served.begin(), served.end());
  CHECK(table.size() == served.size());  // no route added twice
  for (const auto& [method, path] : table) {
    if (!doc.routes.contains({method, path})) {
      FAIL_CHECK("served but not in docs/openapi.yaml: " << method << " " << path);
    }
  }
  for (const auto& [method, path] : doc.routes) {
    if (!table.contains({method, path})) {
      FAIL_CHECK("in docs/openapi.yaml but not served: " << method << " " << path);
    }
  }
  CHECK(table.size() > 50);  // the reader found the document's paths at all
}

TEST_CASE("docs/openapi.yaml names only codes of portico::errc and each under its status") {
  const Document doc = openapi();
  for (const auto& p : doc.problems) FAIL_CHECK(p);
  const std::set<std::string_view> all(errc::kAll.begin(), errc::kAll.end());
  for (const auto& code : doc.mentioned) {
    CAPTURE(code);
    // kInternal is the server's 500 (a bug): the Error schema names it, no operation does.
    CHECK((all.contains(code) || code == errc::kInternal));
  }
  // The Error schema's enum is the whole vocabulary, once each.
  std::set<std::string_view> listed(doc.error_enum.begin(), doc.error_enum.end());
  CHECK(listed.size() == doc.error_enum.size());
  std::set<std::string_view> expected = all;
  expected.insert(errc::kInternal);
  CHECK(listed == expected);
  // Each response lists codes, and only codes the server answers with that response's status.
  REQUIRE(doc.answers.size() > 100);
  for (const Answer& a : doc.answers) {
    CAPTURE(a.where);
    CHECK(!a.codes.empty());
    for (const auto& code : a.codes) {
      CAPTURE(code);
      CHECK(all.contains(code));
      CHECK(phttp::status_of(code) == a.status);
    }
  }
}
