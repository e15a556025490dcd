// DigestImage: the content digest an import of an image records (and, if
// asked, its SHA-256), found by reading the image as the import does while
// storing nothing: `layerdisk layer digest`, to check a layer against a file.
#ifndef LAYERDISK_ENGINE_IMAGE_DIGEST_H_
#define LAYERDISK_ENGINE_IMAGE_DIGEST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/block_device.h"

namespace layerdisk {

struct ImageDigest {
  std::string content_digest;  // as LayerInfo::content_digest
  std::string content_sha256;  // as LayerInfo::content_sha256; empty unless asked
  uint64_t bytes_read = 0;     // image bytes examined (holes skipped)
};

// `delta`: `source` is a differencing image read as an import of it over
// its parent reads it (only the blocks it maps; the rest count as zeroes).
absl::StatusOr<ImageDigest> DigestImage(BlockDevice& source, uint32_t block_size, bool delta,
                                        bool sha256);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_IMAGE_DIGEST_H_
