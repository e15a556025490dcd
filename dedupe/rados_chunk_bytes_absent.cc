// OpenRadosChunkBytes of a build without librados (its headers or library
// were not found at configure time; scripts/install-deps installs them).
#include "absl/strings/str_cat.h"
#include "dedupe/chunk_bytes.h"

namespace layerdisk {

absl::StatusOr<std::unique_ptr<ChunkBytes>> OpenRadosChunkBytes(
    const RadosTarget& target, const std::string& /*claim_for*/) {
  return absl::FailedPreconditionError(absl::StrCat(
      "chunks in RADOS pool ", target.pool,
      " need librados, and this layerdisk was built without it"));
}

}  // namespace layerdisk
