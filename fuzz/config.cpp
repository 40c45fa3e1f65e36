// heraldd's YAML configuration: load_config_text, the same reading and validation as
// load_config(path) (gateways, channels, the inline or file directory, secrets).
// Input: the config file's text.
//
// Config names other files: the directory (relative to the config), people_csv, file:
// secrets. They resolve inside a per-process folder under $TMPDIR holding a small
// directory.example.yaml, so the example config's seeds load whole. Inputs that name
// /dev, /proc or /sys, or use YAML escapes (which could spell those), are skipped: reading
// /dev/zero or /dev/stdin would hang the fuzzer on the operator's own choice, not find a bug.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "adapters/registry.hpp"
#include "config/config.hpp"
#include "settings/redact.hpp"

namespace {

std::filesystem::path g_dir;

constexpr const char* kDirectory = R"yaml(zones:
  - {id: an-hiep, name: "Xã An Hiệp", voice: southern, geocode: "31474"}
groups:
  - id: ban-thuong-vu
    name: "Ban Thường vụ Huyện ủy"
    aliases: ["BTV Huyện ủy"]
  - id: ubnd-xa
    name: "Ủy ban nhân dân các xã"
    includes: [ban-thuong-vu]
    zones: [an-hiep]
people:
  - id: bt-huyen-uy
    name: "Nguyễn Văn An (giả định)"
    title: "Bí thư Huyện ủy"
    groups: [ban-thuong-vu]
    contacts:
      phone: "0912 000 101"
      zalo_user_id: "1000000000000001"
      email: "bithu@huyenuy.chauthanh.example"
    channels: [zalo, sms]
  - id: ct-ubnd-an-hiep
    name: "Trần Thị Bình (giả định)"
    groups: [ubnd-xa]
    contacts: {phone: "+84 912 000 102", email: "ubnd.an-hiep@chauthanh.example"}
    superior: bt-huyen-uy
)yaml";

void remove_dir() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

bool names_a_device(std::string_view text) {
  for (std::string_view bad : {"/dev", "/proc", "/sys", "\\"})
    if (text.find(bad) != std::string_view::npos) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/herald-fuzz-config-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_dir = tmpl;
  std::atexit(remove_dir);
  std::ofstream(g_dir / "directory.example.yaml") << kDirectory;
  std::ofstream(g_dir / "people.csv") << "id,name,groups,phone\np1,Người một,ban-thuong-vu,0912 000 001\n";
  std::ofstream(g_dir / "secret.txt") << "secret-from-a-file-0123456789\n";
  // The example config's secrets (config/herald.example.yaml).
  setenv("HERALD_AMQP_PASSWORD", "fuzz-amqp-password", 1);
  setenv("HERALD_ADMIN_TOKEN", "fuzz-admin-token-0123456789", 1);
  setenv("HERALD_KANNEL_PASSWORD", "fuzz-kannel-password", 1);
  setenv("HERALD_KANNEL_MO_TOKEN", "fuzz-kannel-mo-token", 1);
  // ...and those of the adapters' testdata/ gateways (the gateway-* seeds).
  for (const char* name : {"HERALD_TEST_SMS_API_KEY", "HERALD_TEST_MAIL_API_KEY", "HERALD_TEST_LOA_KEY",
                           "HERALD_TEST_ZALO_SECRET"})
    setenv(name, "fuzz-secret-0123456789", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (names_a_device(text)) return 0;
  herald::ConfigLoad load = herald::load_config_text(text, (g_dir / "herald.yaml").string(), herald::gateway_catalog());
  // Either a config or the reasons there is none.
  if (load.config.has_value() == !load.errors.empty()) std::abort();
  for (const auto& e : load.errors) (void)e.str();
  herald::forget_secrets();  // the next input starts with none remembered (determinism, memory)
  return 0;
}
