// Chunk records in the store's own RocksDB (`chunks` column family, blob
// files): written in the caller's batch, so a chunk and the references to
// it commit atomically.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dedupe/blob_gc_policy.h"
#include "dedupe/chunk_bytes.h"
#include "dedupe/rocks_status.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

class RocksDbChunkBytes : public ChunkBytes {
 public:
  RocksDbChunkBytes(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* chunks)
      : db_(db), chunks_(chunks) {}

  void Put(const ChunkName& name, std::string_view record,
           rocksdb::WriteBatch* batch) override {
    batch->Put(chunks_, ToSlice(name.view()), ToSlice(record));
  }

  absl::Status Flush() override { return absl::OkStatus(); }

  std::vector<absl::StatusOr<std::string>> GetMany(
      absl::Span<const ChunkName* const> names) override {
    std::vector<rocksdb::Slice> keys;
    keys.reserve(names.size());
    for (const ChunkName* n : names) keys.push_back(ToSlice(n->view()));
    std::vector<rocksdb::PinnableSlice> values(names.size());
    std::vector<rocksdb::Status> statuses(names.size());
    db_->MultiGet(rocksdb::ReadOptions(), chunks_, keys.size(), keys.data(), values.data(),
                  statuses.data());
    std::vector<absl::StatusOr<std::string>> out;
    out.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      if (statuses[i].IsNotFound()) {
        out.push_back(absl::NotFoundError(absl::StrCat("chunk ", names[i]->Hex())));
      } else if (!statuses[i].ok()) {
        out.push_back(FromRocks(statuses[i], "read chunk"));
      } else {
        out.push_back(std::string(values[i].data(), values[i].size()));
      }
    }
    return out;
  }

  absl::Status DeleteMany(absl::Span<const ChunkName> names,
                          rocksdb::WriteBatch* batch) override {
    for (const ChunkName& name : names) batch->Delete(chunks_, ToSlice(name.view()));
    return absl::OkStatus();
  }

  absl::Status Reclaim() override {
    // First a compaction without blob garbage collection: it drops the dead
    // chunks' keys, so RocksDB counts the garbage in each blob file (and
    // deletes files that hold nothing else). Both passes include the
    // bottommost level, which RocksDB skips by default: the keys a deletion
    // hides, and the blob references to rewrite, are there.
    rocksdb::CompactRangeOptions drop;
    drop.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    drop.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kDisable;
    RETURN_IF_ERROR(
        FromRocks(db_->CompactRange(drop, chunks_, nullptr, nullptr), "compact chunks"));
    // Then, if any are worth it, the oldest files' live bytes move to new
    // files and the old ones go (dedupe/blob_gc_policy.h says which).
    std::vector<BlobFileUsage> usage;
    for (const rocksdb::BlobMetaData& file : BlobFilesOldestFirst())
      usage.push_back({file.total_blob_bytes, file.garbage_blob_bytes});
    const size_t rewrite = OldestBlobFilesToRewrite(usage);
    if (rewrite == 0) return absl::OkStatus();
    rocksdb::CompactRangeOptions gc;
    gc.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    gc.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
    gc.blob_garbage_collection_age_cutoff = BlobGcAgeCutoff(rewrite, usage.size());
    return FromRocks(db_->CompactRange(gc, chunks_, nullptr, nullptr), "rewrite blob files");
  }

  ChunkFileUsage FileUsage() override {
    ChunkFileUsage usage;
    for (const rocksdb::BlobMetaData& file : BlobFilesOldestFirst()) {
      usage.bytes += file.blob_file_size;
      usage.garbage_bytes += file.garbage_blob_bytes;
    }
    return usage;
  }

 private:
  std::vector<rocksdb::BlobMetaData> BlobFilesOldestFirst() {
    rocksdb::ColumnFamilyMetaData meta;
    db_->GetColumnFamilyMetaData(chunks_, &meta);
    std::sort(meta.blob_files.begin(), meta.blob_files.end(),
              [](const rocksdb::BlobMetaData& a, const rocksdb::BlobMetaData& b) {
                return a.blob_file_number < b.blob_file_number;
              });
    return std::move(meta.blob_files);
  }

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const chunks_;
};

}  // namespace

std::unique_ptr<ChunkBytes> NewRocksDbChunkBytes(rocksdb::DB* db,
                                                 rocksdb::ColumnFamilyHandle* chunks) {
  return std::make_unique<RocksDbChunkBytes>(db, chunks);
}

}  // namespace layerdisk
