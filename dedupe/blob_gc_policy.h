// Which blob files `gc` rewrites. Chunk bytes live in RocksDB blob files;
// deleting chunks leaves garbage in them that only a rewrite of the files'
// live bytes gives back. RocksDB can rewrite just the oldest N files (a
// compaction's blob garbage collection age cutoff), so gc picks N:
//
//   the longest run of oldest files that is at least kBlobGcMinGarbage
//   garbage, by bytes.
//
// That bounds both costs. Each byte gc rewrites frees at least a third of a
// byte (garbage / rewritten >= 0.25 / 0.75), and after gc the files left
// alone are less than a quarter garbage, so the store's blob files are at
// most 1.33x its live chunk bytes. A store whose garbage sits in its newest
// files (a just-deleted layer) or is spread thin is not rewritten whole on
// every gc; the space comes back once enough has gathered. Files that are
// all garbage RocksDB deletes by itself, with no rewrite.
#ifndef LAYERDISK_DEDUPE_BLOB_GC_POLICY_H_
#define LAYERDISK_DEDUPE_BLOB_GC_POLICY_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace layerdisk {

inline constexpr double kBlobGcMinGarbage = 0.25;

struct BlobFileUsage {
  uint64_t total_bytes = 0;
  uint64_t garbage_bytes = 0;
};

// How many of the oldest files to rewrite; `files` are oldest first.
size_t OldestBlobFilesToRewrite(absl::Span<const BlobFileUsage> files,
                                double min_garbage = kBlobGcMinGarbage);

// The age cutoff that makes RocksDB rewrite exactly the `rewrite` oldest of
// `total` files: it rewrites the floor(cutoff * total) oldest.
double BlobGcAgeCutoff(size_t rewrite, size_t total);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_BLOB_GC_POLICY_H_
