#include "engine/volume.h"

#include <bitset>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace layerdisk {

class Volume::StripeLock {
 public:
  StripeLock(Volume* v, uint64_t first, uint64_t last) : v_(v) {
    if (last - first + 1 >= kStripes) {
      held_.set();
    } else {
      for (uint64_t b = first; b <= last; ++b) held_.set(b % kStripes);
    }
    for (size_t i = 0; i < kStripes; ++i)
      if (held_[i]) v_->stripes_[i].Lock();
  }
  ~StripeLock() {
    for (size_t i = kStripes; i-- > 0;)
      if (held_[i]) v_->stripes_[i].Unlock();
  }

 private:
  Volume* const v_;
  std::bitset<kStripes> held_;
};

Volume::Volume(std::string name, uint64_t size, uint32_t block_size,
               std::shared_ptr<const Stack> stack, std::shared_ptr<Head> head)
    : name_(std::move(name)),
      size_(size),
      block_size_(block_size),
      read_only_(head == nullptr),
      stack_(std::move(stack)),
      head_(std::move(head)) {}

Volume::~Volume() {
  if (read_only_ || detached_.load()) return;
  absl::Status s = head_->Flush();
  if (!s.ok())
    std::fprintf(stderr, "layerdisk: flush of %s on close failed: %s\n",
                 name_.c_str(), std::string(s.message()).c_str());
}

absl::Status Volume::CheckAttached() const {
  if (detached_.load(std::memory_order_acquire))
    return absl::AbortedError(detached_why_);
  return absl::OkStatus();
}

absl::Status Volume::CheckRange(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset)
    return absl::InvalidArgumentError(absl::StrFormat(
        "range [%d, +%d) is beyond the end of %s (%d bytes)", offset, length,
        name_, size_));
  return CheckAttached();
}

absl::Status Volume::ReadBlocks(uint64_t first, absl::Span<char> out) {
  const uint64_t count = out.size() / block_size_;
  uint64_t i = 0;
  while (i < count) {
    uint64_t block = first + i;
    uint64_t segment = block / kSegmentBlocks;
    // A segment no layer touches is a hole: skip it whole.
    if (!stack_->HasSegment(segment) && !(head_ && head_->HasSegment(segment))) {
      uint64_t n = std::min(count - i, (segment + 1) * kSegmentBlocks - block);
      std::memset(out.data() + i * block_size_, 0, n * block_size_);
      i += n;
      continue;
    }
    // Extend a run of blocks served the same way by the same layer.
    auto resolve = [&](uint64_t b) -> std::pair<const LayerView*, BlockKind> {
      if (head_) {
        BlockKind k = head_->Kind(b);
        if (k != BlockKind::kAbsent) return {head_.get(), k};
      }
      const LayerView* layer = stack_->Find(b);
      if (layer == nullptr) return {nullptr, BlockKind::kAbsent};
      return {layer, layer->Kind(b)};
    };
    auto [layer, kind] = resolve(block);
    if (EndsInside(layer, block)) {
      RETURN_IF_ERROR(ComposeBlock(block, out.subspan(i * block_size_, block_size_)));
      ++i;
      continue;
    }
    uint64_t n = 1;
    while (i + n < count && (first + i + n) / kSegmentBlocks == segment &&
           resolve(first + i + n) == std::make_pair(layer, kind) &&
           !EndsInside(layer, first + i + n))
      ++n;
    absl::Span<char> run = out.subspan(i * block_size_, n * block_size_);
    if (kind == BlockKind::kData) {
      RETURN_IF_ERROR(layer->ReadData(block, run));
    } else {
      std::memset(run.data(), 0, run.size());
    }
    i += n;
  }
  return absl::OkStatus();
}

bool Volume::EndsInside(const LayerView* layer, uint64_t block) const {
  // Bytes past the volume's own end are never read: a layer at least as
  // long as the volume (the head always is) needs no composition.
  return layer != nullptr && layer->size() < std::min(size_, (block + 1) * block_size_);
}

