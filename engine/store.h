// Store: one directory holding a layerdisk store (catalog, chunks, writable
// heads), and every operation an administrator performs on it.
//
// Thread-safe. One process owns a store at a time (RocksDB's lock file
// enforces it); a second Open of the same directory fails with Unavailable.
#ifndef LAYERDISK_ENGINE_STORE_H_
#define LAYERDISK_ENGINE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/block_device.h"
#include "common/byte_stream.h"
#include "common/env.h"
#include "common/layer_map.h"
#include "dedupe/chunk_bytes.h"
#include "dedupe/chunk_codec.h"
#include "dedupe/shared_pool.h"

namespace layerdisk {

struct StoreOptions {
  // Env for the store's own data files (writable heads). Not owned.
  Env* env = Env::Default();
  // Dedup granularity; used only when the store is created. A power of two
  // from 4 KiB to 1 MiB.
  uint32_t chunk_size = 4096;
  // Where chunk records live; used only when the store is created (the
  // format record keeps the choice). kRados needs `rados`.
  ChunkBackend chunks = ChunkBackend::kRocksDb;
  RadosTarget rados;
  // How new chunks are compressed; used only when the store is created (the
  // catalog keeps the choice).
  ChunkCompression compression = ChunkCompression::kZstd;
  bool create_if_missing = true;
  // Fail with AlreadyExists when the store exists (`layerdisk init`).
  bool error_if_exists = false;
  // Decompressed chunks kept in memory for hot reads (a boot storm); 0 for
  // none (a one-shot export reads each chunk once).
  uint64_t chunk_cache_bytes = 256ull << 20;
  // RocksDB's cache of the chunk index and reference-count blocks, which
  // every chunk read and every import's existence check searches.
  uint64_t index_cache_bytes = 64ull << 20;
  // Seal frozen heads (snapshots, clones) on a background thread. When false
  // they are sealed only by WaitForBackgroundWork(), which tests use to make
  // sealing happen at a chosen moment.
  bool background_sealing = true;
  // The shortest interval SetSnapshotSchedule accepts. Lower only for tests
  // and demos (`layerdisk serve --min-schedule-interval`).
  uint64_t min_schedule_interval_seconds = 60;
};

// Progress of a long operation: bytes done of total (0 when not known).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct LayerInfo {
  std::string name;  // empty for the anonymous layers snapshots freeze
  uint64_t id = 0;
  uint64_t size = 0;           // virtual size in bytes
  uint64_t logical_bytes = 0;  // bytes of data blocks it maps
  uint64_t created_unix = 0;
  bool sealed = false;  // false while a frozen head waits for sealing
  // "import:FILE", "seal:VOLUME", "merge:L1,L2", "flatten:VOLUME[@SNAP]"
  std::string source;
  std::string parent;   // a delta layer's parent layer; empty for whole disks
  std::string image_id; // the imported image's identifier (VHD/VHDX UUID), if any
  // Replicated lazily and still fetching: some chunks are not here yet
  // (docs/replication.md, "Branch cache mode").
  bool fetching = false;
  uint64_t fetch_chunks = 0;    // while fetching: distinct chunks its map names
  uint64_t fetched_chunks = 0;  // while fetching: how many of them are here
  std::string description;     // free text from the administrator
  // An imported layer's digest of the image's bytes as the import read them,
  // what it skipped (holes) counted as zeroes (dedupe/content_digest.h):
  // for a whole disk, what `layer digest` prints for the image file. Empty
  // for layers not imported.
  std::string content_digest;
  // The same bytes' plain SHA-256 (hex), when the import was asked for it
  // (ImportOptions::sha256): for a whole disk, `sha256sum` of its raw form.
  std::string content_sha256;
  // The layers it was captured on, lowest first: for a layer sealed from a
  // volume, the volume's base layers then. Names of deleted ones read "#ID".
  std::vector<std::string> base;
};

