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

void write(Level level, const std::string& message) {
  if (static_cast<int>(level) > g_min) return;
  std::lock_guard lock(g_mu);
  if (g_journal)
    std::fprintf(stderr, "<%d>%s\n", static_cast<int>(level), message.c_str());
  else
    std::fprintf(stderr, "%s %s %s\n", format_rfc3339_utc(now_ms()).c_str(), name(level),
                 message.c_str());
  std::fflush(stderr);
}

}  // namespace herald::log
