// config: the example loads with the expected values; every kind of mistake is refused
// with FILE:LINE:COL and a message that says what to fix.
#include "adapters/registry.hpp"
#include "config/config.hpp"

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <unistd.h>

#include "support.hpp"

namespace herald {
namespace {

using test::TempDir;

std::vector<std::string> error_lines(const ConfigLoad& load, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& e : load.errors) {
    std::string s = e.str();
    if (s.rfind(path, 0) == 0) s = "F" + s.substr(path.size());
    out.push_back(s);
  }
  return out;
}

class ExampleConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("HERALD_AMQP_PASSWORD", "amqp-pass-for-config-test", 1);
    setenv("HERALD_ADMIN_TOKEN", "admin-token-for-config-test-0123456789", 1);
    setenv("HERALD_KANNEL_PASSWORD", "kannel-pass-for-config-test", 1);
    setenv("HERALD_KANNEL_MO_TOKEN", "kannel-mo-token-for-config-test", 1);
  }
  void TearDown() override {
    unsetenv("HERALD_AMQP_PASSWORD");
    unsetenv("HERALD_ADMIN_TOKEN");
    unsetenv("HERALD_KANNEL_PASSWORD");
    unsetenv("HERALD_KANNEL_MO_TOKEN");
  }
};

TEST_F(ExampleConfigTest, LoadsWithTheDocumentedValues) {
  const std::string path = test::source_path("config/herald.example.yaml");
  ConfigLoad load = load_config(path, gateway_catalog());
  for (const auto& e : load.errors) ADD_FAILURE() << e.str();
  ASSERT_TRUE(load.config.has_value());
  const Config& c = *load.config;
  const auto root = std::filesystem::path(HERALD_SOURCE_DIR).lexically_normal();

  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.broker.host, "127.0.0.1");
  EXPECT_EQ(c.broker.port, 5679);
  EXPECT_EQ(c.broker.vhost, "/");
  EXPECT_EQ(c.broker.user, "guest");
  EXPECT_EQ(c.broker.password.reveal(), "amqp-pass-for-config-test");
  EXPECT_EQ(c.broker.password.source(), "env:HERALD_AMQP_PASSWORD");
  EXPECT_EQ(c.broker.prefetch, 32);
  EXPECT_EQ(c.broker.heartbeat_s, 30);
  EXPECT_EQ(c.broker.connect_timeout_ms, 5000);
  EXPECT_EQ(c.broker.reconnect_initial_ms, 500);
  EXPECT_EQ(c.broker.reconnect_max_ms, 30000);

  EXPECT_EQ(c.store.backend, "sqlite");
  EXPECT_EQ(std::filesystem::path(c.store.path).lexically_normal(),
            root / ".state/herald/herald.db");
  EXPECT_EQ(c.store.busy_timeout_ms, 5000);

  EXPECT_EQ(c.http.address, "127.0.0.1");
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.http.body_limit, 1048576u);
  EXPECT_EQ(c.http.read_timeout_ms, 10000);
  EXPECT_EQ(c.http.downloads_per_address, 8);
  ASSERT_EQ(c.http.admin_tokens.size(), 1u);
  EXPECT_EQ(c.http.admin_tokens[0].name, "office");
  EXPECT_EQ(c.http.admin_tokens[0].role, Role::operator_);
  EXPECT_EQ(c.http.admin_tokens[0].token.reveal(), "admin-token-for-config-test-0123456789");

  EXPECT_EQ(c.intake.max_directive_bytes, 1048576u);
  EXPECT_EQ(std::filesystem::path(c.directory_file).lexically_normal(),
            root / "config/directory.example.yaml");
  ASSERT_NE(c.directory, nullptr);
  EXPECT_NE(c.directory->group("ubnd-xa-thi-tran"), nullptr);
  for (Channel ch : kAllChannels) EXPECT_TRUE(c.channel_enabled(ch)) << to_string(ch);
}

TEST_F(ExampleConfigTest, RefusedWithoutItsSecrets) {
  unsetenv("HERALD_ADMIN_TOKEN");
  const std::string path = test::source_path("config/herald.example.yaml");
  ConfigLoad load = load_config(path, gateway_catalog());
  EXPECT_FALSE(load.config.has_value());
  EXPECT_EQ(error_lines(load, path),
            std::vector<std::string>{"F:34:14: http.admin_tokens[0].token: environment variable "
                                     "HERALD_ADMIN_TOKEN is not set or empty"});
}

