// ImageReadAhead over a fragmented image (data and holes alternating): the
// plan's small ranges are gathered into full buffers, every byte lands in
// its range's slot, and the digests come out as a block-by-block walk of
// the whole image gives them. A stream is read in full buffers, each one
// range, to its end.
#include "engine/image_read_ahead.h"

#include <algorithm>
#include <cstring>

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

// A stream that hands out its bytes in pieces no larger than `piece`, as a
// pipe does (ByteStream::Read then fills its buffer from several).
class PiecewiseStream final : public ByteStream {
 public:
  PiecewiseStream(std::string bytes, size_t piece) : bytes_(std::move(bytes)), piece_(piece) {}
  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    size_t got = 0;
    while (got < out.size() && at_ < bytes_.size()) {
      size_t n = std::min({piece_, out.size() - got, bytes_.size() - at_});
      std::memcpy(out.data() + got, bytes_.data() + at_, n);
      at_ += n;
      got += n;
    }
    return got;
  }

 private:
  const std::string bytes_;
  const size_t piece_;
  size_t at_ = 0;
};

TEST(ImageReadAheadTest, StreamIsReadInFullBuffersToItsEnd) {
  const uint64_t size = 3 * kImportBuffer + 1000;  // ends mid-block
  std::string bytes(size, '\0');
  FillPattern(9, 0, bytes.data(), size);
  PiecewiseStream stream(bytes, 100000);
  ImageReadAhead reader(stream, kBlock, /*max_bytes=*/1ull << 40, kImportReadAhead,
                        /*sha256=*/true);
  uint64_t offset = 0;
  for (;;) {
    absl::StatusOr<std::optional<ImageReadAhead::Filled>> filled = reader.Next();
    ASSERT_TRUE(filled.ok()) << filled.status();
    if (!*filled) break;
    ASSERT_EQ((*filled)->ranges.size(), 1u);
    const ImportRange& range = (*filled)->ranges[0];
    EXPECT_EQ(range.offset, offset);
    EXPECT_EQ(range.first_block * kBlock, offset);
    EXPECT_EQ(range.length, std::min<uint64_t>(kImportBuffer, size - offset));
    EXPECT_EQ(range.padded % kBlock, 0u);
    std::string want = bytes.substr(offset, range.length);
    want.resize(range.padded, '\0');
    EXPECT_EQ((*filled)->bytes, want);
    offset += range.length;
  }
  EXPECT_EQ(offset, size);
  EXPECT_EQ(reader.stream_length(), size);
  ContentHasher sha;
  sha.Update(bytes);
  EXPECT_EQ(reader.ContentSha256(), sha.HexDigest());
}

TEST(ImageReadAheadTest, StreamLargerThanTheLimitFails) {
  PiecewiseStream stream(std::string(2 * kImportBuffer, 'x'), kImportBuffer);
  ImageReadAhead reader(stream, kBlock, /*max_bytes=*/kImportBuffer + kBlock, kImportReadAhead,
                        /*sha256=*/false);
  absl::StatusOr<std::optional<ImageReadAhead::Filled>> first = reader.Next();
  ASSERT_TRUE(first.ok() && *first) << first.status();
  absl::StatusOr<std::optional<ImageReadAhead::Filled>> second = reader.Next();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(second.status().message().find("larger than the largest image"), std::string::npos)
      << second.status();
}

}  // namespace
}  // namespace layerdisk
