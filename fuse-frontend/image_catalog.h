// ImageCatalog: what the FUSE frontend shows as files, and how it opens
// them. `layerdisk serve` implements it over its Store (tools/
// serve_exports.h), through the same device names and opener as the NBD
// exports, so both frontends open the same device objects.
#ifndef LAYERDISK_FUSE_FRONTEND_IMAGE_CATALOG_H_
#define LAYERDISK_FUSE_FRONTEND_IMAGE_CATALOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/block_device.h"

namespace layerdisk {

enum class ImageKind { kVolume, kSnapshot, kLayer };

// One image file: volumes/NAME.raw, snapshots/VOLUME/NAME.raw or
// layers/NAME.raw.
struct ImageEntry {
  ImageKind kind = ImageKind::kVolume;
  std::string volume;       // kVolume: = name; kSnapshot: its volume
  std::string name;         // volume, snapshot or layer name; a safe file name
  std::string device_name;  // what Open() takes
  uint64_t size = 0;
  // Distinguishes an object deleted and re-created under the same name, so
  // the kernel never serves one's cached pages for the other.
  uint64_t created_unix_ms = 0;
  bool read_only = false;
};

// Thread-safe: called from every FUSE worker thread at once.
class ImageCatalog {
 public:
  virtual ~ImageCatalog() = default;
  // Every image that exists now.
  virtual absl::StatusOr<std::vector<ImageEntry>> ListImages() = 0;
  // NotFound for an unknown name. Opening an open volume again must return
  // the same device, so writes from every frontend meet in one place.
  virtual absl::StatusOr<std::shared_ptr<BlockDevice>> OpenImage(
      const std::string& device_name) = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_IMAGE_CATALOG_H_
