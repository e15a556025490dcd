// Disk images as read-only BlockDevices: the sources `layer import` reads.
//
// An image format plugs in by adding its magic to DetectImageFormat() and an
// opener to the table in raw_image.cc; everything downstream (the importer,
// progress, hole skipping) sees only a BlockDevice.
#ifndef LAYERDISK_ENGINE_RAW_IMAGE_H_
#define LAYERDISK_ENGINE_RAW_IMAGE_H_

#include <memory>
#include <string>

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

// Opens `path` as `format` ("auto" detects it). Unimplemented for formats
// that are recognised but not readable yet; InvalidArgument for an unknown
// format name.
absl::StatusOr<std::unique_ptr<BlockDevice>> OpenImage(
    const std::string& path, const std::string& format);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_RAW_IMAGE_H_
