// Raw disk images as read-only BlockDevices, and telling image formats
// apart by magic. The readers of the other formats (VHD, VHDX, qcow2, VMDK)
// live with the CLI in tools/images/, as they need libvhdi and the qemu
// tools, which the engine does not.
#ifndef LAYERDISK_ENGINE_RAW_IMAGE_H_
#define LAYERDISK_ENGINE_RAW_IMAGE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/block_device.h"

namespace layerdisk {

// A raw image file (or a block device) as a read-only BlockDevice. Map()
// reports the file's holes (SEEK_DATA/SEEK_HOLE) as zero extents so an
// importer never reads them; where the file system cannot tell, everything
// is reported as data. Thread-safe.
absl::StatusOr<std::unique_ptr<BlockDevice>> OpenRawImage(
    const std::string& path);

// The format of the image at `path` by its magic bytes: "vhd", "vhdx",
// "qcow2", "vmdk", or "raw" when nothing matches.
absl::StatusOr<std::string> DetectImageFormat(const std::string& path);
// The same, from an image's first and last 512 bytes (either may be
// shorter or empty where unknown).
std::string FormatByMagic(std::string_view head, std::string_view tail);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_RAW_IMAGE_H_
