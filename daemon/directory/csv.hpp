#pragma once
// RFC 4180 CSV, read one record at a time (a national directory's people table is too
// large to hold as a document tree): quoted fields with "" for a quote, commas and line
// breaks inside quotes, CRLF or LF, a UTF-8 byte order mark ignored.
#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace herald::csv {

struct Field {
  std::string value;
  int line = 0;    // 1-based, where the field starts
  int column = 0;  // 1-based, in bytes
};

/// Calls `record` for each record (its fields, and the line it starts on); stops early if
/// `record` returns false. Returns an empty string, or what is malformed ("LINE:COL: ...").
std::string read(std::istream& in, const std::function<bool(std::vector<Field>&, int line)>& record);

}  // namespace herald::csv
