// The HTTP front door: one raw request as a client would send it, parsed by Beast with the
// listener's limits, then routed by handle_request (http/router.cpp) against a real SQLite
// store holding the seed directive, with a Kannel gateway for /hooks and the example
// directory for replies. Whatever the route (health, metrics, hooks, replies, feeds, ack
// links, the dashboard, the API without a token), heraldd must answer, never 5xx other
// than 503, and never an answer that is not valid HTTP.
//
// Input: the request bytes ("GET /hooks/sms/kannel-local/... HTTP/1.1\r\n...").
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "callback.hpp"
#include "config/config.hpp"
#include "http/api.hpp"
#include "intake/intake.hpp"
#include "settings/yaml_reader.hpp"
#include "store/store.hpp"

using namespace herald;
namespace bhttp = boost::beast::http;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) std::abort();  // a broken harness
  return s.str();
}

struct Fixture {
  Fixture() {
    dir_path = std::filesystem::temp_directory_path() / ("herald-fuzz-http-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_path);
    std::filesystem::create_directories(dir_path);
    store = open_sqlite_store((dir_path / "herald.db").string());
    Diagnostics diag("fuzz");
    auto node = load_yaml_string(read_file(HERALD_SOURCE_DIR "/config/directory.example.yaml"), diag);
    auto dir = node ? Directory::from_yaml(*node, diag) : std::nullopt;
    if (!dir || !diag.ok()) std::abort();
    directory = std::make_shared<const Directory>(std::move(*dir));
    config.directory = directory;
    config.http.admin_tokens.push_back({"office", Role::operator_, Secret("fuzz-admin-token-0000000000", "env:X")});
    gateways["kannel-local"] = fuzz::gateway("kannel-local", R"(type: kannel
sendsms_url: http://127.0.0.1:13013/cgi-bin/sendsms
username: herald
password: fuzz-password
mo_token: fuzz-mo-token-0123456789
)");
    Intake intake(*store, [this] { return directory; }, config, metrics);
    if (intake.take(read_file(HERALD_SOURCE_DIR "/tests/data/seed-158-CV-HU.json")).kind !=
        IntakeResult::Kind::committed)
      std::abort();
    ctx = std::make_unique<http::ApiContext>(http::ApiContext{
        *store, metrics, config.http, [] { return true; }, &gateways, {}, nullptr, [this] { return directory; },
        nullptr, "fuzz-ack-secret-0123456789abcdef", {}, {}, {}, nullptr});
  }
  ~Fixture() {
    ctx.reset();
    store.reset();
    std::filesystem::remove_all(dir_path);
  }

  std::filesystem::path dir_path;
  std::unique_ptr<Store> store;
  std::shared_ptr<const Directory> directory;
  Config config;
  Metrics metrics;
  Gateways gateways;
  std::unique_ptr<http::ApiContext> ctx;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(1 << 20);  // as the listener (http.body_limit's default)
  parser.header_limit(16 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;  // the listener answers 400/413 itself
  http::Request req = parser.release();
  req.erase(http::kPeerHeader);
  req.set(http::kPeerHeader, "192.0.2.1");
  http::Response res = http::handle_request(req, *f.ctx);
  const unsigned status = res.result_int();
  if (status < 200 || status > 599 || (status >= 500 && status != 503 && status != 501)) std::abort();
  // The answer serialises as HTTP.
  std::ostringstream out;
  out << res;
  if (out.str().rfind("HTTP/1.", 0) != 0) std::abort();
  return 0;
}
