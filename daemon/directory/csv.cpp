#include "directory/csv.hpp"

namespace herald::csv {

std::string read(std::istream& in, const std::function<bool(std::vector<Field>&, int)>& record) {
  std::vector<Field> fields;
  std::string line;
  int line_no = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first) {
      first = false;
      if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    }
    if (line.empty()) continue;  // blank lines separate nothing
    fields.clear();
    const int record_line = line_no;
    size_t i = 0;
    int col_base = 0;  // bytes of this record on earlier lines of the current field's line
    for (;;) {
      Field f;
      f.line = line_no;
      f.column = static_cast<int>(i) + 1 - col_base;
      if (i < line.size() && line[i] == '"') {
        ++i;
        for (;;) {
          if (i >= line.size()) {
            // A line break inside quotes: part of the field.
            std::string next;
            if (!std::getline(in, next))
              return std::to_string(f.line) + ":" + std::to_string(f.column) + ": unterminated quoted field";
            ++line_no;
            if (!next.empty() && next.back() == '\r') next.pop_back();
            f.value += '\n';
            line = line.substr(0, i) + next;  // keep indexes valid for the rest of the record
            col_base = static_cast<int>(i);
            continue;
          }
          char c = line[i++];
          if (c == '"') {
            if (i < line.size() && line[i] == '"') {
              f.value += '"';
              ++i;
            } else {
              break;
            }
          } else {
            f.value += c;
          }
        }
        if (i < line.size() && line[i] != ',')
          return std::to_string(line_no) + ":" + std::to_string(static_cast<int>(i) + 1 - col_base) +
                 ": unexpected character after a quoted field";
      } else {
        size_t end = line.find(',', i);
        if (end == std::string::npos) end = line.size();
        f.value = line.substr(i, end - i);
        if (f.value.find('"') != std::string::npos)
          return std::to_string(line_no) + ":" + std::to_string(f.column) + ": a quote inside an unquoted field";
        i = end;
      }
      fields.push_back(std::move(f));
      if (i >= line.size()) break;
      ++i;  // the comma
      if (i == line.size()) {  // a trailing comma: one more, empty field
        fields.push_back({"", line_no, static_cast<int>(i) + 1 - col_base});
        break;
      }
    }
    if (!record(fields, record_line)) break;
  }
  return {};
}

}  // namespace herald::csv
