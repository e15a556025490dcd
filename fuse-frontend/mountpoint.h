// Getting a mount point ready: made if missing, a stale FUSE mount (its
// server was killed, so every access fails with ENOTCONN) detached, a live
// mount refused.
#ifndef LAYERDISK_FUSE_FRONTEND_MOUNTPOINT_H_
#define LAYERDISK_FUSE_FRONTEND_MOUNTPOINT_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace layerdisk {

absl::Status PrepareMountpoint(const std::string& path,
                               const std::function<void(std::string_view)>& log);

// Detaches whatever is mounted at `path` (umount2 MNT_DETACH, or
// `fusermount3 -u -z` when not allowed to).
absl::Status DetachMount(const std::string& path);

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_MOUNTPOINT_H_
