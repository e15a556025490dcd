#include "fuse-frontend/fuse_errno.h"

#include <cerrno>

namespace layerdisk {

int ErrnoFromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kAlreadyExists:
      return EEXIST;
    case absl::StatusCode::kInvalidArgument:
      return EINVAL;
    case absl::StatusCode::kOutOfRange:
      return EINVAL;
    // BlockDevice's contract: PermissionDenied means the device is read-only.
    case absl::StatusCode::kPermissionDenied:
      return EROFS;
    case absl::StatusCode::kResourceExhausted:
      return ENOSPC;
    // A volume in use refuses to be deleted or rolled back under it.
    case absl::StatusCode::kFailedPrecondition:
      return EBUSY;
    // The object was deleted or rolled back by force under its open file.
    case absl::StatusCode::kAborted:
      return ESTALE;
    case absl::StatusCode::kCancelled:
      return EINTR;
    case absl::StatusCode::kDeadlineExceeded:
      return ETIMEDOUT;
    default:
      // DataLoss, Internal, Unavailable, ...: the program can only retry or
      // give up, which is what EIO tells it.
      return EIO;
  }
}

}  // namespace layerdisk
