#pragma once
// heraldctl's options and its commands, one family per file: publish.cpp (publish a
// directive, from a file or a document's text), progress.cpp (status, deliveries, acks,
// export), operate.cpp (replay, cancel), directory.cpp (check, reload); api.cpp talks to
// heraldd's admin API, main.cpp reads the command line.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "config/config.hpp"

namespace herald::ctl {

/// Exit status: 0 ok, 1 the operation failed, 2 usage error.
inline constexpr int kOk = 0, kFailed = 1, kUsage = 2;

struct Options {
  BrokerConfig broker;
  std::string api = "http://127.0.0.1:8080";
  std::string token;
  bool json = false;
  bool force = false;
  bool missing = false;
  bool dry_run = false;
  bool csv = false;
  std::string reason, recipient_filter;
  bool from_text = false;
  bool yes = false;
  std::string directory_file;  // for --from-text: the directory to match recipients in
  std::shared_ptr<const Directory> directory;  // from --config
  std::string urgency = "normal", confidentiality = "normal", ack_deadline, since, until;
  std::string state_filter, channel_filter;
  std::vector<std::string> args;
};

// ---- commands (args[0] is the command) ---------------------------------------------------
int publish(const Options& o);
int status(const Options& o);
int deliveries(const Options& o);
int acks(const Options& o);
int export_csv(const Options& o);
int replay(const Options& o);
int cancel(const Options& o);
int directory(const Options& o);

// ---- heraldd's admin API (api.cpp) -------------------------------------------------------
/// GET a path of the admin API; prints the reason and returns nullopt on any failure.
std::optional<boost::json::value> api_get(const Options& o, const std::string& path);
/// GET every page of a listing: `path` (with its own query, if any) a page of at most 1,000
/// at a time, following each page's "next" cursor as `cursor_param`, the arrays under
/// `key` joined; the last page's other fields are kept. nullopt as api_get.
std::optional<boost::json::value> api_get_all(const Options& o, const std::string& path, const std::string& key,
                                              const std::string& cursor_param = "after");
/// POST a JSON body to a path of the admin API; the same.
std::optional<boost::json::value> api_post(const Options& o, const std::string& path, const boost::json::object& body);
/// A directive id as one percent-encoded path segment.
std::string encode_segment(const std::string& id);
/// A JSON scalar as table text ("" for null).
std::string str(const boost::json::value& v);

}  // namespace herald::ctl
