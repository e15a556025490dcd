// ChunkSource: where a receiver gets a layer's manifest and chunk records
// from. A pull reads them from an upstream server over gRPC
// (grpc_chunk_source.h); a push serves them from the pushing client over the
// Push stream (replication_service.cc). The receiver trusts neither: it
// checks every manifest and record itself.
#ifndef LAYERDISK_REPLICATION_CHUNK_SOURCE_H_
#define LAYERDISK_REPLICATION_CHUNK_SOURCE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dedupe/chunk_store.h"
#include "engine/layer_exchange.h"

namespace layerdisk {

// Receives one batch of records as it arrives; an error stops the fetch.
using RecordSink =
    std::function<absl::Status(std::vector<ChunkStore::ReceivedRecord> batch)>;

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // The manifest of `layer`; with header_only, no segments (header fields
  // and identity only). NotFound when the peer has no such layer for us.
  // `base` (optional): a layer the receiver holds, which the peer may send
  // the map relative to (proto: ManifestRequest.base).
  virtual absl::StatusOr<LayerManifest> GetManifest(const std::string& layer,
                                                    bool header_only,
                                                    const LayerManifest* base) = 0;
  // Fetches the records of `names`, chunks of `layer` or of a layer below
  // it, in batches of at most `batch` names, handing each batch to `sink`.
  // DataLoss when the peer sends a chunk not asked for or leaves one out.
  virtual absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names,
                             size_t batch, const RecordSink& sink) = 0;
  // Bytes of protocol messages sent and received so far, both ways.
  virtual uint64_t wire_bytes() const = 0;
};

// Checks that `got` holds exactly the records of `asked` (any order, once
// each), for sources to call on every batch.
absl::Status CheckBatchComplete(const std::string& layer, absl::Span<const ChunkName> asked,
                                const std::vector<ChunkStore::ReceivedRecord>& got);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_CHUNK_SOURCE_H_