struct VolumeInfo {
  std::string name;
  uint64_t size = 0;
  std::vector<std::string> layers;  // named base layers, lowest first
  uint32_t depth = 0;               // layers in the stack, head included
  uint64_t head_bytes = 0;          // data written since the last snapshot
  uint64_t created_unix = 0;
  uint32_t snapshots = 0;
};

struct SnapshotInfo {
  std::string volume;
  std::string name;
  uint64_t created_unix_ms = 0;
  uint64_t changed_bytes = 0;  // data written between previous one and this
  bool scheduled = false;      // taken by a schedule, whose retention may delete it
};

// Snapshots of one volume taken every `every_seconds` (by the scheduler in
// `layerdisk serve`, engine/snapshot_scheduler.h), keeping the newest `keep`
// of them; snapshots taken by hand are never deleted by it.
struct SnapshotSchedule {
  std::string volume;
  uint64_t every_seconds = 0;
  uint32_t keep = 0;
  uint64_t next_due_unix = 0;  // when the next one is due (seconds since the epoch)
};
// The most scheduled snapshots one schedule keeps: each holds a layer of the
// volume's stack, which holds at most 255.
inline constexpr uint32_t kMaxScheduleKeep = 200;
// The longest interval between scheduled snapshots: a year.
inline constexpr uint64_t kMaxScheduleIntervalSeconds = 366ull * 24 * 3600;

// How an image becomes a layer.
struct ImportOptions {
  std::string origin;  // where the bytes came from; the layer's source is "import:" + origin
  // Empty: the image is a whole disk, an opaque layer (its holes read as
  // zero and hide the layers below). Otherwise the named layer the image is a
  // delta over (a differencing VHD/VHDX, a qcow2 overlay): the new layer maps
  // only the blocks the source's Map() does not report as holes (all-zero
  // ones as zero markers), reading them whole from the source, which must
  // therefore read as the composed image; everything else shows `parent`.
  std::string parent;
  // The image's own identifier (a VHD/VHDX UUID), recorded so that a
  // differencing child can be checked against the layer of its parent.
  std::string image_id;
  std::string description;  // the new layer's description
  // Also hash every byte with SHA-256 (content_sha256): costs a core at
  // ~2 GB/s over the image's virtual size, holes included.
  bool sha256 = false;
};

struct ImportResult {
  LayerInfo layer;
  uint64_t bytes_read = 0;    // image bytes examined (holes skipped)
  uint64_t new_chunks = 0;    // chunks not already in the store
  uint64_t new_stored_bytes = 0;
  double seconds = 0;
};

struct SpaceStats {
  std::string name;
  uint64_t logical_bytes = 0;  // bytes of data blocks mapped
  uint64_t unique_bytes = 0;   // uncompressed bytes of distinct chunks
  uint64_t stored_bytes = 0;   // compressed bytes of distinct chunks
  double dedup_ratio = 1;       // logical / unique
  double compression_ratio = 1; // unique / stored
};

// The store's cache of decompressed chunks (serve --chunk-cache): reads
// served from it and not, since the store was opened.
struct ChunkCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t bytes = 0;     // held now
  uint64_t capacity = 0;
};

// A RADOS pool the store shares with other stores (docs/ceph.md); the
// object and byte counts are the cluster's, as its monitors last heard.
struct PoolStats {
  std::string name;  // empty: the chunks are in the store's own RocksDB
  uint64_t objects = 0;
  uint64_t bytes = 0;
  uint64_t stores = 0;  // stores registered in the pool
  uint64_t layers = 0;  // layers published in its catalog
};

