#include "layers/sealed_layer.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"

namespace layerdisk {

namespace {
// Blocks past a read whose missing chunks join its fetch: a guest reading
// sequentially then waits for upstream once per 256 KiB, not per request.
constexpr uint64_t kReadAheadBlocks = 64;
}  // namespace

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
  if (fetching_) RETURN_IF_ERROR(FetchMissing(first, count));
  return chunks_->ReadMany(names, block_size_, out);
}

std::vector<ChunkName> SealedLayer::DistinctNames() const {
  absl::flat_hash_set<ChunkName> seen;
  std::vector<ChunkName> out;
  for (const auto& [index, seg] : segments_)
    for (const ChunkName& n : seg.names)
      if (seen.insert(n).second) out.push_back(n);
  return out;
}

void SealedLayer::FetchMissingFrom(std::shared_ptr<MissingChunkSource> source,
                                   std::string name) {
  fetching_ = true;
  source_ = std::move(source);
  name_ = std::move(name);
}

absl::Status SealedLayer::FetchMissing(uint64_t first, size_t count) const {
  const uint64_t end_block =
      std::min(first + count + kReadAheadBlocks, (size_ + block_size_ - 1) / block_size_);
  std::vector<ChunkName> wanted;
  absl::flat_hash_set<ChunkName> seen;
  size_t requested = 0;  // wanted[0, requested) are the read's own chunks
  for (uint64_t block = first; block < end_block; ++block) {
    if (block == first + count) requested = wanted.size();
    const ChunkName* name = NameOf(block);
    if (name != nullptr && seen.insert(*name).second) wanted.push_back(*name);
  }
  if (end_block <= first + count) requested = wanted.size();
  ASSIGN_OR_RETURN(std::vector<bool> present, chunks_->Contains(wanted));
  std::vector<ChunkName> missing;
  size_t missing_requested = 0;
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (present[i]) continue;
    missing.push_back(wanted[i]);
    if (i < requested) ++missing_requested;
  }
  // Read-ahead rides along with a fetch the read needs anyway; alone it
  // would only add upstream's latency to a read that has its chunks.
  if (missing_requested == 0) return absl::OkStatus();
  if (source_ == nullptr)
    return absl::UnavailableError(absl::StrFormat(
        "layer '%s' is still being fetched and this store has no upstream to fetch "
        "its missing chunks from (layerdisk serve --upstream)", name_));
  absl::Status fetched = source_->Fetch(name_, missing);
  // A bad read-ahead chunk rejects its whole batch: retry the read's own.
  // An upstream that does not answer would not answer the retry either (and
  // the guest would wait twice the read deadline).
  if (fetched.ok() || missing.size() == missing_requested || absl::IsUnavailable(fetched))
    return fetched;
  return source_->Fetch(name_, absl::MakeConstSpan(missing).subspan(0, missing_requested));
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
