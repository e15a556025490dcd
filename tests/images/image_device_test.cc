// ImageDevice::Map against a plain scan of the allocation list, for every
// window over an image of many small extents (Map searches its start).
#include <random>

#include "gtest/gtest.h"
#include "tools/images/image_link.h"

namespace layerdisk {
namespace {

class ListedImage final : public ImageDevice {
 public:
  using ImageDevice::ImageDevice;
  absl::Status Read(uint64_t, absl::Span<char>) override { return absl::OkStatus(); }
};

// What Map must return: every extent clipped to the window, merged.
std::vector<DeviceExtent> ClipByScan(const std::vector<DeviceExtent>& all, uint64_t offset,
                                     uint64_t end) {
  std::vector<DeviceExtent> out;
  for (const DeviceExtent& e : all) {
    uint64_t from = std::max(e.offset, offset), to = std::min(e.offset + e.length, end);
    if (from < to) AppendExtent(&out, from, to - from, e.hole, e.zero);
  }
  return out;
}

bool Same(const std::vector<DeviceExtent>& a, const std::vector<DeviceExtent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].offset != b[i].offset || a[i].length != b[i].length || a[i].hole != b[i].hole ||
        a[i].zero != b[i].zero)
      return false;
  return true;
}

TEST(ImageDeviceTest, MapOfAnyWindowEqualsAScanOfTheList) {
  std::mt19937_64 rng(7);
  std::vector<DeviceExtent> all;
  uint64_t size = 0;
  for (int i = 0; i < 2000; ++i) {
    const int kind = static_cast<int>(rng() % 3);  // data, zero hole, parent hole
    AppendExtent(&all, size, 512 * (1 + rng() % 16), kind != 0, kind == 1);
    size = all.back().offset + all.back().length;
  }
  ListedImage image(size, all);
  ASSERT_TRUE(Same(*image.Map(0, size), all));
  for (int i = 0; i < 5000; ++i) {
    const uint64_t offset = rng() % (size + 1);
    const uint64_t length = rng() % (size / 8);
    absl::StatusOr<std::vector<DeviceExtent>> map = image.Map(offset, length);
    ASSERT_TRUE(map.ok()) << map.status();
    EXPECT_TRUE(Same(*map, ClipByScan(all, offset, std::min(size, offset + length))))
        << "window " << offset << " +" << length;
  }
  EXPECT_FALSE(image.Map(size + 1, 1).ok());
}

}  // namespace
}  // namespace layerdisk