struct StoreStats {
  SpaceStats store;  // name is empty
  std::vector<SpaceStats> layers;
  uint64_t chunks = 0;
  uint64_t head_bytes = 0;  // bytes of disk used by writable heads
  // Stored bytes of chunks no layer references: gc removes them.
  uint64_t unreferenced_bytes = 0;
  // Blob files holding the chunk records (0 when they are in RADOS), and the
  // bytes of deleted chunks in them that gc has not rewritten yet
  // (dedupe/blob_gc_policy.h).
  uint64_t chunk_file_bytes = 0;
  uint64_t chunk_file_garbage_bytes = 0;
  ChunkCompression compression = ChunkCompression::kZstd;  // of new chunks
  ChunkCacheStats cache;
  PoolStats pool;
};

// A layer published in the shared pool's catalog.
struct PoolLayerInfo {
  std::string name;
  std::string published_by;  // "host:directory" of the store that published it
  bool here = false;         // this store holds a layer of that name
};

struct GcResult {
  uint64_t layers_removed = 0;
  uint64_t chunks_removed = 0;
  uint64_t bytes_reclaimed = 0;
  // Layers still fetching from an upstream (branch cache mode): while there
  // are any, chunks without references are kept, since the chunks fetched
  // so far have none until their layer completes.
  uint64_t fetching_layers = 0;
  // Deleted chunk bytes still on disk: blob files are rewritten only once
  // the oldest are a quarter garbage (dedupe/blob_gc_policy.h).
  uint64_t garbage_bytes_left = 0;
};

// Bytes [offset, offset + length) of a volume.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  friend bool operator==(const ByteRange& a, const ByteRange& b) {
    return a.offset == b.offset && a.length == b.length;
  }
};

// What a rebase of one volume changes (or, dry run, would change).
struct RebaseReport {
  std::string volume;
  std::vector<std::string> old_layers;  // base layers before, lowest first
  std::vector<std::string> new_layers;  // base layers after
  // Where the volume's own writes (head and snapshot layers above the base)
  // cover blocks whose content differs between the old and the new base:
  // the user's changes there may now conflict with the new layers. Whole
  // chunks, adjacent ones merged, ascending.
  std::vector<ByteRange> conflicts;
  bool applied = false;  // false for a dry run
};

struct FsckReport {
  uint64_t layers_checked = 0;
  uint64_t map_entries_checked = 0;
  uint64_t chunks_checked = 0;
  std::vector<std::string> problems;  // one line each, naming what is damaged
  bool ok() const { return problems.empty(); }
};

// --- Comparing layers and stacks (engine/store_diff.cc) -------------------
// (ranges are ByteRange, above)

// How two devices differ, block by block.
struct DiffReport {
  std::string from;  // device names (engine/device_names.h)
  std::string to;
  uint64_t size = 0;  // bytes compared: the larger device's size
  // Blocks whose content differs, merged where adjacent, clipped to size.
  // Past a smaller device's end it reads as zeroes.
  std::vector<ByteRange> ranges;
  uint64_t changed_bytes = 0;  // sum of the ranges' lengths
  // Bytes read to compare blocks whose chunk names could not decide (heads).
  uint64_t bytes_read = 0;
};

// Bytes two layers captured on the same base both change, differently.
struct ConflictReport {
  std::string first;
  std::string second;
  std::vector<std::string> base;  // the base stack, lowest first
  // "option" (given), "metadata" (the layers' recorded parent chain) or
  // "none" (no base known: an all-zero disk).
  std::string base_from;
  // Byte-precise: where first != base, second != base and first != second.
  std::vector<ByteRange> ranges;
  uint64_t conflicting_bytes = 0;
};

// Two layers of one stack that both map blocks, with different chunks: the
// upper one wins there.
struct StackConflict {
  std::string lower;
  std::string upper;  // the layer whose blocks the volume shows
  uint64_t blocks = 0;
  uint64_t bytes = 0;
};

// Which layer serves each extent of a device (`volume map`).
struct ProvenanceMap {
  std::string device;
  uint64_t size = 0;
  // Names by stack position, lowest first: layer names, and for anonymous
  // layers "(head)", "(snapshot S)", "(snapshot V@S)" or "(frozen #ID)".
  std::vector<std::string> layers;
  // extent.layer is 1 + an index into `layers`, 0 for a hole.
  std::vector<LayerExtent> extents;
};

