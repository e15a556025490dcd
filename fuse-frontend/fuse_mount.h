// FuseMount: serves an ImageCatalog as a FUSE file system of raw image
// files (the layout is in image_tree.h), so tools that only open files
// (hypervisors without NBD, qemu-img, losetup, cp) can use volumes,
// snapshots and layers.
//
// Semantics of an image file:
//  - read/write go to the device; volume files are direct I/O (no page
//    cache), so bytes written over NBD are seen here at once and the other
//    way round. Snapshot and layer files never change and use the page cache.
//  - fsync/fdatasync flush the device (NBD_CMD_FLUSH's durability);
//    O_DSYNC/RWF_DSYNC writes are FUA writes.
//  - fallocate: PUNCH_HOLE trims, ZERO_RANGE writes zeroes, mode 0 inside
//    the file succeeds without reserving space (volumes are thin).
//  - lseek SEEK_DATA/SEEK_HOLE follow the device's allocation map (ranges
//    that read as zeroes at no storage cost are holes); st_blocks counts the
//    allocated bytes.
//  - the size is fixed: truncation and writes past the end fail (EPERM and
//    ENOSPC); every write to a snapshot or layer fails with EROFS.
//
// Threading: a libfuse multi-threaded loop executes requests; the device of
// an open file is shared by every handle of it and released on the last
// close.
#ifndef LAYERDISK_FUSE_FRONTEND_FUSE_MOUNT_H_
#define LAYERDISK_FUSE_FRONTEND_FUSE_MOUNT_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fuse-frontend/image_catalog.h"

namespace layerdisk {

struct FuseMountOptions {
  // Made (one level) if missing. A stale FUSE mount left there by a killed
  // server is detached first; a live one is refused.
  std::string mountpoint;
  // Shown by mount(8) and df as the source: e.g. "layerdisk:/srv/store".
  std::string fs_name = "layerdisk";
  // Let users other than the one running the server open the files (a
  // hypervisor running as its own user). Non-root servers need
  // user_allow_other in /etc/fuse.conf.
  bool allow_other = false;
  // Most threads executing requests at once.
  int max_threads = 16;
  // Largest read or write the kernel sends in one request (at most 1 MiB,
  // what the kernel allows).
  uint32_t max_io_bytes = 1 << 20;
  // How long the kernel may trust a name or attributes without asking
  // again: how late a deleted volume's file disappears from a path lookup.
  // Directory listings are always fresh.
  absl::Duration entry_timeout = absl::Seconds(1);
  // One line per notable event (mount, unmount, stale mount, I/O error).
  // Default: stderr.
  std::function<void(std::string_view)> log;
};

// Thread-safe.
class FuseMount {
 public:
  // Mounts and starts serving. `catalog` must outlive the mount.
  static absl::StatusOr<std::unique_ptr<FuseMount>> Start(
      ImageCatalog* catalog, const FuseMountOptions& options);

  // Stops if still running.
  virtual ~FuseMount() = default;

  virtual const std::string& mountpoint() const = 0;

  // Waits for requests in flight, flushes every device written through the
  // mount, and unmounts (lazily: programs that still hold a file open get
  // ENOTCONN from then on). Idempotent.
  virtual void Stop() = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_FUSE_MOUNT_H_
