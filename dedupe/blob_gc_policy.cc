#include "dedupe/blob_gc_policy.h"

namespace layerdisk {

size_t OldestBlobFilesToRewrite(absl::Span<const BlobFileUsage> files, double min_garbage) {
  size_t rewrite = 0;
  uint64_t total = 0, garbage = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    total += files[i].total_bytes;
    garbage += files[i].garbage_bytes;
    if (garbage > 0 && static_cast<double>(garbage) >= min_garbage * static_cast<double>(total))
      rewrite = i + 1;
  }
  return rewrite;
}

double BlobGcAgeCutoff(size_t rewrite, size_t total) {
  if (total == 0 || rewrite >= total) return 1.0;
  // Half a file's worth past the boundary, so rounding cannot lose one.
  return (static_cast<double>(rewrite) + 0.5) / static_cast<double>(total);
}

}  // namespace layerdisk