class Store {
 public:
  // Opens (or, with create_if_missing, creates) the store in `dir`.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir,
                                                     const StoreOptions& options);
  // Flushes open volumes and waits for background work to stop.
  virtual ~Store() = default;

  virtual uint32_t chunk_size() const = 0;
  virtual const std::string& dir() const = 0;

  // --- Layers -------------------------------------------------------------
  // Imports `source` as a new sealed layer named `name`. Holes and all-zero
  // blocks cost nothing; chunks already in the store are not stored again.
  // On error nothing of the layer is left behind.
  absl::StatusOr<ImportResult> ImportLayer(const std::string& name,
                                           BlockDevice& source,
                                           const std::string& origin,
                                           const ProgressFn& progress) {
    return ImportImage(name, source, ImportOptions{origin, {}, {}, {}}, progress);
  }
  // The same, as a whole disk or as a delta over a parent layer (above).
  // The parent must exist and be no larger than the image; while a delta
  // layer exists its parent cannot be deleted.
  virtual absl::StatusOr<ImportResult> ImportImage(
      const std::string& name, BlockDevice& source, const ImportOptions& options,
      const ProgressFn& progress) = 0;
  // Imports the raw disk image `stream` holds, read once to its end (a
  // pipe: its size is known only there), as a new whole-disk layer, as
  // ImportImage does. options.parent must be empty. `progress` gets 0 as
  // the total.
  virtual absl::StatusOr<ImportResult> ImportStream(
      const std::string& name, ByteStream& stream, const ImportOptions& options,
      const ProgressFn& progress) = 0;
  virtual absl::StatusOr<std::vector<LayerInfo>> ListLayers() = 0;
  virtual absl::StatusOr<LayerInfo> GetLayer(const std::string& name) = 0;
  // Refused (FailedPrecondition) while a volume or snapshot uses the layer.
  virtual absl::Status DeleteLayer(const std::string& name) = 0;
  // Seals what `volume` holds above its named base layers (head and frozen
  // snapshot heads) into one new layer; base layers + new layer compose to
  // what the volume reads now. The volume itself is unchanged.
  absl::StatusOr<LayerInfo> SealVolume(const std::string& volume,
                                       const std::string& layer) {
    return SealVolume(volume, layer, "");
  }
  // The same, giving the new layer a description.
  virtual absl::StatusOr<LayerInfo> SealVolume(const std::string& volume,
                                               const std::string& layer,
                                               const std::string& description) = 0;
  // The layer alone, read-only (blocks it does not map read as holes).
  virtual absl::StatusOr<std::shared_ptr<BlockDevice>> OpenLayer(
      const std::string& name) = 0;

  // --- Layer operations (engine/store_rebase.cc, engine/store_merge.cc) ---
  // Collapses `layers` (lowest first) into one new sealed layer that reads,
  // alone or over other layers, as the stack of them does. Chunks are shared
  // by name, never copied: only the map is new. Sizes may differ only where
  // every layer ends on a chunk boundary.
  virtual absl::StatusOr<LayerInfo> MergeLayers(
      const std::string& name, const std::vector<std::string>& layers,
      const std::string& description) = 0;
  // One whole-disk layer reading as `volume` (at `snapshot` if given) reads
  // now. Like SealVolume, a live volume's head is frozen and sealed first
  // (so its blocks are chunked once); what the volume reads is unchanged.
  virtual absl::StatusOr<LayerInfo> FlattenVolume(
      const std::string& name, const std::string& volume,
      const std::optional<std::string>& snapshot,
      const std::string& description) = 0;
  // Replaces the layer's description.
  virtual absl::StatusOr<LayerInfo> SetLayerDescription(
      const std::string& name, const std::string& description) = 0;
  // Replaces the volume's base layers with `layers` (lowest first), keeping
  // its head and the snapshot layers above the base; an open volume reads
  // the new stack at once. The volume's existing snapshots keep the stacks
  // they were taken on. The new base must have the virtual size of the old
  // one. With `dry_run` only the report is made.
  virtual absl::StatusOr<RebaseReport> RebaseVolume(
      const std::string& volume, const std::vector<std::string>& layers,
      bool dry_run) = 0;
  // Rebases every volume whose base holds layer `from` onto the same base
  // with `to` in its place; one report per volume. Every volume is checked
  // before any is changed.
  virtual absl::StatusOr<std::vector<RebaseReport>> RebaseAll(
      const std::string& from, const std::string& to, bool dry_run) = 0;

  // --- Volumes ------------------------------------------------------------
  // Composes a writable volume over `layers` (lowest first) in O(1). `size`
  // defaults to the largest layer's size and may exceed it (thin).
  virtual absl::StatusOr<VolumeInfo> CreateVolume(
      const std::string& name, const std::vector<std::string>& layers,
      std::optional<uint64_t> size) = 0;
  virtual absl::StatusOr<std::vector<VolumeInfo>> ListVolumes() = 0;
  virtual absl::StatusOr<VolumeInfo> GetVolume(const std::string& name) = 0;
  // Refused while the volume or one of its snapshots is open elsewhere,
  // unless `force`.
  virtual absl::Status DeleteVolume(const std::string& name, bool force) = 0;
  // O(1): `target` shares every block of `source` (at `snapshot` if given).
  virtual absl::StatusOr<VolumeInfo> CloneVolume(
      const std::string& source, const std::optional<std::string>& snapshot,
      const std::string& target) = 0;
  // The volume as a read-write device. Every open of the same volume returns
  // the same object, so writes through one are visible through all.
  virtual absl::StatusOr<std::shared_ptr<BlockDevice>> OpenVolume(
      const std::string& name) = 0;

  // --- Snapshots ----------------------------------------------------------
  // O(1): flushes the volume and freezes its head; it is sealed later.
  virtual absl::StatusOr<SnapshotInfo> CreateSnapshot(
      const std::string& volume, const std::string& name) = 0;
  // Oldest first.
  virtual absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(
      const std::string& volume) = 0;
  // Makes the volume read exactly as at the snapshot; writes since are lost.
  // Refused while the volume is open elsewhere, unless `force`.
  virtual absl::Status RollbackSnapshot(const std::string& volume,
                                        const std::string& name,
                                        bool force) = 0;
  // Refused while the snapshot is open (a connected client, an open file),
  // unless `force`, which detaches the open device (its reads fail).
  virtual absl::Status DeleteSnapshot(const std::string& volume,
                                      const std::string& name, bool force) = 0;
  // Every open of the same snapshot returns the same object.
  virtual absl::StatusOr<std::shared_ptr<BlockDevice>> OpenSnapshot(
      const std::string& volume, const std::string& name) = 0;

  // --- Snapshot schedules -------------------------------------------------
  // Creates or replaces the schedule of `schedule.volume`, which must exist;
  // the caller sets when the first snapshot is due. Deleting the volume
  // deletes its schedule.
  virtual absl::StatusOr<SnapshotSchedule> SetSnapshotSchedule(
      const SnapshotSchedule& schedule) = 0;
  // NotFound when the volume has no schedule.
  virtual absl::Status RemoveSnapshotSchedule(const std::string& volume) = 0;
  // Every schedule, by volume name.
  virtual absl::StatusOr<std::vector<SnapshotSchedule>> ListSnapshotSchedules() = 0;
  // A snapshot taken by the volume's schedule, marked as scheduled. In the
  // same commit the schedule's next due time moves from `due_unix` to
  // `next_due_unix`, unless the schedule was changed or removed since it
  // was due, which is then left as it is.
  virtual absl::StatusOr<SnapshotInfo> CreateScheduledSnapshot(
      const std::string& volume, const std::string& name, uint64_t due_unix,
      uint64_t next_due_unix) = 0;

  // --- Maintenance --------------------------------------------------------
  virtual absl::StatusOr<StoreStats> Stats() = 0;
  // The layers published in the RADOS pool the store shares with others
  // (docs/ceph.md); empty for a store whose chunks are its own. A layer
  // listed here and not `here` is adopted by the first volume create or
  // rebase that names it.
  virtual absl::StatusOr<std::vector<PoolLayerInfo>> ListPoolLayers() = 0;
  // The stores registered in that pool. FailedPrecondition for a store
  // whose chunks are its own.
  virtual absl::StatusOr<std::vector<PoolStore>> ListPoolStores() = 0;
  // Forgets a store that is gone for good (SharedPool::ForgetStore): its
  // references leave every chunk object and the chunks only it held leave
  // the pool. A store still running when forgotten loses chunks.
  virtual absl::StatusOr<PoolForgetResult> ForgetPoolStore(const std::string& store_id) = 0;
  // Removes layers nothing references and chunks no layer references. Safe
  // while volumes are in use.
  virtual absl::StatusOr<GcResult> Gc() = 0;
  // Verifies the catalog, every map entry, every chunk's checksum and hash,
  // and the reference counts.
  virtual absl::StatusOr<FsckReport> Fsck(const ProgressFn& progress) = 0;
  // Seals every frozen head now; returns when none is left.
  virtual absl::Status WaitForBackgroundWork() = 0;

  // --- Comparing (engine/store_diff.cc) -------------------------------------
  // What differs between two devices ("VOLUME", "VOLUME@SNAP",
  // "layer:NAME"), as they read. Chunk names decide for sealed blocks; only
  // blocks in heads are read.
  virtual absl::StatusOr<DiffReport> DiffDevices(const std::string& from,
                                                 const std::string& to) = 0;
  // Where two layers both change the same bytes of `base` (layer names,
  // lowest first) differently. No base: the layers' recorded parent chain
  // if they have one, else an all-zero disk. Only the blocks each layer maps
  // count as its changes (an opaque layer's unmapped blocks do not).
  virtual absl::StatusOr<ConflictReport> LayerConflicts(
      const std::string& first, const std::string& second,
      const std::optional<std::vector<std::string>>& base) = 0;
  // Every pair of non-opaque layers of `layers` (a volume's stack, lowest
  // first) that both map a block with different chunks. Cheap: names only.
  virtual absl::StatusOr<std::vector<StackConflict>> StackConflicts(
      const std::vector<std::string>& layers) = 0;
  // The provenance of a whole device.
  virtual absl::StatusOr<ProvenanceMap> MapLayers(const std::string& device) = 0;
};

// The largest volume or layer. A writable head keeps block b at offset
// b * chunk_size of a sparse file, and ext4 ends a file at 16 TiB: 8 TiB
// keeps clear of that (and of any offset overflow), far past any desktop.
inline constexpr uint64_t kMaxVolumeSize = uint64_t{8} << 40;  // 8 TiB

// Names of layers, volumes and snapshots: 1-128 characters of [A-Za-z0-9._-],
// not starting with '.' or '-' (so "VOL@SNAP" and "layer:NAME" stay
// unambiguous and names are safe as file names).
absl::Status ValidateName(const std::string& kind, const std::string& name);

// Layer descriptions: at most kMaxDescription bytes of printable text (no
// control characters, so a listing stays one line per layer).
inline constexpr size_t kMaxDescription = 1024;
absl::Status ValidateDescription(const std::string& description);
// InvalidArgument unless `size` is a chunk size a store accepts.
absl::Status CheckChunkSize(uint32_t size);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_STORE_H_
