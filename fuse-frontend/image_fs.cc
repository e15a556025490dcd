#include "fuse-frontend/image_fs.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

// Allocation maps are asked for in windows of this many bytes, so a seek
// in a huge thin volume stops at the first extent it needs.
constexpr uint64_t kMapWindow = uint64_t{256} << 20;
// A volume's st_blocks is recomputed at most this often; a read-only
// image's never changes.
constexpr absl::Duration kAllocationTtl = absl::Seconds(1);
constexpr size_t kSplitReadBytes = 256 << 10;
constexpr size_t kReadPieces = 2;

bool ReadsAsZeroes(const DeviceExtent& e) { return e.hole || e.zero; }

}  // namespace

ImageFs::ImageFs(ImageCatalog* catalog, absl::Duration listing_ttl,
                 std::function<void(std::string_view)> log)
    : catalog_(catalog), tree_(catalog, listing_ttl), log_(std::move(log)) {}

absl::StatusOr<ImageAttr> ImageFs::GetAttr(uint64_t inode) {
  ASSIGN_OR_RETURN(TreeNode node, tree_.Get(inode));
  ImageAttr attr;
  attr.inode = inode;
  attr.is_dir = node.is_dir();
  attr.mtime_unix_ms = node.image.created_unix_ms;
  if (attr.is_dir) return attr;
  attr.read_only = node.image.read_only;
  attr.size = node.image.size;
  ASSIGN_OR_RETURN(attr.allocated_bytes, AllocatedBytes(node));
  return attr;
}

absl::Status ImageFs::Resize(uint64_t inode, uint64_t new_size) {
  ASSIGN_OR_RETURN(TreeNode node, tree_.Get(inode));
  if (node.is_dir()) return absl::InvalidArgumentError("a directory has no size");
  if (new_size == node.image.size) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      ImageTree::PathOf(node), " has a fixed size of ", node.image.size,
      " bytes; it cannot be truncated or resized to ", new_size,
      " (write with conv=notrunc, qemu-img convert -n)"));
}

absl::StatusOr<std::shared_ptr<BlockDevice>> ImageFs::DeviceOf(const TreeNode& node) {
  {
    absl::MutexLock lock(&open_mu_);
    auto it = open_.find(node.inode);
    if (it != open_.end()) return it->second->device;
  }
  return catalog_->OpenImage(node.image.device_name);
}

absl::StatusOr<uint64_t> ImageFs::AllocatedBytes(const TreeNode& node) {
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&allocation_mu_);
    auto it = allocation_.find(node.inode);
    if (it != allocation_.end() &&
        (node.image.read_only || now - it->second.at < kAllocationTtl))
      return it->second.bytes;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> device, DeviceOf(node));
  uint64_t bytes = 0;
  const uint64_t size = device->size();
  for (uint64_t pos = 0; pos < size; pos += kMapWindow) {
    ASSIGN_OR_RETURN(std::vector<DeviceExtent> extents,
                     device->Map(pos, std::min(kMapWindow, size - pos)));
    for (const DeviceExtent& e : extents)
      if (!ReadsAsZeroes(e)) bytes += e.length;
  }
  absl::MutexLock lock(&allocation_mu_);
  allocation_[node.inode] = {bytes, now};
  return bytes;
}

absl::StatusOr<OpenImage*> ImageFs::Open(uint64_t inode, bool writable, bool truncate) {
  ASSIGN_OR_RETURN(TreeNode node, tree_.Get(inode));
  if (node.is_dir()) return absl::InvalidArgumentError("a directory");
  if (writable && node.image.read_only)
    return absl::PermissionDeniedError(ImageTree::PathOf(node) + " is read-only");
  if (truncate) RETURN_IF_ERROR(Resize(inode, 0));
  {
    absl::MutexLock lock(&open_mu_);
    auto it = open_.find(inode);
    if (it != open_.end()) {
      ++it->second->opens;
      return it->second.get();
    }
  }
  // Opened without the lock: the store may take a while (a delete waiting
  // for this very file's last close must not find Release() blocked here).
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> device,
                   catalog_->OpenImage(node.image.device_name));
  absl::MutexLock lock(&open_mu_);
  std::unique_ptr<OpenImage>& image = open_[inode];
  if (image == nullptr) {  // else another open won the race; ours is dropped
    image = std::make_unique<OpenImage>();
    image->node = node;
    image->device = std::move(device);
  }
  ++image->opens;
  return image.get();
}

void ImageFs::Release(OpenImage* image) {
  std::unique_ptr<OpenImage> last;
  {
    absl::MutexLock lock(&open_mu_);
    if (--image->opens > 0) return;
    auto it = open_.find(image->node.inode);
    last = std::move(it->second);
    open_.erase(it);
  }
  // Dropped outside the lock: the last reference to a volume flushes it.
}

absl::Status ImageFs::Failed(OpenImage* image, std::string_view what, absl::Status status) {
  if (log_)
    log_(absl::StrCat("fuse: ", std::string(what), " on ", ImageTree::PathOf(image->node),
                      " failed: ", status.message()));
  return status;
}

