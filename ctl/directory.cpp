// heraldctl directory: check a directory file (no daemon needed), or have heraldd read its
// own again.
#include <iostream>

#include <boost/json.hpp>

#include "commands.hpp"

namespace json = boost::json;

namespace herald::ctl {

int directory(const Options& o) {
  if (o.args.size() >= 2 && o.args[1] == "check") {
    if (o.args.size() != 3) {
      std::cerr << "heraldctl directory check: expects one FILE\n";
      return kUsage;
    }
    std::vector<ConfigError> errors;
    auto dir = load_directory(o.args[2], errors);
    for (const auto& e : errors) std::cerr << e.str() << "\n";
    if (!dir) return kFailed;
    if (o.json)
      std::cout << json::serialize(json::object{{"ok", true}, {"groups", dir->groups().size()},
                                                {"people", dir->people().size()}, {"zones", dir->zones().size()}})
                << "\n";
    else
      std::cout << o.args[2] << ": OK (" << dir->groups().size() << " groups, " << dir->people().size() << " people, "
                << dir->zones().size() << " zones)\n";
    return kOk;
  }
  if (o.args.size() == 2 && o.args[1] == "reload") {
    auto v = api_post(o, "/api/v1/directory/reload", json::object{});
    if (!v) return kFailed;
    if (o.json) std::cout << json::serialize(*v) << "\n";
    else
      std::cout << "directory reloaded: " << str(v->at("groups")) << " groups, " << str(v->at("people"))
                << " people, " << str(v->at("zones")) << " zones\n";
    return kOk;
  }
  std::cerr << "heraldctl directory: expects check FILE or reload\n";
  return kUsage;
}

}  // namespace herald::ctl
