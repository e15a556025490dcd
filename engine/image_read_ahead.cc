#include "engine/image_read_ahead.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace layerdisk {

std::vector<ImportRange> PlanImportReads(const std::vector<DeviceExtent>& extents,
                                         uint64_t size, uint64_t block_size,
                                         uint64_t max_bytes, bool keep_zero) {
  const uint64_t bs = block_size;
  const uint64_t max_blocks = std::max<uint64_t>(1, max_bytes / bs);
  std::vector<ImportRange> ranges;
  uint64_t next_block = 0;  // blocks below this were already taken
  for (const DeviceExtent& e : extents) {
    if (e.hole || (e.zero && !keep_zero)) continue;
    uint64_t first = std::max(e.offset / bs, next_block);
    uint64_t end_block = (e.offset + e.length + bs - 1) / bs;
    for (uint64_t b = first; b < end_block;) {
      uint64_t n = std::min(end_block - b, max_blocks);
      ImportRange r;
      r.first_block = b;
      r.offset = b * bs;
      r.length = std::min(n * bs, size - r.offset);
      r.padded = n * bs;
      ranges.push_back(r);
      b += n;
      next_block = b;
    }
  }
  return ranges;
}

ImageReadAhead::ImageReadAhead(BlockDevice& source, std::vector<ImportRange> ranges,
                               size_t depth, bool sha256)
    : source_(&source),
      ranges_(std::move(ranges)),
      depth_(std::max<size_t>(depth, 1)),
      sha256_(sha256) {
  reader_ = std::thread([this] { ReadLoop(); });
}

ImageReadAhead::ImageReadAhead(ByteStream& stream, uint32_t block_size, uint64_t max_bytes,
                               size_t depth, bool sha256)
    : stream_(&stream),
      stream_block_size_(block_size),
      stream_max_bytes_(max_bytes),
      depth_(std::max<size_t>(depth, 1)),
      sha256_(sha256) {
  reader_ = std::thread([this] { ReadLoop(); });
}

ImageReadAhead::~ImageReadAhead() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  reader_.join();
}

void ImageReadAhead::ReadLoop() {
  for (;;) {
    Filled filled;
    {
      absl::MutexLock lock(&mu_);
      auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_ || ready_.size() < depth_;
      };
      mu_.Await(absl::Condition(&room));
      if (stop_) break;
      if (!spare_.empty()) {
        filled.bytes = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    absl::StatusOr<bool> more = source_ ? FillFromImage(&filled) : FillFromStream(&filled);
    if (more.ok() && !*more) break;
    absl::MutexLock lock(&mu_);
    if (!more.ok()) {
      ready_.push_back(more.status());
      break;
    }
    ready_.push_back(std::move(filled));
  }
  absl::MutexLock lock(&mu_);
  done_ = true;
}

absl::StatusOr<bool> ImageReadAhead::FillFromImage(Filled* filled) {
  if (next_range_ == ranges_.size()) return false;
  uint64_t padded = 0;
  do {
    padded += ranges_[next_range_].padded;
    filled->ranges.push_back(ranges_[next_range_++]);
  } while (next_range_ < ranges_.size() &&
           padded + ranges_[next_range_].padded <= kImportBuffer);
  filled->bytes.resize(padded);
  char* slot = filled->bytes.data();
  for (const ImportRange& range : filled->ranges) {
    std::memset(slot + range.length, 0, range.padded - range.length);
    RETURN_IF_ERROR(source_->Read(range.offset, absl::MakeSpan(slot, range.length)));
    if (sha256_) {
      hasher_.UpdateZeroes(range.offset - hashed_);
      hasher_.Update(std::string_view(slot, range.length));
      hashed_ = range.offset + range.length;
    }
    slot += range.padded;
  }
  return true;
}

absl::StatusOr<bool> ImageReadAhead::FillFromStream(Filled* filled) {
  if (stream_ended_) return false;
  filled->bytes.resize(kImportBuffer);
  ASSIGN_OR_RETURN(size_t length, stream_->Read(absl::MakeSpan(filled->bytes)));
  // Only the stream's end reads short (ByteStream::Read), so every range
  // but the last starts on a block boundary.
  stream_ended_ = length < kImportBuffer;
  if (length == 0) return false;
  if (length > stream_max_bytes_ - streamed_)
    return absl::InvalidArgumentError(absl::StrFormat(
        "the stream is larger than the largest image supported (%d bytes)",
        stream_max_bytes_));
  ImportRange range;
  range.first_block = streamed_ / stream_block_size_;
  range.offset = streamed_;
  range.length = length;
  range.padded = (length + stream_block_size_ - 1) / stream_block_size_ * stream_block_size_;
  std::memset(filled->bytes.data() + length, 0, range.padded - length);
  filled->bytes.resize(range.padded);
  if (sha256_) hasher_.Update(std::string_view(filled->bytes.data(), length));
  filled->ranges.push_back(range);
  streamed_ += length;
  return true;
}

uint64_t ImageReadAhead::Filled::length() const {
  uint64_t total = 0;
  for (const ImportRange& range : ranges) total += range.length;
  return total;
}

void AddToDigest(ContentDigest* digest, const std::vector<ImportRange>& ranges,
                 uint64_t block_size, const std::function<const ChunkName*(size_t)>& name) {
  size_t i = 0;
  for (const ImportRange& range : ranges) {
    digest->ZeroUpTo(range.first_block);  // not read: holes
    for (uint64_t n = range.padded / block_size; n > 0; --n, ++i) {
      const ChunkName* block = name(i);
      block ? digest->AddBlock(*block) : digest->AddZeroBlocks(1);
    }
  }
}

absl::StatusOr<std::optional<ImageReadAhead::Filled>> ImageReadAhead::Next() {
  absl::MutexLock lock(&mu_);
  auto available = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !ready_.empty() || done_;
  };
  mu_.Await(absl::Condition(&available));
  if (ready_.empty()) return std::optional<Filled>();
  absl::StatusOr<Filled> next = std::move(ready_.front());
  ready_.pop_front();
  if (!next.ok()) return next.status();
  return std::optional<Filled>(*std::move(next));
}

void ImageReadAhead::Recycle(std::string buffer) {
  absl::MutexLock lock(&mu_);
  if (spare_.size() < depth_) spare_.push_back(std::move(buffer));
}

std::string ImageReadAhead::ContentSha256() {
  if (!sha256_) return "";
  if (source_) hasher_.UpdateZeroes(source_->size() - hashed_);
  return hasher_.HexDigest();
}

}  // namespace layerdisk
