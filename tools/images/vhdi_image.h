// VHD and VHDX images (fixed, dynamic, differencing), checked with libvhdi
// and read at the offsets their parsed tables give (vhd_layout.h), and their
// differencing chains: each parent is found beside its child by the name
// the child records, and must carry the identifier the child expects.
#ifndef LAYERDISK_TOOLS_IMAGES_VHDI_IMAGE_H_
#define LAYERDISK_TOOLS_IMAGES_VHDI_IMAGE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/images/image_link.h"

namespace layerdisk {

// The chain ending at `path` ("vhd" or "vhdx"), base first. Refuses a
// parent that is missing, has another identifier than the child names, or
// closes a loop, and chains deeper than 64.
absl::StatusOr<std::vector<ImageLink>> VhdImageChain(const std::string& path,
                                                     const std::string& format);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_VHDI_IMAGE_H_