// A small valid config; tests change one thing in it.
constexpr const char* kBase = R"(broker: {host: 127.0.0.1, password: PASSWORD}
store: {path: herald.db}
http: {admin_tokens: [{name: office, role: viewer, token: TOKEN}]}
channels: {sms: {enabled: true}, email: {enabled: false}}
directory:
  groups:
    - {id: g1, name: "Nhóm một"}
  people:
    - id: p1
      name: "Người một"
      groups: [g1]
      contacts: {phone: "0912 000 001"}
)";

std::string base_with(const std::string& password, const std::string& token) {
  std::string s = kBase;
  s.replace(s.find("PASSWORD"), 8, password);
  s.replace(s.find("TOKEN"), 5, token);
  return s;
}

TEST(Config, SecretsFromFiles) {
  TempDir tmp;
  test::write_file(tmp.file("amqp-password"), "pass-from-file\n");
  test::write_file(tmp.file("admin-token"), "token-from-file-0123456789\r\n");
  const std::string path = tmp.file("herald.yaml");
  test::write_file(path, base_with("file:" + tmp.file("amqp-password"),
                                   "file:" + tmp.file("admin-token")));
  ConfigLoad load = load_config(path, gateway_catalog());
  for (const auto& e : load.errors) ADD_FAILURE() << e.str();
  ASSERT_TRUE(load.config.has_value());
  EXPECT_EQ(load.config->broker.password.reveal(), "pass-from-file");  // newline dropped
  EXPECT_EQ(load.config->broker.password.source(), "file:" + tmp.file("amqp-password"));
  EXPECT_EQ(load.config->http.admin_tokens[0].token.reveal(), "token-from-file-0123456789");
  EXPECT_EQ(load.config->http.admin_tokens[0].role, Role::viewer);
  EXPECT_EQ(load.config->store.path, tmp.file("herald.db"));  // relative to the config
  EXPECT_TRUE(load.config->channel_enabled(Channel::sms));
  EXPECT_FALSE(load.config->channel_enabled(Channel::email));
  EXPECT_FALSE(load.config->channel_enabled(Channel::zalo));  // not listed: off
}

ConfigLoad load_with_store(TempDir& tmp, const std::string& store) {
  std::string text = base_with("p", "token-0123456789abcdef");
  text.replace(text.find("store: {path: herald.db}"), 24, store);
  const std::string path = tmp.file("herald.yaml");
  test::write_file(path, text);
  return load_config(path, gateway_catalog());
}

std::string all_errors(const ConfigLoad& load) {
  std::string out;
  for (const auto& e : load.errors) out += e.str() + "\n";
  return out;
}

TEST(Config, PostgresStoreTakesConninfoInstanceAndLease) {
  TempDir tmp;
  ::setenv("HERALD_TEST_CONNINFO", "host=db1,db2 dbname=herald target_session_attrs=read-write", 1);
  ConfigLoad load = load_with_store(
      tmp, "store: {backend: postgres, conninfo: env:HERALD_TEST_CONNINFO, instance: herald-2, lease: 10s}");
  ASSERT_TRUE(load.config.has_value()) << all_errors(load);
  EXPECT_EQ(load.config->store.backend, "postgres");
  EXPECT_EQ(load.config->store.conninfo.reveal(), "host=db1,db2 dbname=herald target_session_attrs=read-write");
  EXPECT_EQ(load.config->store.instance, "herald-2");
  EXPECT_EQ(load.config->store.lease_ms, 10000);
  // Without a name, the host's.
  load = load_with_store(tmp, "store: {backend: postgres, conninfo: env:HERALD_TEST_CONNINFO}");
  ASSERT_TRUE(load.config.has_value()) << all_errors(load);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_EQ(load.config->store.instance, host);
  EXPECT_EQ(load.config->store.lease_ms, 15000);
}

