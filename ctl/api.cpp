// heraldctl's side of heraldd's admin API: bearer-token requests with libcurl, errors
// printed as the operator should read them.
#include <curl/curl.h>

#include <iostream>

#include <boost/json.hpp>

#include "commands.hpp"

namespace json = boost::json;

namespace herald::ctl {

namespace {

size_t collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// GET, or POST with a JSON body when `post_body` is given; prints the reason and returns
// nullopt on any failure.
std::optional<json::value> api_call(const Options& o, const std::string& path,
                                    const std::optional<std::string>& post_body) {
  CURL* curl = curl_easy_init();
  std::string url = o.api + path, body;
  curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + o.token;
  headers = curl_slist_append(headers, auth.c_str());
  if (post_body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    std::cerr << "heraldctl: cannot reach " << o.api << ": " << curl_easy_strerror(rc) << "\n";
    return std::nullopt;
  }
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (status != 200) {
    std::string msg = !ec && v.is_object() && v.as_object().contains("error")
                          ? std::string(v.as_object().at("error").as_string())
                          : body;
    std::cerr << "heraldctl: " << path << ": HTTP " << status << ": " << msg << "\n";
    if (!ec && v.is_object())
      if (const json::value* errors = v.as_object().if_contains("errors"); errors && errors->is_array())
        for (const auto& e : errors->as_array()) std::cerr << "  " << (e.is_string() ? std::string(e.get_string()) : "") << "\n";
    return std::nullopt;
  }
  if (ec) {
    std::cerr << "heraldctl: " << path << ": the API answered with invalid JSON\n";
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<json::value> api_get(const Options& o, const std::string& path) { return api_call(o, path, std::nullopt); }

std::optional<json::value> api_get_all(const Options& o, const std::string& path, const std::string& key,
                                      const std::string& cursor_param) {
  const std::string base = path + (path.find('?') == std::string::npos ? "?" : "&") + "limit=1000";
  json::array all;
  std::string cursor;
  for (;;) {
    auto page = api_get(o, cursor.empty() ? base : base + "&" + cursor_param + "=" + encode_segment(cursor));
    if (!page) return std::nullopt;
    if (!page->is_object() || !page->as_object().contains(key) || !page->at(key).is_array()) {
      std::cerr << "heraldctl: " << path << ": the API's answer has no \"" << key << "\" list\n";
      return std::nullopt;
    }
    for (auto& v : page->as_object()[key].as_array()) all.push_back(std::move(v));
    const json::value* next = page->as_object().if_contains("next");
    if (!next || !next->is_string() || next->get_string().empty()) {
      page->as_object()[key] = std::move(all);
      page->as_object().erase("next");
      return page;
    }
    cursor = std::string(next->get_string());
  }
}

std::optional<json::value> api_post(const Options& o, const std::string& path, const json::object& body) {
  return api_call(o, path, json::serialize(body));
}

std::string encode_segment(const std::string& id) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_null()) return "";
  return json::serialize(v);
}

}  // namespace herald::ctl
