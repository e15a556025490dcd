// LayerWriter: writes a sealed layer's map, block by block in ascending
// order, storing new chunks and counting references as it goes. Every few
// segments it commits (unsynced; the final commit syncs, and RocksDB's WAL
// keeps order), so memory stays bounded for layers of any size. Until the
// caller's final records (the catalog entry that makes the layer live) commit
// in Finish(), the partial map is invisible; DeleteLayerMap() removes it.
// A writer made with CommitLog::kUnlogged (imports) commits around the WAL
// and flushes the memtables in Finish() before the final records; a caller
// that abandons it calls MakeDurable() before removing its partial map.
//
// Not thread-safe.
#ifndef LAYERDISK_LAYERS_LAYER_WRITER_H_
#define LAYERDISK_LAYERS_LAYER_WRITER_H_

#include <functional>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "dedupe/chunk_store.h"
#include "layers/map_segment.h"
#include "rocksdb/db.h"

namespace layerdisk {

class LayerWriter {
 public:
  LayerWriter(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* maps,
              ChunkStore* chunks, uint64_t id, uint32_t block_size,
              CommitLog log = CommitLog::kLogged)
      : db_(db), maps_(maps), batch_(chunks, log), id_(id), block_size_(block_size) {}

  // REQUIRES: block numbers strictly increase across all Add* calls.
  absl::Status AddData(uint64_t block, std::string_view data);
  // A block whose chunk was prepared (named, encoded) ahead, e.g. in
  // parallel with ChunkStore::Prepare.
  absl::Status AddPrepared(uint64_t block, PreparedChunk chunk);
  absl::Status AddZero(uint64_t block);
  // A block whose chunk is already stored (merging layers moves names only).
  absl::Status AddName(uint64_t block, const ChunkName& name);
  // Commits what is left together with the caller's records, durably.
  absl::Status Finish(
      const std::function<void(rocksdb::WriteBatch*)>& final_records);
  // After the last Add*: commits the map and its chunks and, for an
  // unlogged writer, makes them durable, so that Finish only has the final
  // records left (callers finishing under a lock call this before taking it).
  // Finish does it if the caller did not.
  absl::Status CompleteData();
  // Makes what was committed so far durable (ChunkBatch::MakeDurable).
  absl::Status MakeDurable() { return batch_.MakeDurable(); }

  uint64_t data_blocks() const { return data_blocks_; }
  uint64_t new_chunks() const { return batch_.new_chunks(); }
  uint64_t new_stored_bytes() const { return batch_.new_stored_bytes(); }

 private:
  absl::Status Advance(uint64_t block);
  void EmitSegment();
  void MapData(uint64_t block, const ChunkName& name);

  static constexpr int kSegmentsPerCommit = 8;
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const maps_;
  ChunkBatch batch_;
  const uint64_t id_;
  const uint32_t block_size_;
  std::optional<uint64_t> last_block_;
  std::optional<uint64_t> segment_;  // the one being filled
  MapSegment current_;
  int pending_segments_ = 0;
  bool data_complete_ = false;
  uint64_t data_blocks_ = 0;
};

// Names of chunks already given to one LayerWriter. Its commits go in
// order, so by the time a later block's commit runs, an earlier block with
// the same bytes is stored (by an earlier commit or in the same batch) and
// referenced by the writer, which GC cannot take away: the repeat needs
// neither a lookup nor a record. Bounded: when full it forgets everything,
// and a repeat costs a lookup again.
class WriterNames {
 public:
  // True when `name` was seen before; remembers it otherwise.
  bool Repeat(const ChunkName& name) {
    if (names_.contains(name)) return true;
    if (names_.size() >= kMaxNames) names_.clear();
    names_.insert(name);
    return false;
  }

 private:
  static constexpr size_t kMaxNames = size_t{1} << 18;  // ~10 MiB
  absl::flat_hash_set<ChunkName> names_;
};

// `count` consecutive blocks from block `first`.
struct BlockRun {
  uint64_t first = 0;
  uint64_t count = 0;
};

// Blocks named, looked up and encoded, ready for a LayerWriter: the CPU work
// of AddBlocksParallel, which an import does for one buffer while the
// previous one commits. The buffer's blocks are `runs` (ascending, not
// overlapping; their blocks one after another in `data`). `seen` (optional)
// holds the names the writer was given before these blocks; repeats within
// `data` are found without it.
struct PreparedBlocks {
  std::vector<BlockRun> runs;
  std::vector<std::optional<PreparedChunk>> chunks;  // nullopt: skipped
  bool mark_skipped_as_zero = false;
};
absl::StatusOr<PreparedBlocks> PrepareBlocks(
    ChunkStore* chunks, std::vector<BlockRun> runs, std::string_view data,
    uint32_t block_size, const std::function<bool(std::string_view)>& skip,
    bool mark_skipped_as_zero, WriterNames* seen = nullptr);
absl::Status AddPreparedBlocks(LayerWriter* writer, PreparedBlocks blocks);

// Adds `count` consecutive blocks from `first`, whose bytes are `data`
// (count * block_size), hashing and compressing them on every core. Blocks
// for which `skip` returns true are left out, or recorded as zero markers
// when `mark_skipped_as_zero` (a delta layer's zero blocks hide its parent).
// `seen` (optional) is the writer's WriterNames, as for PrepareBlocks.
absl::Status AddBlocksParallel(LayerWriter* writer, ChunkStore* chunks,
                               uint64_t first, std::string_view data,
                               uint32_t block_size,
                               const std::function<bool(std::string_view)>& skip,
                               bool mark_skipped_as_zero = false,
                               WriterNames* seen = nullptr);

// Deletes layer `id`'s map segments and drops their chunk references, a few
// segments per atomic commit (each commit consistent on its own, so a crash
// midway leaves a smaller, still-consistent map that a retry finishes).
// `holds_references` false: a map that holds none (a layer still fetching)
// is deleted without touching any count.
absl::Status DeleteLayerMap(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* maps,
                            ChunkStore* chunks, uint64_t id, bool holds_references = true);

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_LAYER_WRITER_H_
