#include "common/size_parse.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace layerdisk {
namespace {

constexpr uint64_t kKiB = 1ull << 10, kMiB = 1ull << 20, kGiB = 1ull << 30,
                   kTiB = 1ull << 40, kPiB = 1ull << 50;

void ExpectSize(const std::string& text, uint64_t want) {
  auto got = ParseSize(text);
  ASSERT_TRUE(got.ok()) << "'" << text << "': " << got.status();
  EXPECT_EQ(*got, want) << "'" << text << "'";
}

void ExpectInvalid(const std::string& text) {
  auto got = ParseSize(text);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
      << "'" << text << "' parsed as " << (got.ok() ? *got : 0);
}

TEST(ParseSizeTest, PlainBytes) {
  ExpectSize("0", 0);
  ExpectSize("512", 512);
  ExpectSize("512B", 512);
  ExpectSize("18446744073709551615", UINT64_MAX);
}

TEST(ParseSizeTest, BinarySuffixesInEverySpelling) {
  for (const char* s : {"4K", "4k", "4KB", "4kb", "4KiB", "4kib", "4Kib"})
    ExpectSize(s, 4 * kKiB);
  ExpectSize("10M", 10 * kMiB);
  ExpectSize("10MiB", 10 * kMiB);
  ExpectSize("10GiB", 10 * kGiB);
  ExpectSize("2g", 2 * kGiB);
  ExpectSize("1T", kTiB);
  ExpectSize("1TB", kTiB);
  ExpectSize("3P", 3 * kPiB);
  ExpectSize("  4K  ", 4 * kKiB);
  ExpectSize("\t1M\n", kMiB);
}

TEST(ParseSizeTest, RejectsJunk) {
  for (const char* s : {"", " ", "K", "abc", "-1", "-4K", "+4K", "4X", "4KX",
                        "4 K", "1.5G", "4K4", "0x10", "4KiBB", "4Ki", "4E",
                        "G4", "4,096", "4_096"})
    ExpectInvalid(s);
  ExpectInvalid(std::string("4\0K", 3));
}

TEST(ParseSizeTest, RejectsOverflow) {
  ExpectInvalid("18446744073709551616");
  ExpectInvalid("99999999999999999999999");
  ExpectSize("16383P", 16383 * kPiB);
  ExpectInvalid("16384P");
  ExpectSize("16777215T", 16777215 * kTiB);
  ExpectInvalid("16777216T");
  ExpectInvalid("17179869184G");
  ExpectSize("17179869183G", 17179869183ull * kGiB);
  ExpectInvalid("18014398509481984K");
}

TEST(FormatSizeTest, PicksTheLargestUnitBelow1024) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(1), "1 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
  EXPECT_EQ(FormatSize(1024), "1.0 KiB");
  EXPECT_EQ(FormatSize(4096), "4.0 KiB");
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(2 * kGiB), "2.0 GiB");
  EXPECT_EQ(FormatSize(kTiB), "1.0 TiB");
  EXPECT_EQ(FormatSize(UINT64_MAX), "16.0 EiB");
}

TEST(FormatSizeTest, RoundTripsThroughParseForWholeUnits) {
  for (uint64_t v : {kKiB, 7 * kMiB, 3 * kGiB, 5 * kTiB}) {
    std::string s = FormatSize(v);  // "7.0 MiB"
    std::string compact = s.substr(0, s.find('.')) + s.substr(s.find(' ') + 1);
    auto back = ParseSize(compact);
    ASSERT_TRUE(back.ok()) << compact << ": " << back.status();
    EXPECT_EQ(*back, v) << s;
  }
}

}  // namespace
}  // namespace layerdisk