TEST(Config, StoreKeysBelongToTheirBackend) {
  TempDir tmp;
  EXPECT_NE(all_errors(load_with_store(tmp, "store: {backend: postgres}")).find("missing required key \"conninfo\""),
            std::string::npos);
  EXPECT_NE(all_errors(load_with_store(tmp, "store: {backend: postgres, conninfo: x, path: a.db}"))
                .find("store.path applies to store.backend sqlite only"),
            std::string::npos);
  EXPECT_NE(all_errors(load_with_store(tmp, "store: {path: a.db, instance: x}"))
                .find("store.instance applies to store.backend postgres only"),
            std::string::npos);
  EXPECT_NE(all_errors(load_with_store(tmp, "store: {backend: postgres, conninfo: x, lease: 200ms}"))
                .find("store.lease must be at least 1s"),
            std::string::npos);
  EXPECT_NE(all_errors(load_with_store(tmp, "store: {backend: mysql, path: a.db}"))
                .find("store.backend must be sqlite or postgres"),
            std::string::npos);
}

TEST(Config, LiteralSecretKeepsNoSourcePath) {
  TempDir tmp;
  const std::string path = tmp.file("herald.yaml");
  test::write_file(path, base_with("guest", "literal-token-0123456789"));
  ConfigLoad load = load_config(path, gateway_catalog());
  ASSERT_TRUE(load.config.has_value());
  EXPECT_EQ(load.config->broker.password.reveal(), "guest");
  EXPECT_EQ(load.config->broker.password.source(), "(literal)");
}

TEST(Config, SecretFileProblems) {
  TempDir tmp;
  test::write_file(tmp.file("empty"), "\n");
  const std::string path = tmp.file("herald.yaml");
  test::write_file(path, base_with("file:" + tmp.file("missing"), "file:" + tmp.file("empty")));
  ConfigLoad load = load_config(path, gateway_catalog());
  EXPECT_FALSE(load.config.has_value());
  EXPECT_EQ(error_lines(load, path),
            (std::vector<std::string>{
                "F:1:37: broker.password: cannot read secret file " + tmp.file("missing"),
                "F:3:59: http.admin_tokens[0].token: secret file " + tmp.file("empty") +
                    " is empty"}));
}

TEST(Config, ShortAdminTokenAndBadListen) {
  TempDir tmp;
  const std::string path = tmp.file("herald.yaml");
  std::string text = base_with("guest", "short");
  text.replace(text.find("http: {"), 7, "http: {listen: localhost, ");
  test::write_file(path, text);
  ConfigLoad load = load_config(path, gateway_catalog());
  EXPECT_EQ(error_lines(load, path),
            (std::vector<std::string>{
                "F:3:16: http.listen must be ADDRESS:PORT, e.g. 127.0.0.1:8080",
                "F:3:78: admin token must be at least 16 characters"}));
}

TEST(Config, DirectoryFileErrorsNameThatFile) {
  TempDir tmp;
  const std::string path = tmp.file("herald.yaml");
  const std::string dir_path = tmp.file("directory.yaml");
  test::write_file(path,
                   "broker: {host: 127.0.0.1}\nstore: {path: herald.db}\n"
                   "channels: {sms: {enabled: true}}\ndirectory: directory.yaml\n");
  test::write_file(dir_path,
                   "groups:\n  - {id: g1, name: \"Nhóm một\"}\npeople:\n  - id: p1\n"
                   "    name: \"Người một\"\n    groups: [g2]\n");
  ConfigLoad load = load_config(path, gateway_catalog());
  EXPECT_FALSE(load.config.has_value());
  ASSERT_EQ(load.errors.size(), 1u);
  EXPECT_EQ(load.errors[0].str(), dir_path + ":6:14: unknown group \"g2\"");
}

TEST(Config, MissingDirectoryFile) {
  TempDir tmp;
  const std::string path = tmp.file("herald.yaml");
  test::write_file(path,
                   "broker: {host: 127.0.0.1}\nstore: {path: herald.db}\n"
                   "channels: {sms: {enabled: true}}\ndirectory: nowhere.yaml\n");
  ConfigLoad load = load_config(path, gateway_catalog());
  ASSERT_EQ(load.errors.size(), 1u);
  EXPECT_EQ(load.errors[0].str(), tmp.file("nowhere.yaml") + ":1:1: cannot open file");
}

