#include "layers/sealed_layer.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"

namespace layerdisk {

absl::StatusOr<std::shared_ptr<SealedLayer>> SealedLayer::Load(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* maps, ChunkStore* chunks,
    uint64_t id, uint32_t block_size, uint64_t size, bool opaque) {
  std::shared_ptr<SealedLayer> layer(new SealedLayer(chunks, id, block_size, size, opaque));
  std::string begin = MapKey(id, 0), end = MapKey(id + 1, 0);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, maps));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    uint64_t layer_id, segment;
    if (!ParseMapKey({it->key().data(), it->key().size()}, &layer_id, &segment))
      continue;
    absl::StatusOr<MapSegment> seg =
        DecodeMapSegment(id, segment, {it->value().data(), it->value().size()});
    if (!seg.ok()) {
      layer->damaged_.emplace(segment, seg.status());
      continue;
    }
    layer->data_blocks_ += seg->names.size();
    layer->segments_.emplace(segment, *std::move(seg));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "load layer map"));
  return layer;
}

BlockKind SealedLayer::Kind(uint64_t block) const {
  uint64_t segment = block / kSegmentBlocks;
  auto it = segments_.find(segment);
  if (it != segments_.end()) return it->second.states.Get(block % kSegmentBlocks);
  // A damaged segment may have held any block: claim them all, so reads
  // report the loss instead of silently showing the layers below.
  return damaged_.count(segment) ? BlockKind::kData : BlockKind::kAbsent;
}

const ChunkName* SealedLayer::NameOf(uint64_t block) const {
  auto it = segments_.find(block / kSegmentBlocks);
  if (it == segments_.end()) return nullptr;
  uint32_t i = block % kSegmentBlocks;
  if (it->second.states.Get(i) != BlockKind::kData) return nullptr;
  return &it->second.NameOf(i);
}

absl::Status SealedLayer::ReadData(uint64_t first, absl::Span<char> out) const {
  const size_t count = out.size() / block_size_;
  std::vector<const ChunkName*> names(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t block = first + i;
    names[i] = NameOf(block);
    if (names[i] != nullptr) continue;
    auto bad = damaged_.find(block / kSegmentBlocks);
    if (bad != damaged_.end()) return bad->second;
    return absl::InternalError(absl::StrFormat("block %d is not data in layer %d", block, id_));
  }
  return chunks_->ReadMany(names, block_size_, out);
}

void SealedLayer::ForEachSegment(
    const std::function<void(uint64_t, const BlockStates&)>& fn) const {
  const BlockStates all_data = BlockStates::AllData();
  auto seg = segments_.begin();
  auto bad = damaged_.begin();
  // Merge the two ordered maps so segments come in ascending order.
  while (seg != segments_.end() || bad != damaged_.end()) {
    if (bad == damaged_.end() ||
        (seg != segments_.end() && seg->first < bad->first)) {
      fn(seg->first, seg->second.states);
      ++seg;
    } else {
      fn(bad->first, all_data);
      ++bad;
    }
  }
}

}  // namespace layerdisk
