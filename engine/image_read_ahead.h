// ImageReadAhead: reads the data ranges of an image being imported (or a
// raw stream, to its end), in order, on its own thread, up to a few buffers
// ahead of the importer, and if asked hashes the image's bytes as it goes
// (holes as zeroes). Reading,
// that whole-image SHA-256 (inherently sequential) and the importer's chunk
// hashing, compression and commits then overlap instead of taking turns.
//
// Consecutive ranges are gathered into one buffer up to kImportBuffer, so
// a fragmented image (a differencing child's scattered sectors) is hashed,
// looked up and committed in buffers as large as a dense one's rather than
// a block at a time.
//
// Memory: at most `depth` + 1 buffers. Not thread-safe: one consumer.
#ifndef LAYERDISK_ENGINE_IMAGE_READ_AHEAD_H_
#define LAYERDISK_ENGINE_IMAGE_READ_AHEAD_H_

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/block_device.h"
#include "common/byte_stream.h"
#include "dedupe/content_digest.h"
#include "dedupe/content_hash.h"

namespace layerdisk {

// An import reads at most this much at a time.
inline constexpr uint64_t kImportBuffer = 4ull << 20;
// Buffers read ahead of the one being chunked: enough to keep the reader
// busy while a commit runs, little memory.
inline constexpr size_t kImportReadAhead = 3;

// One read of an import: `length` bytes at `offset` (= first_block *
// block size), delivered padded with zeroes to `padded` bytes (whole blocks).
struct ImportRange {
  uint64_t first_block = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t padded = 0;
};

// The reads that import `extents` of a `size`-byte image in blocks of
// `block_size`, at most `max_bytes` each, in ascending order. Skipped: holes,
// and zero extents too unless `keep_zero` (a delta layer records its zeroes).
std::vector<ImportRange> PlanImportReads(const std::vector<DeviceExtent>& extents,
                                         uint64_t size, uint64_t block_size,
                                         uint64_t max_bytes, bool keep_zero);

// Feeds `digest` the blocks of `ranges` in order, the holes before each as
// zeroes; `name(i)` is the i-th block's over all the ranges, null for zero.
void AddToDigest(ContentDigest* digest, const std::vector<ImportRange>& ranges,
                 uint64_t block_size, const std::function<const ChunkName*(size_t)>& name);

class ImageReadAhead {
 public:
  // `source` must outlive this object. Starts reading at once. With
  // `sha256`, hashes every byte of the image (ContentSha256).
  ImageReadAhead(BlockDevice& source, std::vector<ImportRange> ranges, size_t depth,
                 bool sha256);
  // Reads `stream` to its end in buffers of kImportBuffer, each one range
  // (the last padded to whole blocks of `block_size`, which must divide
  // kImportBuffer), and fails once it passes `max_bytes`.
  ImageReadAhead(ByteStream& stream, uint32_t block_size, uint64_t max_bytes, size_t depth,
                 bool sha256);
  // Stops the reader (after its current read) and waits for it.
  ~ImageReadAhead();
  ImageReadAhead(const ImageReadAhead&) = delete;
  ImageReadAhead& operator=(const ImageReadAhead&) = delete;

  struct Filled {
    std::vector<ImportRange> ranges;  // in plan order, at most kImportBuffer padded
    std::string bytes;                // their padded bytes, one after another
    // The ranges' bytes read from the image (without padding).
    uint64_t length() const;
  };
  // The next range's bytes, in order; nullopt after the last. A failed read
  // is returned here, in its turn, and ends the reading.
  absl::StatusOr<std::optional<Filled>> Next();
  // Hands a consumed buffer back for reuse.
  void Recycle(std::string buffer);
  // SHA-256 (hex) of the image's bytes with the unread ranges as zeroes;
  // empty unless asked for. REQUIRES: Next() returned nullopt.
  std::string ContentSha256();
  // The bytes a stream held. REQUIRES: Next() returned nullopt.
  uint64_t stream_length() const { return streamed_; }

 private:
  void ReadLoop();
  // Fills `filled` with the next ranges of the plan, or of the stream;
  // false when there are none left.
  absl::StatusOr<bool> FillFromImage(Filled* filled);
  absl::StatusOr<bool> FillFromStream(Filled* filled);

  BlockDevice* const source_ = nullptr;  // one of these two
  ByteStream* const stream_ = nullptr;
  const std::vector<ImportRange> ranges_;
  size_t next_range_ = 0;
  const uint32_t stream_block_size_ = 0;
  const uint64_t stream_max_bytes_ = 0;
  uint64_t streamed_ = 0;  // bytes read from the stream
  bool stream_ended_ = false;
  const size_t depth_;
  const bool sha256_;
  ContentHasher hasher_;  // used by the reader thread only, then by ContentSha256
  uint64_t hashed_ = 0;   // bytes of the image fed to hasher_

  absl::Mutex mu_;
  std::deque<absl::StatusOr<Filled>> ready_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> spare_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // the reader has finished
  std::thread reader_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_IMAGE_READ_AHEAD_H_
