// A loudspeaker controller's playback reports (Herald's own report shape: /status,
// /job_id, /reason) and its answers to job posts. Input: callback.hpp.
#include "callback.hpp"

using namespace herald;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // adapters/loudspeaker/controller/testdata/minimal.yaml: the default report mapping.
  static const std::unique_ptr<Gateway> controller = fuzz::gateway("loa", R"(type: loudspeaker_http
url: http://127.0.0.1:18099/api/jobs
)");
  if (auto cb = fuzz::callback(data, size)) fuzz::parse_all(*controller, *cb);
  return 0;
}