// 100,000 levels of nesting, in flow style ([[[...]]], {a: {a: ...}}) and in block style
// (a list or an explicit key per indicator, all on one line: "- - - x", "? ? ? x").
std::vector<std::string> hostile_nesting() {
  constexpr size_t kDepth = 100000;
  std::string flow_lists = "broker: " + std::string(kDepth, '[') + std::string(kDepth, ']') + "\n";
  std::string flow_maps = "broker: ", block_lists, block_keys;
  for (size_t i = 0; i < kDepth; ++i) {
    flow_maps += "{a: ";
    block_lists += "- ";
    block_keys += "? ";
  }
  flow_maps += "x" + std::string(kDepth, '}') + "\n";
  block_lists += "x\n";
  block_keys += "x\n";
  return {flow_lists, flow_maps, block_lists, block_keys};
}

constexpr const char* kTooDeep = ": YAML nested too deeply: lists and maps may nest 499 levels at most";

TEST(Config, HostileNestingIsRefusedWithAClearError) {
  TempDir tmp;
  const std::string path = tmp.file("herald.yaml");
  for (const std::string& nested : hostile_nesting()) {
    SCOPED_TRACE(nested.substr(0, 12));
    // yaml-cpp stops at its depth limit, before the stack runs out; the message says what
    // is wrong ("bad file" is yaml-cpp's own word for it).
    test::write_file(path, nested);
    for (const ConfigLoad& load :
         {load_config(path, gateway_catalog()), load_config_text(nested, path, gateway_catalog())}) {
      EXPECT_FALSE(load.config.has_value());
      ASSERT_EQ(load.errors.size(), 1u);
      EXPECT_EQ(load.errors[0].file, path);
      EXPECT_NE(load.errors[0].str().find(kTooDeep), std::string::npos) << load.errors[0].str();
    }
    // The directory file the config names is read the same way.
    test::write_file(tmp.file("directory.yaml"), nested);
    test::write_file(path, "broker: {host: 127.0.0.1}\nstore: {path: herald.db}\n"
                           "channels: {sms: {enabled: true}}\ndirectory: directory.yaml\n");
    ConfigLoad load = load_config(path, gateway_catalog());
    EXPECT_FALSE(load.config.has_value());
    ASSERT_EQ(load.errors.size(), 1u);
    EXPECT_EQ(load.errors[0].file, tmp.file("directory.yaml"));
    EXPECT_NE(load.errors[0].str().find(kTooDeep), std::string::npos) << load.errors[0].str();
  }
}

TEST(Config, NestingUnderTheLimitIsOnlyTheWrongShape) {
  // 400 levels parse; then config says what it expected there.
  const std::string text = base_with("guest", "literal-token-0123456789") + "dispatch: " +
                           std::string(400, '[') + std::string(400, ']') + "\n";
  ConfigLoad load = load_config_text(text, "F", gateway_catalog());
  EXPECT_FALSE(load.config.has_value());
  ASSERT_EQ(load.errors.size(), 1u);
  EXPECT_EQ(load.errors[0].str(), "F:13:11: dispatch must be a map, found a list");
}

// ---- one bad config per file in testdata/config_errors --------------------------------
// Each file starts with "# expect: F:LINE:COL: message" lines: exactly the errors that
// load_config must report, in order, with F standing for the file's path.

std::vector<std::string> error_case_files() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::testdata_path("config_errors")))
    if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

class ConfigErrorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigErrorTest, ReportsExactly) {
  const std::string text =
      test::read_file(test::testdata_path("config_errors/" + GetParam() + ".yaml"));
  std::vector<std::string> expected;
  constexpr std::string_view kExpect = "# expect: ";
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(kExpect, 0) == 0) expected.push_back(line.substr(kExpect.size()));
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  ASSERT_FALSE(expected.empty()) << "no # expect: lines";

  TempDir tmp;
  const std::string path = tmp.file(GetParam() + ".yaml");
  test::write_file(path, text);
  ConfigLoad load = load_config(path, gateway_catalog());
  EXPECT_FALSE(load.config.has_value());
  EXPECT_EQ(error_lines(load, path), expected);
}

INSTANTIATE_TEST_SUITE_P(Files, ConfigErrorTest, ::testing::ValuesIn(error_case_files()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

}  // namespace
}  // namespace herald
