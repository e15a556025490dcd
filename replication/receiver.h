// The receiving side of replication: copies a sealed layer, and every layer
// below it that the local store lacks, from a ChunkSource into a local
// store, fetching only the chunks the store does not hold.
//
// Guarantees (docs/replication.md):
//  - every received record is verified (checksum, SHA-256 against its name)
//    before it is stored, and the manifest as a whole against its identity;
//  - a layer becomes visible only by one atomic commit once all its chunks
//    are stored; a failure at any point leaves no layer behind;
//  - resumable: received chunks are kept (unreferenced) when a transfer
//    stops, so running it again fetches only what is still missing;
//  - a local layer with the layer's name but other content is refused.
#ifndef LAYERDISK_REPLICATION_RECEIVER_H_
#define LAYERDISK_REPLICATION_RECEIVER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"
#include "replication/chunk_source.h"

namespace layerdisk {

struct ReplicateOptions {
  std::string origin;      // recorded as the new layers' source, "replicate:ORIGIN"
  ProgressFn progress;     // chunk bytes received of those to fetch
  size_t batch_chunks = 0; // names per fetch request; 0: about 1 MiB of blocks
  // Keep the average wire rate at or under this (a branch office link); 0: no limit.
  uint64_t max_bytes_per_second = 0;
  // Branch cache mode: commit the missing layers at once as fetching
  // (LayerExchange::BeginFetchingLayer) and fetch no chunks; a prefetch
  // (replication/prefetch.h) completes them. A layer already fetching here
  // counts as present.
  bool lazy = false;
};

struct ReplicateResult {
  std::vector<std::string> layers_created;  // lowest first
  bool up_to_date = false;     // the layer was already here with the same content
  uint64_t logical_bytes = 0;  // data blocks of the layers created, in bytes
  uint64_t chunks_fetched = 0;
  uint64_t record_bytes = 0;   // stored (compressed) bytes of those chunks
  uint64_t wire_bytes = 0;     // protocol bytes both ways (ChunkSource::wire_bytes)
  double seconds = 0;
};

absl::StatusOr<ReplicateResult> ReplicateLayer(ChunkSource& source, LayerExchange& local,
                                               const std::string& layer,
                                               const ReplicateOptions& options);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_RECEIVER_H_
