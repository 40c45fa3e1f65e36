#pragma once
// Whitespace in UTF-8 text as Herald reads it: ASCII blanks and the no-break space that
// word processors put in Vietnamese documents (U+00A0). Line breaks count as whitespace or
// not, as the caller says: a document is read line by line, speech as one text.
#include <cstddef>
#include <string>
#include <string_view>

namespace herald {

enum class LineBreaks { are_space, are_not_space };

/// Bytes of the whitespace character at s[i] (space, tab, vertical tab, form feed, U+00A0;
/// CR and LF when `breaks` are space), or 0 when none starts there.
size_t space_width(std::string_view s, size_t i, LineBreaks breaks);

/// `s` without whitespace at either end.
std::string_view trim(std::string_view s, LineBreaks breaks);

/// True when `s` is empty or only whitespace.
bool blank(std::string_view s, LineBreaks breaks);

/// Runs of whitespace become one space; none at either end.
std::string collapse(std::string_view s, LineBreaks breaks);

}  // namespace herald
