// core/time: RFC 3339 parsing and printing, config durations.
#include "core/time.hpp"

#include <gtest/gtest.h>

#include "support.hpp"

namespace herald {
namespace {

struct TimeCase {
  std::string input, expected, why;
};

std::vector<TimeCase> time_cases() {
  std::vector<TimeCase> out;
  for (auto& row : test::read_table(test::testdata_path("rfc3339.tsv"))) {
    row.resize(3);
    out.push_back({row[0], row[1], row[2]});
  }
  return out;
}

void PrintTo(const TimeCase& c, std::ostream* os) { *os << '"' << c.input << "\" (" << c.why << ')'; }

class Rfc3339Test : public ::testing::TestWithParam<TimeCase> {};

TEST_P(Rfc3339Test, ParsesOrRefuses) {
  const TimeCase& c = GetParam();
  auto ms = parse_rfc3339(c.input);
  if (c.expected == "invalid") {
    EXPECT_FALSE(ms.has_value()) << c.why << ": \"" << c.input << "\" parsed as "
                                 << format_rfc3339_utc(ms.value_or(0));
  } else {
    ASSERT_TRUE(ms.has_value()) << c.why << ": \"" << c.input << "\"";
    EXPECT_EQ(format_rfc3339_utc(*ms), c.expected) << c.why;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, Rfc3339Test, ::testing::ValuesIn(time_cases()),
                         [](const auto& info) { return "row" + std::to_string(info.index); });

TEST(Rfc3339, TableIsNotEmpty) { EXPECT_GE(time_cases().size(), 30u); }

TEST(Rfc3339, SeedIssuedAtIsTheRightInstant) {
  // 2021-07-12 08:00 in Vietnam (UTC+7) is 01:00 UTC.
  EXPECT_EQ(parse_rfc3339("2021-07-12T08:00:00+07:00"), int64_t{1626051600000});
}

TEST(Rfc3339, FormatThenParseRoundTrips) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{-750}, int64_t{1626051600000},
                     int64_t{1626051600999}, int64_t{951782400000} /* 2000-02-29 */,
                     int64_t{253402300799999} /* 9999-12-31T23:59:59.999Z */}) {
    std::string text = format_rfc3339_utc(ms);
    EXPECT_EQ(parse_rfc3339(text), ms) << text;
  }
  EXPECT_EQ(format_rfc3339_utc(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339_utc(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("30s"), 30'000);
  EXPECT_EQ(parse_duration_ms("30"), 30'000);  // a bare number is seconds
  EXPECT_EQ(parse_duration_ms("1.5s"), 1'500);
  EXPECT_EQ(parse_duration_ms("5m"), 300'000);
  EXPECT_EQ(parse_duration_ms("5min"), 300'000);
  EXPECT_EQ(parse_duration_ms("2h"), 7'200'000);
  EXPECT_EQ(parse_duration_ms("0s"), 0);
}

TEST(Duration, Refuses) {
  for (const char* bad : {"", "s", "ms", "-1s", "5d", "5 s", "5S", " 5s", "5s ", "five",
                          "inf", "nan", "infs", "1e300s", "1e30"})
    EXPECT_EQ(parse_duration_ms(bad), std::nullopt) << '"' << bad << '"';
}

TEST(Duration, AtMostACentury) {
  // Longer ones overflowed later: now + link_ttl, and Asio's nanoseconds for read_timeout
  // ("10000000000s" is 10^19 ns).
  EXPECT_EQ(kMaxDurationMs, 3'155'760'000'000);  // 100 Julian years
  EXPECT_EQ(parse_duration_ms("876600h"), kMaxDurationMs);
  for (const char* bad : {"876601h", "10000000000s", "2562047788h", "9e15ms"}) {
    EXPECT_EQ(parse_duration_ms(bad), std::nullopt) << '"' << bad << '"';
    EXPECT_TRUE(duration_too_long(bad)) << '"' << bad << '"';
  }
  for (const char* other : {"876600h", "5d", "-1e30s", "inf"}) EXPECT_FALSE(duration_too_long(other)) << other;
}

}  // namespace
}  // namespace herald