absl::StatusOr<size_t> ImageFs::Read(OpenImage* image, uint64_t offset, absl::Span<char> out) {
  const uint64_t size = image->device->size();
  if (offset >= size) return 0;
  const size_t n = std::min<uint64_t>(out.size(), size - offset);
  // A lone large read (one program reading sequentially, one request at a
  // time) would copy its megabyte on one core while the others idle: split
  // it across them. With many reads in flight the cores are busy anyway.
  const int in_flight = reads_in_flight_.fetch_add(1) + 1;
  absl::Status s;
  if (in_flight == 1 && n >= kSplitReadBytes) {
    std::vector<absl::Status> piece_status(kReadPieces);
    const size_t per = (n / kReadPieces + 4095) & ~size_t{4095};
    ParallelFor(kReadPieces, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const size_t from = std::min(n, i * per), to = std::min(n, from + per);
        if (from < to)
          piece_status[i] = image->device->Read(offset + from, out.subspan(from, to - from));
      }
    });
    for (absl::Status& p : piece_status) s.Update(p);
  } else {
    s = image->device->Read(offset, out.subspan(0, n));
  }
  reads_in_flight_.fetch_sub(1);
  if (!s.ok()) return Failed(image, "read", s);
  return n;
}

absl::StatusOr<size_t> ImageFs::Write(OpenImage* image, uint64_t offset,
                                      absl::Span<const char> data, bool fua) {
  const uint64_t size = image->device->size();
  if (offset >= size && !data.empty())
    return absl::ResourceExhaustedError(absl::StrCat(
        "write at ", offset, " is past the end of ", ImageTree::PathOf(image->node),
        " (", size, " bytes)"));
  const size_t n = std::min<uint64_t>(data.size(), size - offset);
  image->written = true;
  absl::Status s = image->device->Write(offset, data.subspan(0, n), fua);
  if (!s.ok()) return Failed(image, "write", s);
  return n;
}

absl::Status ImageFs::Flush(OpenImage* image) {
  absl::Status s = image->device->Flush();
  if (!s.ok()) return Failed(image, "flush", s);
  return s;
}

absl::StatusOr<uint64_t> ImageFs::ClipLength(OpenImage* image, uint64_t offset,
                                             uint64_t length, bool keep_size) {
  if (image->node.image.read_only)
    return absl::PermissionDeniedError(ImageTree::PathOf(image->node) + " is read-only");
  const uint64_t size = image->device->size();
  if (length > size || offset > size - length) {
    if (!keep_size) RETURN_IF_ERROR(Resize(image->node.inode, offset + length));
    return offset >= size ? 0 : size - offset;
  }
  return length;
}

absl::Status ImageFs::PunchHole(OpenImage* image, uint64_t offset, uint64_t length) {
  ASSIGN_OR_RETURN(length, ClipLength(image, offset, length, /*keep_size=*/true));
  if (length == 0) return absl::OkStatus();
  image->written = true;
  absl::Status s = image->device->Trim(offset, length, /*fua=*/false);
  if (!s.ok()) return Failed(image, "punch hole", s);
  return s;
}

absl::Status ImageFs::ZeroRange(OpenImage* image, uint64_t offset, uint64_t length,
                                bool keep_size) {
  ASSIGN_OR_RETURN(length, ClipLength(image, offset, length, keep_size));
  if (length == 0) return absl::OkStatus();
  image->written = true;
  absl::Status s = image->device->WriteZeroes(offset, length, /*fua=*/false);
  if (!s.ok()) return Failed(image, "zero range", s);
  return s;
}

absl::Status ImageFs::Reserve(OpenImage* image, uint64_t offset, uint64_t length,
                              bool keep_size) {
  return ClipLength(image, offset, length, keep_size).status();
}

absl::StatusOr<std::optional<uint64_t>> ImageFs::Seek(OpenImage* image, uint64_t offset,
                                                      bool want_data) {
  const uint64_t size = image->device->size();
  if (offset >= size) return std::nullopt;
  for (uint64_t pos = offset; pos < size; pos += kMapWindow) {
    absl::StatusOr<std::vector<DeviceExtent>> extents =
        image->device->Map(pos, std::min(kMapWindow, size - pos));
    if (!extents.ok()) return Failed(image, "seek", extents.status());
    for (const DeviceExtent& e : *extents)
      if (ReadsAsZeroes(e) != want_data) return std::max(e.offset, offset);
  }
  if (want_data) return std::nullopt;
  return size;
}

absl::StatusOr<std::optional<uint64_t>> ImageFs::SeekData(OpenImage* image, uint64_t offset) {
  return Seek(image, offset, /*want_data=*/true);
}

absl::StatusOr<std::optional<uint64_t>> ImageFs::SeekHole(OpenImage* image, uint64_t offset) {
  return Seek(image, offset, /*want_data=*/false);
}

void ImageFs::FlushAll() {
  std::vector<std::pair<std::string, std::shared_ptr<BlockDevice>>> written;
  {
    absl::MutexLock lock(&open_mu_);
    for (auto& [inode, image] : open_)
      if (image->written) written.push_back({ImageTree::PathOf(image->node), image->device});
  }
  for (auto& [path, device] : written) {
    absl::Status s = device->Flush();
    if (!s.ok() && log_) log_(absl::StrCat("fuse: flush of ", path, " failed: ", s.message()));
  }
}

}  // namespace layerdisk
