// directory/phone: numbers as offices write them -> E.164, or a reason.
#include "directory/phone.hpp"

#include <gtest/gtest.h>

#include "support.hpp"

namespace herald {
namespace {

struct PhoneCase {
  std::string input, expected, message;
};

std::vector<PhoneCase> phone_cases() {
  std::vector<PhoneCase> out;
  for (auto& row : test::read_table(test::testdata_path("phones.tsv"))) {
    row.resize(3);
    out.push_back({row[0], row[1], row[2]});
  }
  return out;
}

void PrintTo(const PhoneCase& c, std::ostream* os) { *os << '"' << c.input << '"'; }

class PhoneTest : public ::testing::TestWithParam<PhoneCase> {};

TEST_P(PhoneTest, Normalises) {
  const PhoneCase& c = GetParam();
  PhoneResult r = normalize_phone(c.input);
  if (c.expected == "error") {
    EXPECT_FALSE(r.e164.has_value()) << '"' << c.input << "\" gave " << r.e164.value_or("");
    EXPECT_EQ(r.error, c.message);
  } else {
    EXPECT_EQ(r.e164.value_or("(none: " + r.error + ")"), c.expected) << '"' << c.input << '"';
    EXPECT_EQ(r.error, "");
  }
}

INSTANTIATE_TEST_SUITE_P(Table, PhoneTest, ::testing::ValuesIn(phone_cases()),
                         [](const auto& info) { return "row" + std::to_string(info.index); });

TEST(Phone, TableIsNotEmpty) { EXPECT_GE(phone_cases().size(), 30u); }

TEST(Phone, TabsSeparateGroupsToo) {
  EXPECT_EQ(normalize_phone("0912\t345\t678").e164, "+84912345678");
}

}  // namespace
}  // namespace herald
