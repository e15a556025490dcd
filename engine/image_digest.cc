#include "engine/image_digest.h"

#include <optional>
#include <vector>

#include "common/all_zero.h"
#include "common/parallel.h"
#include "common/status_macros.h"
#include "dedupe/content_digest.h"
#include "engine/image_read_ahead.h"

namespace layerdisk {

absl::StatusOr<ImageDigest> DigestImage(BlockDevice& source, uint32_t block_size, bool delta,
                                        bool sha256) {
  ASSIGN_OR_RETURN(std::vector<DeviceExtent> extents, source.Map(0, source.size()));
  ImageReadAhead reader(source,
                        PlanImportReads(extents, source.size(), block_size, kImportBuffer,
                                        /*keep_zero=*/delta),
                        kImportReadAhead, sha256);
  ContentDigest digest(source.size(), block_size);
  ImageDigest out;
  std::vector<std::optional<ChunkName>> names;
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<ImageReadAhead::Filled> filled, reader.Next());
    if (!filled) break;
    const std::string& bytes = filled->bytes;
    out.bytes_read += filled->length();
    names.assign(bytes.size() / block_size, std::nullopt);
    ParallelFor(names.size(), [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        std::string_view block(bytes.data() + i * block_size, block_size);
        if (!AllZero(block)) names[i] = NameChunk(block);
      }
    });
    AddToDigest(&digest, filled->ranges, block_size,
                [&](size_t i) { return names[i] ? &*names[i] : nullptr; });
    reader.Recycle(std::move(filled->bytes));
  }
  out.content_digest = digest.Text();
  out.content_sha256 = reader.ContentSha256();
  return out;
}

}  // namespace layerdisk
