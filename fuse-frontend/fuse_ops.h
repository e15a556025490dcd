// The libfuse low-level operations over an ImageFs: each decodes a kernel
// request, calls ImageFs and replies, turning Status into errno
// (fuse_errno.h) here and nowhere else.
#ifndef LAYERDISK_FUSE_FRONTEND_FUSE_OPS_H_
#define LAYERDISK_FUSE_FRONTEND_FUSE_OPS_H_

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "fuse-frontend/image_fs.h"

namespace layerdisk {

// The session's userdata.
struct FuseContext {
  ImageFs* fs = nullptr;
  uint32_t max_io_bytes = 1 << 20;
  double entry_timeout_seconds = 1;
  std::function<void(std::string_view)> log;
};

const fuse_lowlevel_ops& ImageFsOperations();

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_FUSE_OPS_H_
