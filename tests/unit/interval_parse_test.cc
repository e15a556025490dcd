#include "common/interval_parse.h"

#include "gtest/gtest.h"

namespace layerdisk {
namespace {

TEST(IntervalParseTest, UnitsGiveSeconds) {
  EXPECT_EQ(*ParseInterval("30s"), 30u);
  EXPECT_EQ(*ParseInterval("15m"), 900u);
  EXPECT_EQ(*ParseInterval("1h"), 3600u);
  EXPECT_EQ(*ParseInterval("1d"), 86400u);
  EXPECT_EQ(*ParseInterval(" 2H "), 7200u);
}

TEST(IntervalParseTest, JunkIsRefused) {
  for (const char* text : {"", "h", "5", "0s", "-1h", "1.5h", "1w", "1hm", "1h30m",
                           "99999999999999999999s", "999999999999999999d"}) {
    absl::StatusOr<uint64_t> v = ParseInterval(text);
    EXPECT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(IntervalParseTest, FormatUsesTheLargestExactUnit) {
  EXPECT_EQ(FormatInterval(86400), "1d");
  EXPECT_EQ(FormatInterval(3600), "1h");
  EXPECT_EQ(FormatInterval(5400), "90m");
  EXPECT_EQ(FormatInterval(61), "61s");
  for (uint64_t s : {1ull, 59ull, 60ull, 7200ull, 172800ull, 90061ull})
    EXPECT_EQ(*ParseInterval(FormatInterval(s)), s);
}

}  // namespace
}  // namespace layerdisk
