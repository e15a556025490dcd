// qcow2 and VMDK images (and their backing chains), read through the qemu
// tools rather than a parser of our own: `qemu-img info --backing-chain`
// names the chain, `qemu-img map` tells which ranges each image allocates,
// and a qemu-nbd child (over a socketpair, through libnbd) serves the bytes,
// except where qemu-img map places a plain qcow2 cluster in the file itself:
// those are read from the file directly.
#ifndef LAYERDISK_TOOLS_IMAGES_QEMU_IMAGE_H_
#define LAYERDISK_TOOLS_IMAGES_QEMU_IMAGE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/images/image_link.h"

namespace layerdisk {

// The chain ending at `path` (a `format` image), base first. Each overlay
// is a differencing link whose allocation is what qemu-img map reports at
// depth 0. qemu-img refuses loops and missing backing files itself.
absl::StatusOr<std::vector<ImageLink>> QemuImageChain(const std::string& path,
                                                      const std::string& format);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_QEMU_IMAGE_H_
