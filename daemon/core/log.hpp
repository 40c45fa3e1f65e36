#pragma once
// Line-oriented logging to stderr; under systemd each line carries its syslog level so
// journald files it correctly. Secrets never reach here: config keeps them in Secret.
#include <sstream>
#include <string>
#include <string_view>

namespace herald::log {

enum class Level { error = 3, warning = 4, info = 6, debug = 7 };

/// Writes one line, whatever `message` holds: see one_line().
void write(Level level, const std::string& message);
/// `message` as one line: control characters as \n, \r, \t or \xHH, and a backslash
/// doubled, so text from outside cannot forge a line (UTF-8 stays as it is).
std::string one_line(std::string_view message);
void set_min_level(Level level);

/// Builds a message from stream pieces: log::info("taken in ", id, ": ", n, " deliveries").
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream ss;
  (ss << ... << args);
  return ss.str();
}

template <typename... Args> void error(const Args&... a) { write(Level::error, cat(a...)); }
template <typename... Args> void warning(const Args&... a) { write(Level::warning, cat(a...)); }
template <typename... Args> void info(const Args&... a) { write(Level::info, cat(a...)); }
template <typename... Args> void debug(const Args&... a) { write(Level::debug, cat(a...)); }

}  // namespace herald::log
