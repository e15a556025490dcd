// LayerExchange: what replication needs from a local store, beside the
// Store API: a sealed layer's manifest, stored chunk records as they are,
// which chunks the store holds, storing verified records received from a
// peer, and committing a layer from a manifest once every chunk is here.
//
// Only a store opened in this process offers it (GetLayerExchange returns
// null for a store reached over the control socket). Thread-safe.
#ifndef LAYERDISK_ENGINE_LAYER_EXCHANGE_H_
#define LAYERDISK_ENGINE_LAYER_EXCHANGE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dedupe/chunk_store.h"
#include "engine/store.h"
#include "layers/map_segment.h"
#include "layers/missing_chunk_source.h"

namespace layerdisk {

struct ManifestSegment {
  uint64_t index = 0;  // blocks [index * kSegmentBlocks, (index+1) * kSegmentBlocks)
  MapSegment map;
};

// A sealed layer as it travels: its record and its whole block -> chunk map.
struct LayerManifest {
  std::string name;
  uint64_t size = 0;
  uint32_t block_size = 0;
  bool opaque = false;
  std::string parent;  // a delta layer's parent layer name; empty for none
  std::string image_id;
  uint64_t data_blocks = 0;
  // SHA-256 over the content (ManifestIdentity): equal identities mean
  // layers that read the same, whatever their names or where they came from.
  std::string identity;
  // Layer metadata, carried along but not part of the identity: what an
  // administrator wrote about the layer, and an imported layer's content
  // digest and image SHA-256 (LayerInfo; empty for others).
  std::string description;
  std::string content_sha256;
  std::string content_digest;
  std::vector<ManifestSegment> segments;  // ascending index, none empty
};

// The content identity of `m`: SHA-256 over its size, block size, opacity,
// the identity of its parent (empty for none) and every segment's states and
// chunk names. Not its name, source or creation time.
std::string ManifestIdentity(const LayerManifest& m, const std::string& parent_identity);

// Checks that a received manifest is well formed: segments ascending and
// within the size, each segment's names matching its data blocks, the data
// block count adding up. InvalidArgument naming what is wrong.
absl::Status ValidateManifest(const LayerManifest& m);

class LayerExchange {
 public:
  virtual ~LayerExchange() = default;

  // The store's chunk size: layers travel only between stores that agree.
  virtual uint32_t chunk_size() const = 0;

  // The manifest of the live sealed layer `name` (identity filled in).
  // NotFound when there is none; FailedPrecondition while it is unsealed.
  virtual absl::StatusOr<LayerManifest> ExportLayerManifest(const std::string& name) = 0;
  // The named live layers (Store::ListLayers), e.g. to pick a base that
  // a new layer's manifest can be sent relative to.
  virtual absl::StatusOr<std::vector<LayerInfo>> ListLayers() = 0;
  // Stored chunk records, compressed as stored, in the order of `names`.
  // DataLoss when one is missing.
  virtual absl::StatusOr<std::vector<std::string>> ReadChunkRecords(
      absl::Span<const ChunkName> names) = 0;
  // For each name, whether the store holds that chunk.
  virtual absl::StatusOr<std::vector<bool>> HasChunks(absl::Span<const ChunkName> names) = 0;
  // Verifies and stores chunk records from a peer (ChunkStore::IngestRecords
  // says what is checked and why unreferenced chunks are GC-safe enough).
  virtual absl::Status IngestChunkRecords(
      absl::Span<const ChunkStore::ReceivedRecord> records) = 0;
  // Makes `m` a live sealed layer of this store in one atomic commit (a
  // failure leaves nothing visible). Its parent, if any, must already be
  // here, and the identity recomputed with the local parent's identity must
  // equal m.identity (FailedPrecondition otherwise). DataLoss when a chunk
  // it names is not stored. `origin` becomes the source "replicate:ORIGIN".
  virtual absl::StatusOr<LayerInfo> CommitLayerManifest(const LayerManifest& m,
                                                        const std::string& origin) = 0;

  // --- lazy replication (branch cache mode, docs/replication.md) ---
  // Makes `m` a live layer at once, before its chunks are here: the same
  // checks and atomic commit as CommitLayerManifest, but the layer is marked
  // fetching and its map holds no chunk references yet. Its parent may be
  // fetching too. Reads of chunks it lacks go to the MissingChunkSource.
  // DataLoss when the manifest does not match its identity over the local
  // parent (the receiver could not check it while that parent is fetching).
  virtual absl::StatusOr<LayerInfo> BeginFetchingLayer(const LayerManifest& m,
                                                       const std::string& origin) = 0;
  // The distinct chunks the fetching layer `name` maps that the store lacks
  // (FailedPrecondition when it is complete).
  virtual absl::StatusOr<std::vector<ChunkName>> MissingChunks(const std::string& name) = 0;
  // Once every chunk is here: adds the map's references and clears the
  // flag in one atomic commit. FailedPrecondition naming the count while
  // chunks are missing; DataLoss when a GC removed one meanwhile (fetch the
  // missing chunks again, then retry). A complete layer is simply described.
  virtual absl::StatusOr<LayerInfo> CompleteFetchingLayer(const std::string& name) = 0;
  // Names of the layers still fetching, parents before their deltas.
  virtual absl::StatusOr<std::vector<std::string>> FetchingLayers() = 0;
  // Where reads of fetching layers get missing chunks (for layers opened
  // from now on); null: such reads are Unavailable.
  virtual void SetMissingChunkSource(std::shared_ptr<MissingChunkSource> source) = 0;
};

// The exchange of a store opened in this process; null for a remote store.
// The exchange must not outlive `store`.
std::unique_ptr<LayerExchange> GetLayerExchange(Store* store);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_LAYER_EXCHANGE_H_
