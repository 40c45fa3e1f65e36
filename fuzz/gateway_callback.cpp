// What a provider sends to one gateway type (fuzz_<type>_callback, one target per type of
// adapters/CMakeLists.txt's list): the callback read as a receipt and as a reply (MO), and
// the body as the provider's answer to a send. Input: callback.hpp. The gateways are the
// adapter's own testdata/ configurations of that type (HERALD_FUZZ_CONFIGS, generated),
// their env: secrets set to a fixed value.
#include <cstdlib>
#include <regex>
#include <vector>

#include "callback.hpp"

namespace {

#include HERALD_FUZZ_CONFIGS  // kConfigs: the YAML of each configuration

std::vector<std::unique_ptr<herald::Gateway>> gateways() {
  std::vector<std::unique_ptr<herald::Gateway>> out;
  static const std::regex kEnv("env:([A-Z0-9_]+)");
  for (const char* yaml : kConfigs) {
    const std::string text(yaml);
    for (std::sregex_iterator it(text.begin(), text.end(), kEnv), end; it != end; ++it)
      setenv((*it)[1].str().c_str(), "fuzz-secret-0123456789", 1);
    out.push_back(herald::fuzz::gateway("fuzz", text));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto kGateways = gateways();
  if (auto cb = herald::fuzz::callback(data, size))
    for (const auto& g : kGateways) herald::fuzz::parse_all(*g, *cb);
  return 0;
}
