#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/time.hpp"

namespace herald::log {

namespace {
std::atomic<int> g_min{static_cast<int>(Level::info)};
std::mutex g_mu;
const bool g_journal = std::getenv("JOURNAL_STREAM") != nullptr;

const char* name(Level l) {
  switch (l) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "?";
}
}  // namespace

void set_min_level(Level level) { g_min = static_cast<int>(level); }

std::string one_line(std::string_view message) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(message.size());
  for (char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7f && c != '\\') {
      out += ch;
      continue;
    }
    out += '\\';
    switch (c) {
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      case '\\': out += '\\'; break;
      default:
        out += 'x';
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  return out;
}

void write(Level level, const std::string& message) {
  if (static_cast<int>(level) > g_min) return;
  // Messages quote directives, replies and providers' answers: a newline there must not
  // start a log line (or a journald priority) of its sender's choosing.
  const std::string line = one_line(message);
  std::lock_guard lock(g_mu);
  if (g_journal)
    std::fprintf(stderr, "<%d>%s\n", static_cast<int>(level), line.c_str());
  else
    std::fprintf(stderr, "%s %s %s\n", format_rfc3339_utc(now_ms()).c_str(), name(level), line.c_str());
  std::fflush(stderr);
}

}  // namespace herald::log
