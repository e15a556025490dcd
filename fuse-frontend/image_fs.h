// ImageFs: the file system behind the FUSE mount, in absl::Status terms:
// names and attributes from the ImageTree, open files as shared devices,
// and the file operations mapped onto BlockDevice calls. fuse_ops.cc only
// translates between libfuse requests and these calls.
//
// Thread-safe.
#ifndef LAYERDISK_FUSE_FRONTEND_IMAGE_FS_H_
#define LAYERDISK_FUSE_FRONTEND_IMAGE_FS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "fuse-frontend/image_tree.h"

namespace layerdisk {

struct ImageAttr {
  uint64_t inode = 0;
  bool is_dir = false;
  bool read_only = true;
  uint64_t size = 0;
  uint64_t allocated_bytes = 0;  // data that costs storage (st_blocks)
  uint64_t mtime_unix_ms = 0;
};

// One open image: every open(2) of the same inode shares it, and the device
// is let go when the last one is closed.
struct OpenImage {
  TreeNode node;
  std::shared_ptr<BlockDevice> device;
  int opens = 0;  // guarded by ImageFs::open_mu_
  std::atomic<bool> written{false};
};

class ImageFs {
 public:
  ImageFs(ImageCatalog* catalog, absl::Duration listing_ttl,
          std::function<void(std::string_view)> log);

  ImageTree& tree() { return tree_; }

  absl::StatusOr<ImageAttr> GetAttr(uint64_t inode);
  // The size never changes: resizing to anything but the current size is
  // InvalidArgument (as truncate(2) of a block device).
  absl::Status Resize(uint64_t inode, uint64_t new_size);

  // PermissionDenied for `writable` on a read-only image; InvalidArgument
  // for `truncate` (O_TRUNC); NotFound if the object is gone.
  absl::StatusOr<OpenImage*> Open(uint64_t inode, bool writable, bool truncate);
  void Release(OpenImage* image);

  // Reads up to out.size() bytes at `offset`; fewer at the end of the file,
  // 0 past it.
  absl::StatusOr<size_t> Read(OpenImage* image, uint64_t offset, absl::Span<char> out);
  // Writes what fits before the end of the file (a short write) and fails
  // with ResourceExhausted at or past it, as a block device does.
  absl::StatusOr<size_t> Write(OpenImage* image, uint64_t offset,
                               absl::Span<const char> data, bool fua);
  absl::Status Flush(OpenImage* image);
  // fallocate(2) modes: a punched hole is a trim; a zeroed range a
  // write-zeroes; a reservation (mode 0) changes nothing, since volumes are
  // thin. Ranges past the end are clipped when `keep_size`, refused
  // (InvalidArgument: the size is fixed) otherwise.
  absl::Status PunchHole(OpenImage* image, uint64_t offset, uint64_t length);
  absl::Status ZeroRange(OpenImage* image, uint64_t offset, uint64_t length, bool keep_size);
  absl::Status Reserve(OpenImage* image, uint64_t offset, uint64_t length, bool keep_size);
  // lseek(2) SEEK_DATA / SEEK_HOLE: the first offset >= `offset` in data
  // (in a hole). nullopt when there is none (ENXIO); the end of the file
  // counts as a hole.
  absl::StatusOr<std::optional<uint64_t>> SeekData(OpenImage* image, uint64_t offset);
  absl::StatusOr<std::optional<uint64_t>> SeekHole(OpenImage* image, uint64_t offset);

  // Flushes every device written through an open file (at unmount).
  void FlushAll();

 private:
  // The device of `node`: the open one if the file is open, else a fresh one.
  absl::StatusOr<std::shared_ptr<BlockDevice>> DeviceOf(const TreeNode& node);
  absl::StatusOr<uint64_t> AllocatedBytes(const TreeNode& node);
  // Clips [offset, offset+length) to the device for fallocate.
  absl::StatusOr<uint64_t> ClipLength(OpenImage* image, uint64_t offset, uint64_t length,
                                      bool keep_size);
  absl::StatusOr<std::optional<uint64_t>> Seek(OpenImage* image, uint64_t offset,
                                               bool want_data);
  absl::Status Failed(OpenImage* image, std::string_view what, absl::Status status);

  ImageCatalog* const catalog_;
  ImageTree tree_;
  const std::function<void(std::string_view)> log_;

  std::atomic<int> reads_in_flight_{0};

  absl::Mutex open_mu_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<OpenImage>> open_ ABSL_GUARDED_BY(open_mu_);

  struct Allocation {
    uint64_t bytes = 0;
    absl::Time at;
  };
  absl::Mutex allocation_mu_;
  absl::flat_hash_map<uint64_t, Allocation> allocation_ ABSL_GUARDED_BY(allocation_mu_);
};

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_IMAGE_FS_H_
