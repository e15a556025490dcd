// StoreImpl: the Store behind engine/store.h. Private to engine/.
//
// Locking: mu_ guards the catalog (every read-modify-write of records), the
// registry of open volumes and the layer cache. Background work (sealing
// frozen heads, deleting layers) runs one task at a time under work_mu_,
// taking mu_ only for its final catalog commit. Order: work_mu_, then mu_,
// then a Volume's own lock, then ChunkStore's commit lock.
#ifndef LAYERDISK_ENGINE_STORE_IMPL_H_
#define LAYERDISK_ENGINE_STORE_IMPL_H_

#include <deque>
#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "dedupe/chunk_store.h"
#include "engine/catalog.h"
#include "engine/layer_exchange.h"
#include "engine/pool_catalog.h"
#include "engine/store.h"
#include "engine/volume.h"
#include "layers/head.h"
#include "layers/layer_writer.h"
#include "layers/merged_index.h"
#include "layers/missing_chunk_source.h"
#include "rocksdb/db.h"

namespace layerdisk {

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string dir, const StoreOptions& options)
      : dir_(std::move(dir)), options_(options), env_(options.env) {}
  ~StoreImpl() override;
  absl::Status Init();

  uint32_t chunk_size() const override { return format_.chunk_size; }
  const std::string& dir() const override { return dir_; }

  absl::StatusOr<ImportResult> ImportImage(const std::string& name,
                                           BlockDevice& source,
                                           const ImportOptions& options,
                                           const ProgressFn& progress) override;
  absl::StatusOr<ImportResult> ImportStream(const std::string& name, ByteStream& stream,
                                            const ImportOptions& options,
                                            const ProgressFn& progress) override;
  absl::StatusOr<std::vector<LayerInfo>> ListLayers() override;
  absl::StatusOr<LayerInfo> GetLayer(const std::string& name) override;
  absl::Status DeleteLayer(const std::string& name) override;
  using Store::SealVolume;
  absl::StatusOr<LayerInfo> SealVolume(const std::string& volume,
                                       const std::string& layer,
                                       const std::string& description) override;
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenLayer(
      const std::string& name) override;

  absl::StatusOr<LayerInfo> MergeLayers(const std::string& name,
                                        const std::vector<std::string>& layers,
                                        const std::string& description) override;
  absl::StatusOr<LayerInfo> FlattenVolume(const std::string& name,
                                          const std::string& volume,
                                          const std::optional<std::string>& snapshot,
                                          const std::string& description) override;
  absl::StatusOr<LayerInfo> SetLayerDescription(const std::string& name,
                                                const std::string& description) override;
  absl::StatusOr<RebaseReport> RebaseVolume(const std::string& volume,
                                            const std::vector<std::string>& layers,
                                            bool dry_run) override;
  absl::StatusOr<std::vector<RebaseReport>> RebaseAll(const std::string& from,
                                                      const std::string& to,
                                                      bool dry_run) override;

  absl::StatusOr<VolumeInfo> CreateVolume(const std::string& name,
                                          const std::vector<std::string>& layers,
                                          std::optional<uint64_t> size) override;
  absl::StatusOr<std::vector<VolumeInfo>> ListVolumes() override;
  absl::StatusOr<VolumeInfo> GetVolume(const std::string& name) override;
  absl::Status DeleteVolume(const std::string& name, bool force) override;
  absl::StatusOr<VolumeInfo> CloneVolume(const std::string& source,
                                         const std::optional<std::string>& snapshot,
                                         const std::string& target) override;
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenVolume(
      const std::string& name) override;

  absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& volume,
                                              const std::string& name) override;
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(
      const std::string& volume) override;
  absl::Status RollbackSnapshot(const std::string& volume,
                                const std::string& name, bool force) override;
  absl::Status DeleteSnapshot(const std::string& volume,
                              const std::string& name, bool force) override;
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenSnapshot(
      const std::string& volume, const std::string& name) override;

  absl::StatusOr<SnapshotSchedule> SetSnapshotSchedule(
      const SnapshotSchedule& schedule) override;
  absl::Status RemoveSnapshotSchedule(const std::string& volume) override;
  absl::StatusOr<std::vector<SnapshotSchedule>> ListSnapshotSchedules() override;
  absl::StatusOr<SnapshotInfo> CreateScheduledSnapshot(
      const std::string& volume, const std::string& name, uint64_t due_unix,
      uint64_t next_due_unix) override;

  absl::StatusOr<StoreStats> Stats() override;
  absl::StatusOr<GcResult> Gc() override;
  absl::StatusOr<std::vector<PoolLayerInfo>> ListPoolLayers() override;
  absl::StatusOr<std::vector<PoolStore>> ListPoolStores() override;
  absl::StatusOr<PoolForgetResult> ForgetPoolStore(const std::string& store_id) override;
  absl::StatusOr<FsckReport> Fsck(const ProgressFn& progress) override;
  absl::Status WaitForBackgroundWork() override;

  absl::StatusOr<DiffReport> DiffDevices(const std::string& from,
                                         const std::string& to) override;
  absl::StatusOr<ConflictReport> LayerConflicts(
      const std::string& first, const std::string& second,
      const std::optional<std::vector<std::string>>& base) override;
  absl::StatusOr<std::vector<StackConflict>> StackConflicts(
      const std::vector<std::string>& layers) override;
  absl::StatusOr<ProvenanceMap> MapLayers(const std::string& device) override;

 private:
  // Replication's view of the store (engine/store_exchange.cc).
  friend class StoreExchange;
  // Volumes as their snapshots (engine/store_volume_exchange.cc).
  friend class StoreVolumeExchange;
  enum class TaskKind { kSeal, kDelete, kCompact };
  struct Task {
    TaskKind kind;
    uint64_t layer;
  };

  // --- catalog helpers (REQUIRES mu_) ---
  CatalogReader catalog() { return CatalogReader(db_.get()); }
  uint64_t AllocateId(rocksdb::WriteBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Commit(rocksdb::WriteBatch* batch);
  absl::StatusOr<VolumeRecord> FindVolume(const std::string& name);
  absl::StatusOr<SnapshotRecord> FindSnapshot(const std::string& volume,
                                              const std::string& name);
  absl::StatusOr<LayerRecord> FindNamedLayer(const std::string& name);
  LayerRecord NewHeadRecord(uint64_t id, const VolumeRecord& v) const;
  // The live Volume object of `name`, if one is open.
  std::shared_ptr<Volume> OpenVolumeObject(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  using DeviceRegistry = std::map<std::string, std::weak_ptr<Volume>>;
  // Refuses (FailedPrecondition) if anyone holds the device `key` of
  // `registry` open, unless force, which detaches it. Either way the
  // registry forgets it. `what` names it in the error.
  absl::Status EvictDevice(DeviceRegistry* registry, const std::string& key,
                           const std::string& what, bool force, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status EvictVolume(const std::string& name, bool force,
                           const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return EvictDevice(&open_volumes_, name, "volume '" + name + "'", force, why);
  }
  // The same for the open snapshots of `volume` (only `name`, if given).
  absl::Status EvictSnapshots(const std::string& volume,
                              const std::optional<std::string>& name, bool force,
                              const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Freezes the volume's head (flushing it if open) and gives the volume a
  // new empty head, committing `extra` in the same batch. Updates `rec`.
  absl::Status FreezeHead(
      VolumeRecord* rec,
      const std::function<void(rocksdb::WriteBatch*, uint64_t changed)>& extra)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks every unnamed layer that no volume or snapshot uses for deletion.
  absl::Status DropUnreferencedLayers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<VolumeInfo> DescribeVolume(const VolumeRecord& rec);
  // Snapshot `name` of `volume` (marked `scheduled` if so), committing
  // `extra` in the same batch.
  absl::StatusOr<SnapshotInfo> TakeSnapshot(
      const std::string& volume, const std::string& name, bool scheduled,
      const std::function<void(rocksdb::WriteBatch*)>& extra)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  LayerInfo DescribeLayer(const LayerRecord& rec);
  // A fetching layer's progress: distinct chunks named, and those here.
  void DescribeFetchProgress(const LayerRecord& rec, LayerInfo* info)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The non-empty map segments of sealed layer `rec`, ascending
  // (store_volume_exchange.cc); DataLoss naming the layer when one is damaged.
  // Calls `fn` with each segment of layer `rec`'s map that maps a block, in
  // ascending order; DataLoss for a damaged one.
  absl::Status ForEachLayerSegment(const LayerRecord& rec,
                                   const std::function<void(uint64_t, MapSegment)>& fn);
  absl::StatusOr<std::vector<ManifestSegment>> ReadLayerSegments(const LayerRecord& rec);

  // --- comparing (store_diff.cc) ---
  // The device's Volume object (volume, snapshot or layer). REQUIRES: mu_ not held.
  absl::StatusOr<std::shared_ptr<Volume>> OpenComposed(const std::string& device);
  // The layer ids `rec` was captured on, lowest first: its recorded base
  // (layer metadata) or else its parent chain. FailedPrecondition when a
  // recorded base layer was deleted.
  absl::StatusOr<std::vector<uint64_t>> RecordedBase(const LayerRecord& rec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A name for the layer at a stack position of `device` (ProvenanceMap).
  std::string ProvenanceName(uint64_t id, const std::string& device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- layer operations (store_rebase.cc, store_merge.cc) ---
  // Checks that `base` (layer ids, lowest first) may replace rec's base
  // layers: no repeats, none of the volume's own layers, the old base's
  // virtual size, the depth limit. Cheap: no block is looked at.
  absl::Status CheckRebase(const VolumeRecord& rec, const std::vector<uint64_t>& base)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks, reports and (unless dry_run) commits and installs one rebase.
  absl::StatusOr<RebaseReport> RebaseLocked(const std::string& volume,
                                            const std::vector<uint64_t>& base,
                                            bool dry_run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RebaseReport> PlanRebase(const VolumeRecord& rec,
                                          const std::vector<uint64_t>& base,
                                          const std::shared_ptr<Head>& head)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers a new named layer being written (state kWriting) for seal,
  // merge and flatten; FinishNewLayer makes it live with the writer's map,
  // or, given an error, removes it and returns the error.
  absl::StatusOr<LayerRecord> BeginNewLayer(const std::string& name, uint64_t size,
                                            const std::string& source,
                                            const std::string& description)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<LayerInfo> FinishNewLayer(LayerRecord rec, LayerWriter* writer,
                                           absl::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- layer loading ---
  std::string HeadPath(uint64_t id) const;
  // The head's one live object while anything holds it, else a fresh one.
  absl::StatusOr<std::shared_ptr<Head>> OpenHead(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<const LayerView>> LoadLayer(uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<const Stack>> BuildStack(
      const std::vector<uint64_t>& ids) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- background work ---
  void Enqueue(TaskKind kind, uint64_t layer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerLoop();
  // Runs one queued task; false when none was queued.
  bool RunOneTask();
  absl::Status SealFrozenHead(uint64_t id);
  absl::Status DeleteLayerData(uint64_t id);
  // Merges adjacent anonymous layers that always appear together, until
  // none are left (store_compact.cc). REQUIRES: work_mu_ held.
  absl::Status CompactStacks();
  absl::StatusOr<bool> CompactOnePair();
  absl::Status Recover();
  // The ChunkBytes format_ names: the `chunks` family or a RADOS pool.
  // `claim` (a new store) claims a RADOS pool for this store alone.
  absl::StatusOr<std::unique_ptr<ChunkBytes>> OpenChunkBytes(bool claim);

  // --- a shared RADOS pool (store_pool.cc wraps these: docs/ceph.md) ---
  // The operations as on a store of its own; the public ones add what a
  // shared pool needs (publish, adopt, unpublish, sweep, pool usage).
  // Imports an image (`image`) or a raw stream (`stream`): one of the two.
  absl::StatusOr<ImportResult> ImportHere(const std::string& name, BlockDevice* image,
                                          ByteStream* stream, const ImportOptions& options,
                                          const ProgressFn& progress);
  // The content digest (dedupe/content_digest.h) layer `rec`'s map spells.
  absl::StatusOr<std::string> MapContentDigest(const LayerRecord& rec);
  absl::Status DeleteLayerHere(const std::string& name);
  absl::StatusOr<LayerInfo> SealVolumeHere(const std::string& volume, const std::string& layer,
                                           const std::string& description);
  absl::StatusOr<LayerInfo> MergeLayersHere(const std::string& name,
                                            const std::vector<std::string>& layers,
                                            const std::string& description);
  absl::StatusOr<LayerInfo> FlattenVolumeHere(const std::string& name, const std::string& volume,
                                              const std::optional<std::string>& snapshot,
                                              const std::string& description);
  absl::StatusOr<RebaseReport> RebaseVolumeHere(const std::string& volume,
                                                const std::vector<std::string>& layers,
                                                bool dry_run);
  absl::StatusOr<std::vector<RebaseReport>> RebaseAllHere(const std::string& from,
                                                          const std::string& to, bool dry_run);
  absl::StatusOr<VolumeInfo> CreateVolumeHere(const std::string& name,
                                              const std::vector<std::string>& layers,
                                              std::optional<uint64_t> size);
  absl::StatusOr<StoreStats> StatsHere();
  absl::StatusOr<GcResult> GcHere();
  // Publishes a new layer when the pool is shared (no-op otherwise).
  absl::Status PublishNew(const std::string& name);
  // The RADOS pool the chunks live in; FailedPrecondition for a store whose
  // chunks are its own.
  absl::StatusOr<SharedPool*> SharedPoolOrError();

  // --- layers still fetching (branch cache mode, store_fetching.cc) ---
  // The distinct chunks a fetching layer maps that the store lacks.
  absl::StatusOr<std::vector<ChunkName>> MissingChunksOf(const LayerRecord& rec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the complete map's references and clears the flag, atomically.
  absl::StatusOr<LayerInfo> CompleteFetching(const std::string& name);
  // Names of the live layers still fetching, parents first.
  absl::StatusOr<std::vector<std::string>> FetchingLayerNames();
  void SetMissingChunkSource(std::shared_ptr<MissingChunkSource> source);

  const std::string dir_;
  const StoreOptions options_;
  Env* const env_;
  FormatRecord format_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* maps_ = nullptr;
  rocksdb::ColumnFamilyHandle* heads_ = nullptr;
  rocksdb::ColumnFamilyHandle* chunks_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* refs_ = nullptr;
  std::unique_ptr<ChunkStore> chunks_;
  // Set when the chunks are in a RADOS pool shared with other stores.
  std::unique_ptr<PoolCatalog> pool_catalog_;

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  DeviceRegistry open_volumes_ ABSL_GUARDED_BY(mu_);
  DeviceRegistry open_snapshots_ ABSL_GUARDED_BY(mu_);  // by "VOLUME@SNAPSHOT"
  std::map<uint64_t, std::weak_ptr<const LayerView>> layer_cache_
      ABSL_GUARDED_BY(mu_);
  // A volume reopened while its previous object is still flushing in its
  // destructor (a file closed and opened again, an NBD client reconnecting)
  // must get that object's head, not one loaded from the map it has not
  // finished persisting: blocks written just before would read as holes.
  std::map<uint64_t, std::weak_ptr<Head>> open_heads_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> importing_ ABSL_GUARDED_BY(mu_);
  // Where reads of layers still fetching get their missing chunks
  // (branch cache mode; installed through LayerExchange).
  std::shared_ptr<MissingChunkSource> missing_source_ ABSL_GUARDED_BY(mu_);
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status background_error_ ABSL_GUARDED_BY(mu_);

  absl::Mutex work_mu_;  // held while one background task runs
  std::thread worker_;
};

// Milliseconds and seconds since the epoch.
uint64_t NowUnixMs();
uint64_t NowUnix();

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_STORE_IMPL_H_