absl::Status Volume::ComposeBlock(uint64_t block, absl::Span<char> out) {
  // Rare: a layer ends inside this block. Walk the stack top-down; each
  // layer defines the bytes of the block below its end that no layer above
  // it defined.
  std::memset(out.data(), 0, out.size());
  const uint64_t start = block * block_size_;
  uint64_t done = 0;  // bytes [0, done) are defined
  std::string buf;
  const auto& layers = stack_->layers();
  for (auto it = layers.rbegin(); it != layers.rend() && done < block_size_; ++it) {
    const LayerView& layer = **it;
    if (layer.size() <= start) continue;
    BlockKind kind = layer.Kind(block);
    if (kind == BlockKind::kAbsent && !layer.opaque()) continue;
    uint64_t end = std::min<uint64_t>(block_size_, layer.size() - start);
    if (end <= done) continue;
    if (kind == BlockKind::kData) {
      buf.resize(block_size_);
      RETURN_IF_ERROR(layer.ReadData(block, absl::MakeSpan(buf)));
      std::memcpy(out.data() + done, buf.data() + done, end - done);
    }
    done = end;
  }
  return absl::OkStatus();
}

absl::Status Volume::Read(uint64_t offset, absl::Span<char> out) {
  RETURN_IF_ERROR(CheckRange(offset, out.size()));
  if (out.empty()) return absl::OkStatus();
  absl::ReaderMutexLock lock(&mu_);
  const uint64_t bs = block_size_;
  if (offset % bs == 0 && out.size() % bs == 0) return ReadBlocks(offset / bs, out);
  // Unaligned head and tail go through a one-block buffer; the aligned body
  // is read in place.
  std::string block(bs, '\0');
  uint64_t pos = offset, end = offset + out.size();
  while (pos < end) {
    uint64_t b = pos / bs, in_block = pos % bs;
    uint64_t n = std::min<uint64_t>(bs - in_block, end - pos);
    char* dst = out.data() + (pos - offset);
    if (in_block == 0 && n == bs) {
      uint64_t whole = (end - pos) / bs;
      RETURN_IF_ERROR(ReadBlocks(b, absl::MakeSpan(dst, whole * bs)));
      pos += whole * bs;
      continue;
    }
    RETURN_IF_ERROR(ReadBlocks(b, absl::MakeSpan(block)));
    std::memcpy(dst, block.data() + in_block, n);
    pos += n;
  }
  return absl::OkStatus();
}

absl::Status Volume::WriteRange(uint64_t offset, uint64_t length,
                                const char* data) {
  const uint64_t bs = block_size_;
  std::string block;
  uint64_t pos = offset, end = offset + length;
  while (pos < end) {
    uint64_t b = pos / bs, in_block = pos % bs;
    uint64_t n = std::min<uint64_t>(bs - in_block, end - pos);
    if (in_block == 0 && n == bs && data != nullptr) {
      uint64_t whole = (end - pos) / bs;
      RETURN_IF_ERROR(head_->WriteData(
          b, absl::MakeConstSpan(data + (pos - offset), whole * bs)));
      pos += whole * bs;
      continue;
    }
    // Partial block: the rest of it comes from what the volume reads now.
    block.resize(bs);
    RETURN_IF_ERROR(ReadBlocks(b, absl::MakeSpan(block)));
    if (data != nullptr) {
      std::memcpy(block.data() + in_block, data + (pos - offset), n);
    } else {
      std::memset(block.data() + in_block, 0, n);
    }
    RETURN_IF_ERROR(head_->WriteData(b, block));
    pos += n;
  }
  return absl::OkStatus();
}

absl::Status Volume::Write(uint64_t offset, absl::Span<const char> data,
                           bool fua) {
  if (read_only_)
    return absl::PermissionDeniedError(absl::StrFormat("%s is read-only", name_));
  RETURN_IF_ERROR(CheckRange(offset, data.size()));
  if (data.empty()) return absl::OkStatus();
  {
    absl::ReaderMutexLock lock(&mu_);
    StripeLock stripes(this, offset / block_size_,
                       (offset + data.size() - 1) / block_size_);
    RETURN_IF_ERROR(WriteRange(offset, data.size(), data.data()));
  }
  return fua ? Flush() : absl::OkStatus();
}

