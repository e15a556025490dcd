// The chunk record codec: which data is compressed, and that every record
// decodes to exactly what was encoded.
#include "dedupe/chunk_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dedupe/byte_spread.h"

namespace layerdisk {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string Text(size_t n) {
  const std::string line = "C:\\Windows\\System32\\drivers\\etc\\hosts 127.0.0.1 localhost\r\n";
  std::string out;
  while (out.size() < n) out += line;
  out.resize(n);
  return out;
}

uint8_t CodecOf(const std::string& record) { return static_cast<uint8_t>(record[1]); }

std::string RoundTrip(const std::string& data) {
  std::string record;
  EncodeChunk(data, &record);
  std::string out(data.size(), '\0');
  EXPECT_TRUE(DecodeChunk(record, absl::MakeSpan(out)).ok());
  return out;
}

TEST(ByteSpreadTest, RandomBlocksLookIncompressible) {
  for (uint64_t seed = 0; seed < 2000; ++seed)
    ASSERT_TRUE(LooksIncompressible(RandomBytes(4096, seed))) << "seed " << seed;
  EXPECT_TRUE(LooksIncompressible(RandomBytes(64 << 10, 7)));  // larger chunk sizes
}

TEST(ByteSpreadTest, SkewedBlocksDoNot) {
  EXPECT_FALSE(LooksIncompressible(Text(4096)));
  EXPECT_FALSE(LooksIncompressible(std::string(4096, '\0')));
  std::string small_numbers(4096, '\0');  // a table of 32-bit counters
  for (size_t i = 0; i < small_numbers.size(); i += 4) small_numbers[i] = static_cast<char>(i % 97);
  EXPECT_FALSE(LooksIncompressible(small_numbers));
  // Random bytes drawn from 128 values only: half the entropy.
  std::string half = RandomBytes(4096, 3);
  for (char& c : half) c &= 0x7f;
  EXPECT_FALSE(LooksIncompressible(half));
}

TEST(ByteSpreadTest, ShortDataIsNeverJudged) {
  EXPECT_FALSE(LooksIncompressible(RandomBytes(4095, 1)));
  EXPECT_FALSE(LooksIncompressible(""));
}

TEST(ChunkCodecTest, CompressibleDataIsStoredCompressed) {
  const std::string data = Text(4096);
  std::string record;
  EncodeChunk(data, &record);
  EXPECT_EQ(CodecOf(record), kCodecZstd);
  EXPECT_LT(record.size(), data.size() / 2);
  EXPECT_EQ(RoundTrip(data), data);
}

TEST(ChunkCodecTest, RandomDataIsStoredRaw) {
  const std::string data = RandomBytes(4096, 11);
  std::string record;
  EncodeChunk(data, &record);
  EXPECT_EQ(CodecOf(record), kCodecRaw);
  EXPECT_EQ(record.size(), kChunkHeaderSize + data.size());
  EXPECT_EQ(RoundTrip(data), data);
}

// Random bytes repeated: even bytes, yet zstd halves them. Repeats at any
// period up to 2 KiB put the same samples in twice, which is skew enough.
TEST(ChunkCodecTest, RepeatedRandomBytesAreStillCompressed) {
  for (size_t period : {256, 1024, 2048}) {
    const std::string once = RandomBytes(period, period);
    std::string data;
    while (data.size() < 4096) data += once;
    std::string record;
    EncodeChunk(data, &record);
    EXPECT_EQ(CodecOf(record), kCodecZstd) << "period " << period;
    EXPECT_EQ(RoundTrip(data), data);
  }
}

TEST(ChunkCodecTest, EverySizeRoundTrips) {
  for (size_t size : {512, 4096, 65536, 1 << 20}) {
    EXPECT_EQ(RoundTrip(RandomBytes(size, size)), RandomBytes(size, size)) << size;
    EXPECT_EQ(RoundTrip(Text(size)), Text(size)) << size;
  }
}

TEST(ChunkCodecTest, DamageIsDataLoss) {
  const std::string data = Text(4096);
  std::string record;
  EncodeChunk(data, &record);
  std::string out(data.size(), '\0');
  for (size_t at : {size_t{1}, size_t{3}, kChunkHeaderSize, record.size() - 1}) {
    std::string damaged = record;
    damaged[at] ^= 0x40;
    EXPECT_EQ(DecodeChunk(damaged, absl::MakeSpan(out)).code(), absl::StatusCode::kDataLoss)
        << "byte " << at;
  }
  EXPECT_EQ(DecodeChunk(record.substr(0, 10), absl::MakeSpan(out)).code(),
            absl::StatusCode::kDataLoss);
}

TEST(ChunkCompressionTest, ModesEncodeAsTheyClaimAndAllDecode) {
  const std::string text = Text(64 * 1024);
  std::string zstd, fast, off;
  EncodeChunk(text, &zstd, ChunkCompression::kZstd);
  EncodeChunk(text, &fast, ChunkCompression::kZstdFast);
  EncodeChunk(text, &off, ChunkCompression::kOff);
  EXPECT_EQ(CodecOf(zstd), kCodecZstd);
  EXPECT_EQ(CodecOf(fast), kCodecZstd);
  EXPECT_EQ(CodecOf(off), kCodecRaw);
  EXPECT_EQ(off.size(), kChunkHeaderSize + text.size());
  // Any reader takes any record: the setting changes only how chunks are written.
  for (const std::string* record : {&zstd, &fast, &off}) {
    std::string out(text.size(), '\0');
    ASSERT_TRUE(DecodeChunk(*record, absl::MakeSpan(out)).ok());
    EXPECT_EQ(out, text);
  }
}

TEST(ChunkCompressionTest, NamesRoundTripAndUnknownNamesAreRefused) {
  for (int c = 0; c <= static_cast<int>(kLastChunkCompression); ++c) {
    const auto mode = static_cast<ChunkCompression>(c);
    absl::StatusOr<ChunkCompression> parsed = ParseChunkCompression(ChunkCompressionName(mode));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, mode);
  }
  for (const char* bad : {"", "lz4", "ZSTD", "zstd-", "off "}) {
    absl::StatusOr<ChunkCompression> parsed = ParseChunkCompression(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace layerdisk
