// OpenRadosChunkBytes of a build without librados (its headers or library
// were not found at configure time; scripts/install-deps installs them).
#include "absl/strings/str_cat.h"
#include "dedupe/chunk_bytes.h"

namespace layerdisk {

absl::StatusOr<std::unique_ptr<ChunkBytes>> OpenRadosChunkBytes(const RadosOpen& open) {
  return absl::FailedPreconditionError(absl::StrCat(
      "chunks in RADOS pool ", open.target.pool,
      " need librados, and this layerdisk was built without it"));
}

}  // namespace layerdisk
