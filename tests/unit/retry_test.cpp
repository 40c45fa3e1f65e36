// dispatch/retry: the rules after a send's answer, from the table in testdata/retry.tsv.
#include "dispatch/retry.hpp"

#include <gtest/gtest.h>

#include "support.hpp"

namespace herald {
namespace {

struct RetryCase {
  std::vector<std::string> cells;
  std::string name() const { return cells.at(0); }
};

void PrintTo(const RetryCase& c, std::ostream* os) { *os << c.name(); }

std::vector<RetryCase> cases() {
  std::vector<RetryCase> out;
  for (auto& row : test::read_table(test::testdata_path("retry.tsv"))) out.push_back({std::move(row)});
  return out;
}

std::optional<SendErrorKind> kind_named(const std::string& name) {
  for (int k = 0; k <= static_cast<int>(SendErrorKind::unknown); ++k)
    if (to_string(static_cast<SendErrorKind>(k)) == name) return static_cast<SendErrorKind>(k);
  return std::nullopt;
}

class RetryTable : public ::testing::TestWithParam<RetryCase> {};

TEST_P(RetryTable, Decides) {
  const auto& c = GetParam().cells;
  ASSERT_EQ(c.size(), 12u) << "name, answer, attempts, deadline, escalation, retry_after, jitter, state, due, "
                              "throttled until, refresh, detail";
  constexpr int64_t kNow = 1'626'080'000'000;
  auto at = [&](const std::string& cell) -> std::optional<int64_t> {
    if (cell == "-") return std::nullopt;
    return kNow + std::stoll(cell);
  };
  const auto kind = kind_named(c[1]);
  ASSERT_TRUE(kind.has_value()) << c[1];
  retry::Attempt a;
  a.error = {*kind, kind == SendErrorKind::none ? "" : "code", ""};
  a.attempts = std::stoi(c[2]);
  a.now_ms = kNow;
  a.deadline_ms = at(c[3]);
  a.escalation = c[4] == "1";
  a.retry_after_ms = std::stoll(c[5]);
  const double share = std::stod(c[6]);
  const retry::Policy policy{10, 1000, 60000};
  const retry::Decision d = retry::decide(a, policy, [share](int64_t ceiling) {
    return static_cast<int64_t>(static_cast<double>(ceiling) * share);
  });
  EXPECT_EQ(to_string(d.state), c[7]);
  if (auto due = at(c[8])) {
    EXPECT_EQ(d.due_ms, *due);
    EXPECT_EQ(d.delay_ms, *due - kNow);
  }
  EXPECT_EQ(d.throttle_until_ms, at(c[9]).value_or(0));
  EXPECT_EQ(d.refresh_credentials, c[10] == "1");
  EXPECT_EQ(d.detail, c[11]);
}

INSTANTIATE_TEST_SUITE_P(Testdata, RetryTable, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return test::test_name(info.param.name()); });

}  // namespace
}  // namespace herald
