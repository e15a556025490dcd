// ImageReadAhead over a fragmented image (data and holes alternating): the
// plan's small ranges are gathered into full buffers, every byte lands in
// its range's slot, and the digests come out as a block-by-block walk of
// the whole image gives them.
#include "engine/image_read_ahead.h"

#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::FillPattern;
using testing_util::MemDevice;

constexpr uint64_t kBlock = 4096;

TEST(ImageReadAheadTest, FragmentedImageIsReadInFullBuffers) {
  const uint64_t size = 16 * kImportBuffer + 1000;  // a partial last block too
  std::string bytes(size, '\0');
  FillPattern(5, 0, bytes.data(), size);
  MemDevice image(bytes, kBlock);
  // Holes at every third block, and at two of every five.
  for (uint64_t b = 0; b * kBlock < size; ++b)
    if (b % 3 == 0 || b % 5 < 2) image.SetHole(b);
  absl::StatusOr<std::vector<DeviceExtent>> map = image.Map(0, size);
  ASSERT_TRUE(map.ok()) << map.status();
  std::vector<ImportRange> plan = PlanImportReads(*map, size, kBlock, kImportBuffer, false);
  uint64_t planned = 0;
  for (const ImportRange& range : plan) planned += range.padded;
  ASSERT_GT(plan.size(), 1000u);  // many small ranges

  ImageReadAhead reader(image, plan, kImportReadAhead, /*sha256=*/true);
  ContentDigest gathered(size, kBlock);
  std::vector<uint64_t> buffer_sizes;
  size_t ranges = 0;
  for (;;) {
    absl::StatusOr<std::optional<ImageReadAhead::Filled>> filled = reader.Next();
    ASSERT_TRUE(filled.ok()) << filled.status();
    if (!*filled) break;
    const std::string& got = (*filled)->bytes;
    // Full: the range that starts the next buffer would not have fitted.
    if (!buffer_sizes.empty())
      EXPECT_GT(buffer_sizes.back() + plan[ranges].padded, kImportBuffer);
    buffer_sizes.push_back(got.size());
    ASSERT_LE(got.size(), kImportBuffer);
    std::vector<ChunkName> names;
    uint64_t slot = 0;
    for (const ImportRange& range : (*filled)->ranges) {
      ASSERT_EQ(plan[ranges++].offset, range.offset);  // in plan order
      EXPECT_EQ(got.substr(slot, range.length), image.data().substr(range.offset, range.length));
      EXPECT_EQ(got.substr(slot + range.length, range.padded - range.length),
                std::string(range.padded - range.length, '\0'));
      slot += range.padded;
    }
    ASSERT_EQ(slot, got.size());
    for (uint64_t at = 0; at < got.size(); at += kBlock)
      names.push_back(NameChunk(std::string_view(got).substr(at, kBlock)));
    AddToDigest(&gathered, (*filled)->ranges, kBlock, [&](size_t i) { return &names[i]; });
    reader.Recycle(std::move((*filled)->bytes));
  }
  EXPECT_EQ(ranges, plan.size());
  EXPECT_LE(buffer_sizes.size(), planned / kImportBuffer + 2);

  // The same digests from every block of the image in turn.
  ContentDigest walked(size, kBlock);
  ContentHasher sha;
  sha.Update(image.data());
  for (uint64_t b = 0; b * kBlock < size; ++b) {
    std::string block = image.data().substr(b * kBlock, kBlock);
    block.resize(kBlock, '\0');
    if (block.find_first_not_of('\0') == std::string::npos) {
      walked.AddZeroBlocks(1);
    } else {
      walked.AddBlock(NameChunk(block));
    }
  }
  EXPECT_EQ(gathered.Text(), walked.Text());
  EXPECT_EQ(reader.ContentSha256(), sha.HexDigest());
}

}  // namespace
}  // namespace layerdisk
