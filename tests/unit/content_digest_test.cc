// The content digest: canonical (how zero blocks arrive does not matter,
// only which blocks are zero), sensitive to every input that changes the
// bytes (a block's data, its position, the image size), and spelled so
// that a digest from another block size cannot pass for this one.
#include "dedupe/content_digest.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace layerdisk {
namespace {

constexpr uint32_t kBlock = 4096;

ChunkName Name(char fill) { return NameChunk(std::string(kBlock, fill)); }

// The digest of an image of `size` bytes whose only data blocks are
// `data` (block number, fill byte; ascending), zero runs skipped with ZeroUpTo.
std::string Digest(uint64_t size, const std::vector<std::pair<uint64_t, char>>& data,
                   uint32_t block = kBlock) {
  ContentDigest d(size, block);
  for (const auto& [at, fill] : data) {
    d.ZeroUpTo(at);
    d.AddBlock(Name(fill));
  }
  return d.Text();
}

// An image of 10 blocks: data 'a' at block 2, 'b' at block 7.
const std::vector<std::pair<uint64_t, char>> kTwoBlocks = {{2, 'a'}, {7, 'b'}};

TEST(ContentDigestTest, ZeroRunsAreCountedNotHashedByArrival) {
  ContentDigest d(10 * kBlock, kBlock);
  d.AddZeroBlocks(1);
  d.AddZeroBlocks(1);  // two runs of one: the same as one run of two
  d.AddBlock(Name('a'));
  for (int i = 0; i < 4; ++i) d.AddZeroBlocks(1);
  d.AddBlock(Name('b'));
  d.AddZeroBlocks(2);  // explicit trailing zeroes: the same as implicit
  EXPECT_EQ(d.Text(), Digest(10 * kBlock, kTwoBlocks));
}

TEST(ContentDigestTest, EveryChangeOfTheBytesChangesIt) {
  const std::string base = Digest(10 * kBlock, kTwoBlocks);
  EXPECT_NE(Digest(11 * kBlock, kTwoBlocks), base) << "a longer image with the same data";
  EXPECT_NE(Digest(10 * kBlock - 512, kTwoBlocks), base) << "a shorter last block";
  EXPECT_EQ(Digest(10 * kBlock - 100, kTwoBlocks), base)
      << "sizes count whole 512-byte sectors, as the layer made from the image reads";
  EXPECT_NE(Digest(10 * kBlock, {{3, 'a'}, {7, 'b'}}), base) << "a block moved";
  EXPECT_NE(Digest(10 * kBlock, {{2, 'c'}, {7, 'b'}}), base) << "a block's data changed";
  EXPECT_NE(Digest(10 * kBlock, {{2, 'a'}, {7, 'b'}, {8, 'z'}}), base)
      << "a trailing zero block became data";
}

TEST(ContentDigestTest, SpelledWithItsBlockSize) {
  const std::string text = Digest(10 * kBlock, kTwoBlocks);
  const std::string large = Digest(10 * 65536, kTwoBlocks, 65536);
  EXPECT_EQ(text.rfind("blocks-4096:", 0), 0u) << text;
  EXPECT_EQ(text.size(), std::string("blocks-4096:").size() + 64);
  EXPECT_EQ(large.rfind("blocks-65536:", 0), 0u) << large;
  EXPECT_TRUE(IsContentDigestText(text));
  EXPECT_TRUE(IsContentDigestText(large));
  const std::string hex = text.substr(text.find(':') + 1);
  for (const std::string bad : {std::string(""), hex, "blocks-:" + hex, "blocks-04096:" + hex,
                                "blocks-+4096:" + hex, "blocks-4096:" + hex.substr(1),
                                "blocks-4096:" + hex + "0", "sha256:" + hex,
                                "blocks-12345678901:" + hex})
    EXPECT_FALSE(IsContentDigestText(bad)) << bad;
}

}  // namespace
}  // namespace layerdisk
