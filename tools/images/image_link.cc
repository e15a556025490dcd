#include "tools/images/image_link.h"

#include "absl/strings/str_format.h"

namespace layerdisk {

void AppendExtent(std::vector<DeviceExtent>* out, uint64_t offset, uint64_t length,
                  bool hole, bool zero) {
  if (length == 0) return;
  if (!out->empty()) {
    DeviceExtent& last = out->back();
    if (last.offset + last.length == offset && last.hole == hole && last.zero == zero) {
      last.length += length;
      return;
    }
  }
  out->push_back({offset, length, hole, zero});
}

void AppendFileRun(std::vector<FileRun>* runs, uint64_t offset, uint64_t length,
                   uint64_t file_offset) {
  if (!runs->empty()) {
    FileRun& last = runs->back();
    bool zero = file_offset == kZeroRun, last_zero = last.file_offset == kZeroRun;
    if (last.offset + last.length == offset && zero == last_zero &&
        (zero || last.file_offset + last.length == file_offset)) {
      last.length += length;
      return;
    }
  }
  runs->push_back({offset, length, file_offset});
}

absl::Status ImageDevice::Write(uint64_t, absl::Span<const char>, bool) {
  return absl::PermissionDeniedError("an image being imported is read-only");
}
absl::Status ImageDevice::WriteZeroes(uint64_t, uint64_t, bool) {
  return absl::PermissionDeniedError("an image being imported is read-only");
}
absl::Status ImageDevice::Trim(uint64_t, uint64_t, bool) {
  return absl::PermissionDeniedError("an image being imported is read-only");
}

absl::Status ImageDevice::CheckRange(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset)
    return absl::InvalidArgumentError(
        absl::StrFormat("range [%d, +%d) is outside the image of %d bytes", offset, length, size_));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DeviceExtent>> ImageDevice::Map(uint64_t offset, uint64_t length) {
  if (offset > size_) return CheckRange(offset, 0);
  const uint64_t end = offset + std::min(length, size_ - offset);
  std::vector<DeviceExtent> out;
  for (auto e = FirstAtOrBefore(*allocation_, offset); e != allocation_->end() && e->offset < end;
       ++e) {
    uint64_t from = std::max(e->offset, offset), to = std::min(e->offset + e->length, end);
    if (from < to) AppendExtent(&out, from, to - from, e->hole, e->zero);
  }
  return out;
}

}  // namespace layerdisk
