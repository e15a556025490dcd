// The FUSE edge's one translation from absl::Status to errno: everything
// below it speaks Status, the kernel speaks errno.
#ifndef LAYERDISK_FUSE_FRONTEND_FUSE_ERRNO_H_
#define LAYERDISK_FUSE_FRONTEND_FUSE_ERRNO_H_

#include "absl/status/status.h"

namespace layerdisk {

// 0 for OK; otherwise a positive errno a program can act on (EROFS for a
// write to a read-only device, ENOSPC for a full disk, EIO for damage).
int ErrnoFromStatus(const absl::Status& status);

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_FUSE_ERRNO_H_
