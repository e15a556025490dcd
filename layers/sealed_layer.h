// SealedLayer: an immutable block -> chunk map, loaded whole from the "maps"
// column family. Shared by every volume whose stack holds the layer.
#ifndef LAYERDISK_LAYERS_SEALED_LAYER_H_
#define LAYERDISK_LAYERS_SEALED_LAYER_H_

#include <map>
#include <memory>

#include "absl/status/statusor.h"
#include "dedupe/chunk_store.h"
#include "layers/layer_view.h"
#include "layers/missing_chunk_source.h"
#include "rocksdb/db.h"

namespace layerdisk {

class SealedLayer final : public LayerView {
 public:
  // A damaged segment does not fail the load: its blocks read as DataLoss.
  static absl::StatusOr<std::shared_ptr<SealedLayer>> Load(
      rocksdb::DB* db, rocksdb::ColumnFamilyHandle* maps, ChunkStore* chunks,
      uint64_t id, uint32_t block_size, uint64_t size, bool opaque);

  uint64_t id() const override { return id_; }
  uint32_t block_size() const override { return block_size_; }
  uint64_t size() const override { return size_; }
  bool opaque() const override { return opaque_; }
  BlockKind Kind(uint64_t block) const override;
  absl::Status ReadData(uint64_t first, absl::Span<char> out) const override;
  void ForEachSegment(const std::function<void(uint64_t, const BlockStates&)>&
                          fn) const override;
  bool HasSegment(uint64_t segment) const override {
    return segments_.count(segment) != 0 || damaged_.count(segment) != 0;
  }
  uint64_t data_blocks() const override { return data_blocks_; }

  // Each chunk its map names, once.
  std::vector<ChunkName> DistinctNames() const;
  // The chunk name of a kData block; nullptr if absent, zero or damaged.
  const ChunkName* NameOf(uint64_t block) const;
  // Marks the layer as still being replicated lazily: before a read, the
  // chunks it needs that the store lacks (and a little read-ahead) are
  // fetched from `source` under the layer's `name`, in one exchange. With a
  // null source such reads are Unavailable. Call before sharing the layer.
  void FetchMissingFrom(std::shared_ptr<MissingChunkSource> source, std::string name);
  bool fetching() const { return fetching_; }

  // Segments that failed to decode, with why.
  const std::map<uint64_t, absl::Status>& damaged() const { return damaged_; }

 private:
  SealedLayer(ChunkStore* chunks, uint64_t id, uint32_t block_size, uint64_t size,
              bool opaque)
      : chunks_(chunks), id_(id), block_size_(block_size), size_(size), opaque_(opaque) {}

  // Fetches the missing chunks of blocks [first, first + count) and of the
  // read-ahead after them.
  absl::Status FetchMissing(uint64_t first, size_t count) const;

  ChunkStore* const chunks_;
  const uint64_t id_;
  const uint32_t block_size_;
  const uint64_t size_;
  const bool opaque_;
  std::map<uint64_t, MapSegment> segments_;
  std::map<uint64_t, absl::Status> damaged_;
  uint64_t data_blocks_ = 0;
  bool fetching_ = false;
  std::shared_ptr<MissingChunkSource> source_;
  std::string name_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_SEALED_LAYER_H_
