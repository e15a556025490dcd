// Opening any supported image as the chain of links an import walks:
// raw (one link), VHD/VHDX (libvhdi, differencing chains), qcow2/VMDK (the
// qemu tools, backing chains).
#ifndef LAYERDISK_TOOLS_IMAGES_IMAGE_CHAIN_H_
#define LAYERDISK_TOOLS_IMAGES_IMAGE_CHAIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/images/image_link.h"

namespace layerdisk {

// The formats `--format` accepts, "auto" first.
const std::vector<std::string>& ImportFormats();

// The chain ending at `path`, base first; `format` may be "auto" (detected
// by magic). The last link is the image itself.
absl::StatusOr<std::vector<ImageLink>> OpenImageChain(const std::string& path,
                                                      const std::string& format);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_IMAGE_CHAIN_H_
