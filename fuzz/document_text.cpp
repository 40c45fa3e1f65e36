// An official document's text (công văn as typed, OCR'd or converted from a PDF), read into
// directive fields by parse_document_text (heraldctl publish --from-text, the admin API).
// Input: the text, any bytes.
#include <string_view>

#include "directive/document_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  herald::ParsedDocument d = herald::parse_document_text(text);
  (void)herald::vietnamese_title_case(d.issuer_name);
  (void)herald::vietnamese_title_case(text);
  return 0;
}
