// The content digest: canonical (how zero blocks arrive does not matter,
// only which blocks are zero), sensitive to every input that changes the
// bytes (a block's data, its position, the image size), and spelled so
// that a digest from another block size cannot pass for this one.
#include "dedupe/content_digest.h"

#include <string>

#include "gtest/gtest.h"

namespace layerdisk {
namespace {

constexpr uint32_t kBlock = 4096;

ChunkName Name(char fill) { return NameChunk(std::string(kBlock, fill)); }

// An image of 10 blocks: data 'a' at block 2, 'b' at block 7.
std::string TwoBlocks(uint64_t size = 10 * kBlock, uint32_t block = kBlock) {
  ContentDigest d(size, block);
  d.AddZeroBlocks(2);
  d.AddBlock(Name('a'));
  d.ZeroUpTo(7);
  d.AddBlock(Name('b'));
  return d.Text();
}

TEST(ContentDigestTest, ZeroRunsAreCountedNotHashedByArrival) {
  ContentDigest d(10 * kBlock, kBlock);
  d.AddZeroBlocks(1);
  d.AddZeroBlocks(1);  // two runs of one: the same as one run of two
  d.AddBlock(Name('a'));
  for (int i = 0; i < 4; ++i) d.AddZeroBlocks(1);
  d.AddBlock(Name('b'));
  d.AddZeroBlocks(2);  // explicit trailing zeroes: the same as implicit
  EXPECT_EQ(d.Text(), TwoBlocks());
}

TEST(ContentDigestTest, EveryChangeOfTheBytesChangesIt) {
  const std::string base = TwoBlocks();
  EXPECT_NE(TwoBlocks(11 * kBlock), base) << "a longer image with the same data";
  EXPECT_NE(TwoBlocks(10 * kBlock - 512), base) << "a shorter last block";
  ContentDigest moved(10 * kBlock, kBlock);
  moved.AddZeroBlocks(3);
  moved.AddBlock(Name('a'));
  moved.ZeroUpTo(7);
  moved.AddBlock(Name('b'));
  EXPECT_NE(moved.Text(), base) << "a block moved";
  ContentDigest other(10 * kBlock, kBlock);
  other.AddZeroBlocks(2);
  other.AddBlock(Name('c'));
  other.ZeroUpTo(7);
  other.AddBlock(Name('b'));
  EXPECT_NE(other.Text(), base) << "a block's data changed";
  ContentDigest zero_named(10 * kBlock, kBlock);
  zero_named.AddZeroBlocks(2);
  zero_named.AddBlock(Name('a'));
  zero_named.ZeroUpTo(7);
  zero_named.AddBlock(Name('b'));
  zero_named.AddBlock(Name('z'));
  EXPECT_NE(zero_named.Text(), base) << "a trailing zero block became data";
}

TEST(ContentDigestTest, SpelledWithItsBlockSize) {
  const std::string text = TwoBlocks();
  EXPECT_EQ(text.rfind("blocks-4096:", 0), 0u) << text;
  EXPECT_EQ(text.size(), std::string("blocks-4096:").size() + 64);
  EXPECT_EQ(TwoBlocks(10 * 65536, 65536).rfind("blocks-65536:", 0), 0u);
  EXPECT_TRUE(IsContentDigestText(text));
  EXPECT_TRUE(IsContentDigestText(TwoBlocks(10 * 65536, 65536)));
  const std::string hex = text.substr(text.find(':') + 1);
  for (const std::string bad : {std::string(""), hex, "blocks-:" + hex, "blocks-04096:" + hex,
                                "blocks-+4096:" + hex, "blocks-4096:" + hex.substr(1),
                                "blocks-4096:" + hex + "0", "sha256:" + hex,
                                "blocks-12345678901:" + hex})
    EXPECT_FALSE(IsContentDigestText(bad)) << bad;
}

}  // namespace
}  // namespace layerdisk
