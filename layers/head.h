// Head: a writable layer. Block b's bytes live at offset b * block_size of a
// sparse data file (write in place after first allocation; thin for free);
// its state (absent, data, zero) lives in an in-memory allocation map that
// Flush() makes durable in the "heads" column family, one record per
// kSegmentBlocks blocks.
//
// Durability: Flush() syncs the data file before it commits the map pages
// that point at it, so a block's durable state never names bytes that did
// not reach the disk. Unflushed writes to a block whose durable state is
// absent or zero are invisible after a crash (the old content shows);
// unflushed overwrites of a data block may show, as on any disk.
//
// Thread-safe. Writers must not race on the same block (Volume serializes
// them with striped locks).
#ifndef LAYERDISK_LAYERS_HEAD_H_
#define LAYERDISK_LAYERS_HEAD_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/env.h"
#include "layers/layer_view.h"
#include "rocksdb/db.h"

namespace layerdisk {

class Head final : public LayerView {
 public:
  // Loads the allocation map of head `id` and opens (creating) its file.
  static absl::StatusOr<std::shared_ptr<Head>> Open(
      Env* env, const std::string& path, rocksdb::DB* db,
      rocksdb::ColumnFamilyHandle* heads, uint64_t id, uint32_t block_size,
      uint64_t size);

  uint64_t id() const override { return id_; }
  uint32_t block_size() const override { return block_size_; }
  uint64_t size() const override { return size_; }
  bool opaque() const override { return false; }
  BlockKind Kind(uint64_t block) const override;
  absl::Status ReadData(uint64_t first, absl::Span<char> out) const override;
  void ForEachSegment(const std::function<void(uint64_t, const BlockStates&)>&
                          fn) const override;
  bool HasSegment(uint64_t segment) const override;
  uint64_t data_blocks() const override;

  // Writes whole blocks from `first` and marks them data.
  absl::Status WriteData(uint64_t first, absl::Span<const char> data);
  // Marks `count` blocks from `first` zero and frees their space. `mask`
  // says, per block, whether it needs a marker (something below or here);
  // blocks that need none become absent.
  absl::Status WriteZero(uint64_t first, uint64_t count,
                         const std::function<bool(uint64_t)>& mask);
  // Makes every completed write durable.
  absl::Status Flush();
  // Disk space the data file occupies.
  uint64_t AllocatedBytes() const;
  const std::string& path() const { return path_; }

  // Adds deletion of head `id`'s map records to `batch`.
  static void DeleteRecords(rocksdb::WriteBatch* batch,
                            rocksdb::ColumnFamilyHandle* heads, uint64_t id);

 private:
  Head(std::string path, std::unique_ptr<RandomRWFile> file, rocksdb::DB* db,
       rocksdb::ColumnFamilyHandle* heads, uint64_t id, uint32_t block_size,
       uint64_t size)
      : path_(std::move(path)), file_(std::move(file)), db_(db), heads_(heads),
        id_(id), block_size_(block_size), size_(size) {}
  void SetStates(uint64_t first, uint64_t count,
                 const std::function<BlockKind(uint64_t)>& kind)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The load error of the first damaged page among blocks [first,
  // first + count), or OK.
  absl::Status CheckDamaged(uint64_t first, uint64_t count) const;

  const std::string path_;
  const std::unique_ptr<RandomRWFile> file_;
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const heads_;
  const uint64_t id_;
  const uint32_t block_size_;
  const uint64_t size_;
  // Serializes Flush() calls so pages commit in order.
  absl::Mutex flush_mu_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, BlockStates> pages_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> dirty_ ABSL_GUARDED_BY(mu_);
  uint64_t data_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  // Pages whose record did not decode, with why. Set once by Open. Their
  // blocks may have held anything, so they read and write as DataLoss
  // (never as the layers below), while the rest of the volume works.
  std::map<uint64_t, absl::Status> damaged_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_HEAD_H_
