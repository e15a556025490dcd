#include "nbd-frontend/nbd_errors.h"

#include "nbd-frontend/nbd_protocol.h"

namespace layerdisk::nbd {

uint32_t ErrorFromStatus(const absl::Status& status, bool is_write) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
      return kEinval;
    case absl::StatusCode::kPermissionDenied:
      return kEperm;
    case absl::StatusCode::kResourceExhausted:
      return kEnospc;
    case absl::StatusCode::kOutOfRange:
      return is_write ? kEnospc : kEinval;
    case absl::StatusCode::kUnimplemented:
      return kEnotsup;
    case absl::StatusCode::kCancelled:
      return kEshutdown;
    default:
      // DataLoss, Internal, Unavailable, ...: the client can only retry or
      // give up, which is what EIO tells it.
      return kEio;
  }
}

}  // namespace layerdisk::nbd
