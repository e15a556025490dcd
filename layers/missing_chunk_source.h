// MissingChunkSource: where a layer that is still being replicated lazily
// (branch cache mode, docs/replication.md) gets the chunks its map names but
// the store does not hold yet. The engine only knows this interface; the
// server installs an implementation that fetches from its upstream
// (replication/upstream_fetcher.h), so layers/ and engine/ never depend on
// replication/.
#ifndef LAYERDISK_LAYERS_MISSING_CHUNK_SOURCE_H_
#define LAYERDISK_LAYERS_MISSING_CHUNK_SOURCE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "dedupe/chunk_name.h"

namespace layerdisk {

// Thread-safe: reads of several volumes call it at once.
class MissingChunkSource {
 public:
  virtual ~MissingChunkSource() = default;
  // Fetches the chunks `names`, mapped by the layer named `layer` (or a
  // layer below it), verifies every record exactly as a pull does
  // (ChunkStore::IngestRecords: checksum, decoded length, SHA-256 = name)
  // and stores it. On any error nothing unverified is stored: Unavailable
  // when the source cannot be reached, DataLoss when it sent bad data.
  virtual absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names) = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_MISSING_CHUNK_SOURCE_H_
