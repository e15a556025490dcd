// Space accounting and garbage collection.
#include "absl/container/flat_hash_set.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"
#include "layers/sealed_layer.h"

namespace layerdisk {
namespace {

void FinishRatios(SpaceStats* s) {
  s->dedup_ratio = s->unique_bytes ? double(s->logical_bytes) / s->unique_bytes : 1.0;
  s->compression_ratio =
      s->stored_bytes ? double(s->unique_bytes) / s->stored_bytes : 1.0;
}

}  // namespace

absl::StatusOr<StoreStats> StoreImpl::StatsHere() {
  absl::MutexLock lock(&mu_);
  StoreStats stats;
  stats.compression = chunks_->compression();
  RETURN_IF_ERROR(chunks_->ForEachChunk([&](const ChunkName&, const RefRecord& r) {
    if (r.refs <= 0) {  // garbage awaiting gc
      stats.unreferenced_bytes += r.stored_length;
      return true;
    }
    ++stats.chunks;
    stats.store.unique_bytes += r.raw_length;
    stats.store.stored_bytes += r.stored_length;
    return true;
  }));
  ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, catalog().AllLayers());
  for (const LayerRecord& rec : layers) {
    if (rec.state != LayerState::kLive) continue;
    if (rec.kind == LayerKind::kHead) {
      absl::StatusOr<std::unique_ptr<RandomRWFile>> f =
          env_->OpenRW(HeadPath(rec.id), /*create=*/false);
      if (f.ok()) stats.head_bytes += (*f)->AllocatedBytes().value_or(0);
      continue;
    }
    stats.store.logical_bytes += rec.data_blocks * chunk_size();
    if (rec.name.empty()) continue;
    SpaceStats ls;
    ls.name = rec.name;
    ls.logical_bytes = rec.data_blocks * chunk_size();
    ASSIGN_OR_RETURN(auto view, LoadLayer(rec.id));
    auto sealed = std::dynamic_pointer_cast<const SealedLayer>(view);
    absl::flat_hash_set<ChunkName> seen;
    absl::Status status;
    sealed->ForEachSegment([&](uint64_t seg, const BlockStates& states) {
      for (uint32_t i = 0; i < kSegmentBlocks && status.ok(); ++i) {
        const ChunkName* name = sealed->NameOf(seg * kSegmentBlocks + i);
        if (name == nullptr || !seen.insert(*name).second) continue;
        absl::StatusOr<std::optional<RefRecord>> r = chunks_->Lookup(*name);
        if (!r.ok()) status = r.status();
        else if (r->has_value()) {
          ls.unique_bytes += (*r)->raw_length;
          ls.stored_bytes += (*r)->stored_length;
        }
      }
    });
    RETURN_IF_ERROR(status);
    FinishRatios(&ls);
    stats.layers.push_back(std::move(ls));
  }
  FinishRatios(&stats.store);
  return stats;
}

absl::StatusOr<GcResult> StoreImpl::GcHere() {
  GcResult result;
  {
    absl::MutexLock lock(&mu_);
    size_t before = tasks_.size();
    RETURN_IF_ERROR(DropUnreferencedLayers());
    result.layers_removed = tasks_.size() - before;
  }
  RETURN_IF_ERROR(WaitForBackgroundWork());
  {
    absl::MutexLock work(&work_mu_);
    RETURN_IF_ERROR(CompactStacks());
  }
  RETURN_IF_ERROR(WaitForBackgroundWork());  // deletes what compaction freed
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, catalog().AllLayers());
    for (const LayerRecord& rec : layers)
      if (rec.fetching && rec.state == LayerState::kLive) ++result.fetching_layers;
  }
  // Collecting now would throw away what the fetching layers have fetched
  // (a refetch of everything from upstream); their garbage waits for them.
  if (result.fetching_layers > 0) return result;
  ASSIGN_OR_RETURN(ChunkGcResult chunks, chunks_->CollectGarbage());
  result.chunks_removed = chunks.chunks_removed;
  result.bytes_reclaimed = chunks.bytes_reclaimed;
  result.garbage_bytes_left = chunks.garbage_bytes_left;
  return result;
}

}  // namespace layerdisk