absl::Status Volume::ZeroRange(uint64_t offset, uint64_t length, bool fua) {
  if (read_only_)
    return absl::PermissionDeniedError(absl::StrFormat("%s is read-only", name_));
  RETURN_IF_ERROR(CheckRange(offset, length));
  if (length == 0) return absl::OkStatus();
  const uint64_t bs = block_size_;
  {
    absl::ReaderMutexLock lock(&mu_);
    uint64_t end = offset + length;
    uint64_t first_whole = (offset + bs - 1) / bs;
    uint64_t end_whole = end / bs;
    StripeLock stripes(this, offset / bs, (end - 1) / bs);
    if (first_whole >= end_whole) {
      RETURN_IF_ERROR(WriteRange(offset, length, nullptr));
    } else {
      RETURN_IF_ERROR(WriteRange(offset, first_whole * bs - offset, nullptr));
      RETURN_IF_ERROR(WriteRange(end_whole * bs, end - end_whole * bs, nullptr));
      // Whole blocks become zero markers where a lower layer has the block
      // (to mask it), and absent where nothing below does.
      const Stack& stack = *stack_;
      RETURN_IF_ERROR(head_->WriteZero(
          first_whole, end_whole - first_whole,
          [&stack](uint64_t b) { return stack.Find(b) != nullptr; }));
    }
  }
  return fua ? Flush() : absl::OkStatus();
}

absl::Status Volume::WriteZeroes(uint64_t offset, uint64_t length, bool fua) {
  return ZeroRange(offset, length, fua);
}

absl::Status Volume::Trim(uint64_t offset, uint64_t length, bool fua) {
  // A trimmed range reads as zeroes: the layers below must not show through.
  return ZeroRange(offset, length, fua);
}

absl::Status Volume::Flush() {
  RETURN_IF_ERROR(CheckAttached());
  absl::ReaderMutexLock lock(&mu_);
  return head_ ? head_->Flush() : absl::OkStatus();
}

absl::StatusOr<std::vector<DeviceExtent>> Volume::Map(uint64_t offset,
                                                      uint64_t length) {
  RETURN_IF_ERROR(CheckRange(offset, length));
  std::vector<DeviceExtent> out;
  if (length == 0) return out;
  absl::ReaderMutexLock lock(&mu_);
  auto add = [&out](uint64_t off, uint64_t len, bool data) {
    if (!out.empty() && out.back().hole == !data &&
        out.back().offset + out.back().length == off) {
      out.back().length += len;
    } else {
      out.push_back({off, len, !data, !data});
    }
  };
  const uint64_t bs = block_size_, end = offset + length;
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t b = pos / bs, segment = b / kSegmentBlocks;
    if (!stack_->HasSegment(segment) && !(head_ && head_->HasSegment(segment))) {
      uint64_t seg_end = std::min(end, (segment + 1) * kSegmentBlocks * bs);
      add(pos, seg_end - pos, false);
      pos = seg_end;
      continue;
    }
    BlockKind k = head_ ? head_->Kind(b) : BlockKind::kAbsent;
    if (k == BlockKind::kAbsent) {
      const LayerView* layer = stack_->Find(b);
      if (layer != nullptr) k = layer->Kind(b);
      // A block composed of several layers may hold data from any of them.
      if (EndsInside(layer, b)) k = BlockKind::kData;
    }
    uint64_t block_end = std::min(end, (b + 1) * bs);
    add(pos, block_end - pos, k == BlockKind::kData);
    pos = block_end;
  }
  return out;
}

absl::Status Volume::Exclusive(const std::function<absl::Status()>& fn) {
  absl::MutexLock lock(&mu_);
  return fn();
}

void Volume::Install(std::shared_ptr<const Stack> stack,
                     std::shared_ptr<Head> head) {
  mu_.AssertHeld();
  stack_ = std::move(stack);
  head_ = std::move(head);
}

void Volume::Detach(const std::string& why) {
  absl::MutexLock lock(&mu_);  // waits for requests in flight
  detached_why_ = why;
  detached_.store(true, std::memory_order_release);
}

}  // namespace layerdisk
