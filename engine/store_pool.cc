// The Store operations as a store sharing a RADOS pool needs them
// (docs/ceph.md): new sealed layers are published, layers published by
// other stores are adopted on first use, a deleted layer leaves the pool's
// catalog, gc also sweeps the pool, stats show the pool. Each wraps the
// operation as on a store of its own (the ...Here methods) and calls the
// PoolCatalog outside the store's lock. A store with its own chunks only
// passes through.
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"

namespace layerdisk {

absl::Status StoreImpl::PublishNew(const std::string& name) {
  if (!pool_catalog_) return absl::OkStatus();
  return pool_catalog_->Publish(name);
}

absl::StatusOr<ImportResult> StoreImpl::ImportImage(const std::string& name,
                                                    BlockDevice& source,
                                                    const ImportOptions& options,
                                                    const ProgressFn& progress) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->CheckNameFree(name));
  ASSIGN_OR_RETURN(ImportResult result, ImportHere(name, &source, nullptr, options, progress));
  RETURN_IF_ERROR(PublishNew(name));
  return result;
}

absl::StatusOr<ImportResult> StoreImpl::ImportStream(const std::string& name,
                                                     ByteStream& stream,
                                                     const ImportOptions& options,
                                                     const ProgressFn& progress) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->CheckNameFree(name));
  ASSIGN_OR_RETURN(ImportResult result, ImportHere(name, nullptr, &stream, options, progress));
  RETURN_IF_ERROR(PublishNew(name));
  return result;
}

absl::StatusOr<LayerInfo> StoreImpl::SealVolume(const std::string& volume,
                                                const std::string& layer,
                                                const std::string& description) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->CheckNameFree(layer));
  ASSIGN_OR_RETURN(LayerInfo info, SealVolumeHere(volume, layer, description));
  RETURN_IF_ERROR(PublishNew(layer));
  return info;
}

absl::StatusOr<LayerInfo> StoreImpl::MergeLayers(const std::string& name,
                                                 const std::vector<std::string>& layers,
                                                 const std::string& description) {
  if (pool_catalog_) {
    RETURN_IF_ERROR(pool_catalog_->CheckNameFree(name));
    RETURN_IF_ERROR(pool_catalog_->AdoptMissing(layers));
  }
  ASSIGN_OR_RETURN(LayerInfo info, MergeLayersHere(name, layers, description));
  RETURN_IF_ERROR(PublishNew(name));
  return info;
}

absl::StatusOr<LayerInfo> StoreImpl::FlattenVolume(const std::string& name,
                                                   const std::string& volume,
                                                   const std::optional<std::string>& snapshot,
                                                   const std::string& description) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->CheckNameFree(name));
  ASSIGN_OR_RETURN(LayerInfo info, FlattenVolumeHere(name, volume, snapshot, description));
  RETURN_IF_ERROR(PublishNew(name));
  return info;
}

absl::StatusOr<RebaseReport> StoreImpl::RebaseVolume(const std::string& volume,
                                                     const std::vector<std::string>& layers,
                                                     bool dry_run) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->AdoptMissing(layers));
  return RebaseVolumeHere(volume, layers, dry_run);
}

absl::StatusOr<std::vector<RebaseReport>> StoreImpl::RebaseAll(const std::string& from,
                                                               const std::string& to,
                                                               bool dry_run) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->AdoptMissing({to}));
  return RebaseAllHere(from, to, dry_run);
}

absl::StatusOr<VolumeInfo> StoreImpl::CreateVolume(const std::string& name,
                                                   const std::vector<std::string>& layers,
                                                   std::optional<uint64_t> size) {
  if (pool_catalog_) RETURN_IF_ERROR(pool_catalog_->AdoptMissing(layers));
  return CreateVolumeHere(name, layers, size);
}

absl::Status StoreImpl::DeleteLayer(const std::string& name) {
  if (!pool_catalog_) return DeleteLayerHere(name);
  // The identity is taken first: the pool's entry goes only if it is this
  // layer's (another store may have published other content under the name
  // after this one was adopted and deleted there).
  absl::StatusOr<std::string> identity = pool_catalog_->Identity(name);
  RETURN_IF_ERROR(DeleteLayerHere(name));
  if (!identity.ok()) return absl::OkStatus();  // e.g. still fetching: never published
  return pool_catalog_->Unpublish(name, *identity);
}

absl::StatusOr<GcResult> StoreImpl::Gc() {
  ASSIGN_OR_RETURN(GcResult result, GcHere());
  ASSIGN_OR_RETURN(uint64_t swept, chunks_->SweepPool());
  result.chunks_removed += swept;
  return result;
}

absl::StatusOr<StoreStats> StoreImpl::Stats() {
  ASSIGN_OR_RETURN(StoreStats stats, StatsHere());
  ChunkStore::CacheStats cache = chunks_->cache_stats();
  stats.cache = {cache.hits, cache.misses, cache.bytes, cache.capacity};
  ChunkFileUsage files = chunks_->file_usage();
  stats.chunk_file_bytes = files.bytes;
  stats.chunk_file_garbage_bytes = files.garbage_bytes;
  if (SharedPool* pool = chunks_->shared_pool()) {
    ASSIGN_OR_RETURN(PoolUsage usage, pool->Usage());
    ASSIGN_OR_RETURN(std::vector<PoolLayer> layers, pool->ListLayers());
    stats.pool = {pool->pool_name(), usage.objects, usage.bytes, usage.stores, layers.size()};
  }
  return stats;
}

absl::StatusOr<std::vector<PoolLayerInfo>> StoreImpl::ListPoolLayers() {
  std::vector<PoolLayerInfo> out;
  if (!pool_catalog_) return out;
  ASSIGN_OR_RETURN(std::vector<PoolLayer> published, pool_catalog_->List());
  ASSIGN_OR_RETURN(std::vector<LayerInfo> local, ListLayers());
  absl::flat_hash_set<std::string> here;
  for (const LayerInfo& l : local) here.insert(l.name);
  for (const PoolLayer& p : published) out.push_back({p.name, p.published_by, here.contains(p.name)});
  return out;
}

absl::StatusOr<SharedPool*> StoreImpl::SharedPoolOrError() {
  SharedPool* pool = chunks_->shared_pool();
  if (pool == nullptr)
    return absl::FailedPreconditionError(absl::StrFormat(
        "store %s keeps its chunks itself; pool commands are for stores made with "
        "init --chunks rados",
        dir_));
  return pool;
}

absl::StatusOr<std::vector<PoolStore>> StoreImpl::ListPoolStores() {
  ASSIGN_OR_RETURN(SharedPool * pool, SharedPoolOrError());
  return pool->ListStores();
}

absl::StatusOr<PoolForgetResult> StoreImpl::ForgetPoolStore(const std::string& store_id) {
  ASSIGN_OR_RETURN(SharedPool * pool, SharedPoolOrError());
  return pool->ForgetStore(store_id);
}

}  // namespace layerdisk
