// Layers replicated lazily (branch cache mode, docs/replication.md): a
// fetching layer's map is whole but holds no chunk references, and the
// store may lack some of the chunks it names. Here: its progress, its
// missing chunks, and the commit that completes it.
#include <algorithm>
#include <functional>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"
#include "layers/sealed_layer.h"

namespace layerdisk {

namespace {
// Chunk lookups per batched read: bounds the memory of one round.
constexpr size_t kLookupBatch = 8192;
}  // namespace

absl::StatusOr<std::vector<ChunkName>> StoreImpl::MissingChunksOf(const LayerRecord& rec) {
  if (!rec.fetching)
    return absl::FailedPreconditionError(
        absl::StrFormat("layer '%s' is complete, not fetching", rec.name));
  ASSIGN_OR_RETURN(std::shared_ptr<const LayerView> view, LoadLayer(rec.id));
  auto sealed = std::dynamic_pointer_cast<const SealedLayer>(view);
  if (sealed == nullptr)
    return absl::InternalError(absl::StrFormat("layer '%s' has no chunk map", rec.name));
  if (!sealed->damaged().empty())
    return absl::DataLossError(absl::StrFormat(
        "layer '%s': a map segment is damaged (run fsck)", rec.name));
  std::vector<ChunkName> names = sealed->DistinctNames();
  std::vector<ChunkName> missing;
  for (size_t i = 0; i < names.size(); i += kLookupBatch) {
    absl::Span<const ChunkName> part = absl::MakeConstSpan(names).subspan(i, kLookupBatch);
    ASSIGN_OR_RETURN(std::vector<bool> present, chunks_->Contains(part));
    for (size_t j = 0; j < part.size(); ++j)
      if (!present[j]) missing.push_back(part[j]);
  }
  return missing;
}

void StoreImpl::DescribeFetchProgress(const LayerRecord& rec, LayerInfo* info) {
  info->fetching = true;
  absl::StatusOr<std::shared_ptr<const LayerView>> view = LoadLayer(rec.id);
  if (!view.ok()) return;
  auto sealed = std::dynamic_pointer_cast<const SealedLayer>(*view);
  if (sealed == nullptr) return;
  info->fetch_chunks = sealed->DistinctNames().size();
  absl::StatusOr<std::vector<ChunkName>> missing = MissingChunksOf(rec);
  if (missing.ok()) info->fetched_chunks = info->fetch_chunks - missing->size();
}

absl::StatusOr<LayerInfo> StoreImpl::CompleteFetching(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
  if (!rec.fetching) return DescribeLayer(rec);
  ASSIGN_OR_RETURN(std::vector<ChunkName> missing, MissingChunksOf(rec));
  if (!missing.empty())
    return absl::FailedPreconditionError(absl::StrFormat(
        "layer '%s' still lacks %d chunks", name, missing.size()));
  ASSIGN_OR_RETURN(std::shared_ptr<const LayerView> view, LoadLayer(rec.id));
  auto sealed = std::dynamic_pointer_cast<const SealedLayer>(view);
  // One reference per data block, as a LayerWriter would have added, and
  // the flag cleared, in one atomic write: a crash leaves the layer either
  // fetching without references or complete with all of them. A chunk that
  // a GC removed since the check fails the commit (DataLoss); the caller
  // fetches it again.
  ChunkBatch batch(chunks_.get());
  sealed->ForEachSegment([&](uint64_t segment, const BlockStates& states) {
    for (uint32_t i = 0; i < kSegmentBlocks; ++i)
      if (states.Get(i) == BlockKind::kData)
        batch.AddRef(*sealed->NameOf(segment * kSegmentBlocks + i));
  });
  rec.fetching = false;
  batch.records()->Put(LayerKey(rec.id), EncodeLayer(rec));
  RETURN_IF_ERROR(batch.Commit(/*sync=*/true));
  // Later opens get a view that no longer looks for missing chunks.
  layer_cache_.erase(rec.id);
  return DescribeLayer(rec);
}

absl::StatusOr<std::vector<std::string>> StoreImpl::FetchingLayerNames() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, catalog().AllLayers());
  // Ids grow with creation, and a parent is committed before its deltas.
  std::sort(layers.begin(), layers.end(),
            [](const LayerRecord& a, const LayerRecord& b) { return a.id < b.id; });
  std::vector<std::string> names;
  for (const LayerRecord& l : layers)
    if (l.fetching && l.state == LayerState::kLive && !l.name.empty()) names.push_back(l.name);
  return names;
}

void StoreImpl::SetMissingChunkSource(std::shared_ptr<MissingChunkSource> source) {
  absl::MutexLock lock(&mu_);
  missing_source_ = std::move(source);
}

}  // namespace layerdisk
