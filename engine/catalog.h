// The catalog: records naming the store's layers, volumes and snapshots, in
// RocksDB's default column family (docs/format-store.md, "Catalog").
//
//   key                         value
//   "F"                         FormatRecord
//   "N"                         next object id, fixed64
//   "L" + id (8, big-endian)    LayerRecord
//   "l" + layer name            layer id (8, big-endian)
//   "V" + volume name           VolumeRecord
//   "S" + volume + "\0" + name  SnapshotRecord
//   "T" + volume name           ScheduleRecord (timed snapshots)
//   "C"                         chunk compression setting (absent: zstd)
//
// Every value ends with an XXH3-64 of the rest, seeded with kCatalogSeed
// plus the key's first byte, so a damaged record is DataLoss, never a guess.
#ifndef LAYERDISK_ENGINE_CATALOG_H_
#define LAYERDISK_ENGINE_CATALOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dedupe/chunk_bytes.h"
#include "dedupe/chunk_codec.h"
#include "rocksdb/db.h"

namespace layerdisk {

inline constexpr uint32_t kStoreFormatVersion = 1;
inline constexpr uint8_t kCatalogRecordVersion = 1;
inline constexpr uint64_t kCatalogSeed = 0x6c61796572646b00ull;  // "layerdk"

struct FormatRecord {
  uint32_t format_version = kStoreFormatVersion;
  uint32_t chunk_size = 4096;
  // Optional trailing fields (absent in records written before them, which
  // decode as chunks in the local RocksDB):
  ChunkBackend chunks = ChunkBackend::kRocksDb;
  RadosTarget rados;  // where the chunk records are, when chunks is kRados
};

enum class LayerKind : uint8_t {
  kSealed = 1,  // a chunk map in the "maps" column family
  kHead = 2,    // a head: data file + allocation map in "heads"
};

enum class LayerState : uint8_t {
  kLive = 0,
  kWriting = 1,   // being imported or merged; removed if the store reopens
  kDeleting = 2,  // being deleted; the deletion resumes if the store reopens
};

struct LayerRecord {
  uint64_t id = 0;
  std::string name;  // empty for anonymous layers (frozen snapshot heads)
  LayerKind kind = LayerKind::kSealed;
  LayerState state = LayerState::kLive;
  bool frozen = false;  // a head no volume writes to any more; to be sealed
  uint64_t size = 0;
  uint64_t data_blocks = 0;  // for sealed layers
  uint64_t created_unix = 0;
  std::string source;
  bool opaque = false;  // an imported whole-disk image (layers/layer_view.h)
  // Optional trailing fields (absent in records written before them):
  uint64_t parent = 0;   // a delta layer's parent layer id; 0 for none
  std::string image_id;  // identifier of the imported image (VHD/VHDX UUID)
  // Optional trailing field (absent in records written before it): a sealed
  // layer replicated lazily (branch cache mode). Its map is whole, but the
  // store may lack some of the chunks it names, and the map holds no chunk
  // references until the fetch completes (docs/format-store.md).
  bool fetching = false;
  // Optional trailing fields after `fetching` (layer metadata):
  std::string description;
  std::string content_sha256;  // hex; imported layers only
  std::vector<uint64_t> base;  // layers it was captured on, lowest first
  // Optional trailing field after the metadata group: an imported layer's
  // content digest (dedupe/content_digest.h); empty for others.
  std::string content_digest;
};

struct VolumeRecord {
  std::string name;
  uint64_t size = 0;
  std::vector<uint64_t> stack;  // layer ids under the head, lowest first
  uint32_t base_count = 0;      // stack[0, base_count) are named base layers
  uint64_t head = 0;            // the writable head's layer id
  uint64_t created_unix = 0;
};

struct SnapshotRecord {
  std::string volume;
  std::string name;
  uint64_t created_unix_ms = 0;
  std::vector<uint64_t> stack;  // the volume's layers at the snapshot
  uint64_t changed_bytes = 0;
  // Optional trailing field (absent in records written before it):
  bool scheduled = false;  // taken by a schedule; its retention may delete it
  // Optional trailing field after `scheduled`: how many of `stack` were the
  // volume's base layers. Absent in records written before rebases existed;
  // the volume's base_count was then still right for them (a rebase fills
  // it in).
  std::optional<uint32_t> base_count;
};

// A volume's snapshot schedule (engine/snapshot_scheduler.h).
struct ScheduleRecord {
  std::string volume;
  uint64_t every_seconds = 0;
  uint32_t keep = 0;           // scheduled snapshots kept; older ones are deleted
  uint64_t next_due_unix = 0;  // when the next scheduled snapshot is due
};

std::string LayerKey(uint64_t id);
std::string LayerNameKey(const std::string& name);
std::string VolumeKey(const std::string& name);
std::string SnapshotKey(const std::string& volume, const std::string& name);
std::string SnapshotPrefix(const std::string& volume);
std::string ScheduleKey(const std::string& volume);
inline constexpr char kFormatKey[] = "F";
inline constexpr char kNextIdKey[] = "N";
// Kept apart from the format record, whose layout older readers check
// strictly: they ignore this key and compress new chunks with zstd.
inline constexpr char kCompressionKey[] = "C";

std::string EncodeFormat(const FormatRecord& r);
std::string EncodeLayer(const LayerRecord& r);
std::string EncodeVolume(const VolumeRecord& r);
std::string EncodeSnapshot(const SnapshotRecord& r);
std::string EncodeSchedule(const ScheduleRecord& r);
std::string EncodeId(uint64_t id);
std::string EncodeCompression(ChunkCompression c);
absl::StatusOr<FormatRecord> DecodeFormat(std::string_view v);
absl::StatusOr<LayerRecord> DecodeLayer(std::string_view v);
absl::StatusOr<VolumeRecord> DecodeVolume(std::string_view v);
absl::StatusOr<SnapshotRecord> DecodeSnapshot(std::string_view v);
absl::StatusOr<ScheduleRecord> DecodeSchedule(std::string_view v);
absl::StatusOr<uint64_t> DecodeId(std::string_view v);
absl::StatusOr<ChunkCompression> DecodeCompression(std::string_view v);

// Typed reads of the catalog. NotFound when the key is absent.
class CatalogReader {
 public:
  CatalogReader(rocksdb::DB* db) : db_(db) {}
  absl::StatusOr<FormatRecord> Format();
  absl::StatusOr<LayerRecord> Layer(uint64_t id);
  absl::StatusOr<uint64_t> LayerIdByName(const std::string& name);
  absl::StatusOr<VolumeRecord> Volume(const std::string& name);
  absl::StatusOr<SnapshotRecord> Snapshot(const std::string& volume,
                                          const std::string& name);
  absl::StatusOr<ScheduleRecord> Schedule(const std::string& volume);
  absl::StatusOr<uint64_t> NextId();
  // The store's setting; kZstd for stores made before it existed.
  absl::StatusOr<ChunkCompression> Compression();
  // Whole-table scans, in key order. Damaged records are skipped and
  // described in damaged().
  absl::StatusOr<std::vector<LayerRecord>> AllLayers();
  absl::StatusOr<std::vector<VolumeRecord>> AllVolumes();
  // All snapshots, or those of one volume when `volume` is set.
  absl::StatusOr<std::vector<SnapshotRecord>> Snapshots(
      const std::optional<std::string>& volume);
  absl::StatusOr<std::vector<ScheduleRecord>> AllSchedules();
  const std::vector<std::string>& damaged() const { return damaged_; }

 private:
  absl::StatusOr<std::string> Get(const std::string& key);
  rocksdb::DB* const db_;
  std::vector<std::string> damaged_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_CATALOG_H_
