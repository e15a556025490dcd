// ImageLink: one image of a chain (a whole disk, or a differencing child /
// overlay over the link below it), as the importer sees it.
#ifndef LAYERDISK_TOOLS_IMAGES_IMAGE_LINK_H_
#define LAYERDISK_TOOLS_IMAGES_IMAGE_LINK_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/block_device.h"

namespace layerdisk {

struct ImageLink {
  std::string path;    // absolute
  std::string format;  // raw, vhd, vhdx, qcow2, vmdk
  uint64_t size = 0;   // virtual size in bytes
  // The image's own identifier and the one it names for its parent, as
  // lowercase hex (VHD/VHDX UUIDs); empty where the format has none.
  std::string identifier;
  std::string parent_identifier;
  // A delta over the link below it in the chain.
  bool differencing = false;
  // Opens the image as an import reads it: the composed disk (this link
  // over its ancestors). For a differencing link Map() reports as holes the
  // ranges it leaves to its parent; for a whole disk, unallocated ranges as
  // zero. The returned device is used by one thread.
  std::function<absl::StatusOr<std::unique_ptr<BlockDevice>>()> open;
};

// A read-only BlockDevice base for image readers: rejects writes, serves
// Map() from an allocation list computed when the image was opened (shared
// by every device opened on it: a fragmented image's list can be large).
class ImageDevice : public BlockDevice {
 public:
  ImageDevice(uint64_t size, std::shared_ptr<const std::vector<DeviceExtent>> allocation)
      : size_(size), allocation_(std::move(allocation)) {}
  ImageDevice(uint64_t size, std::vector<DeviceExtent> allocation)
      : ImageDevice(size, std::make_shared<const std::vector<DeviceExtent>>(
                              std::move(allocation))) {}
  uint64_t size() const override { return size_; }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override;
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override;
  absl::Status Trim(uint64_t, uint64_t, bool) override;
  absl::Status Flush() override { return absl::OkStatus(); }
  // The allocation list clipped to [offset, offset + length).
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset, uint64_t length) override;

 protected:
  // InvalidArgument unless [offset, offset + length) lies inside the image.
  absl::Status CheckRange(uint64_t offset, uint64_t length) const;

 private:
  const uint64_t size_;
  const std::shared_ptr<const std::vector<DeviceExtent>> allocation_;
};

// Appends [offset, offset + length) to `out`, merging it with the last
// extent when they touch and agree.
void AppendExtent(std::vector<DeviceExtent>* out, uint64_t offset, uint64_t length,
                  bool hole, bool zero);

// Where an image file keeps a run of the guest bytes it defines.
struct FileRun {
  uint64_t offset = 0;       // in the virtual disk
  uint64_t length = 0;
  uint64_t file_offset = 0;  // kZeroRun: the run reads as zeroes
};
inline constexpr uint64_t kZeroRun = ~uint64_t{0};

// Appends a run, merging it with the last when both are contiguous.
void AppendFileRun(std::vector<FileRun>* runs, uint64_t offset, uint64_t length,
                   uint64_t file_offset);

// In a list of extents or runs sorted by offset, the last one beginning at
// or before `offset` (the first, if none does): where a lookup of `offset`
// starts.
template <typename Piece>
typename std::vector<Piece>::const_iterator FirstAtOrBefore(const std::vector<Piece>& pieces,
                                                            uint64_t offset) {
  auto it = std::upper_bound(pieces.begin(), pieces.end(), offset,
                             [](uint64_t off, const Piece& p) { return off < p.offset; });
  return it == pieces.begin() ? it : std::prev(it);
}

// The extents a whole-disk image leaves unallocated are zero; a
// differencing one leaves them to its parent (a hole).
inline void AppendUnallocated(std::vector<DeviceExtent>* out, uint64_t offset,
                              uint64_t length, bool differencing) {
  AppendExtent(out, offset, length, /*hole=*/true, /*zero=*/!differencing);
}

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_IMAGE_LINK_H_
