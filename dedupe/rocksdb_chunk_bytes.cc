// Chunk records in the store's own RocksDB (`chunks` column family, blob
// files): written in the caller's batch, so a chunk and the references to
// it commit atomically.
#include "absl/strings/str_cat.h"
#include "dedupe/chunk_bytes.h"
#include "dedupe/rocks_status.h"

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
    // Blob files hold the bytes: a forced compaction with blob garbage
    // collection rewrites the survivors and drops the dead ones.
    rocksdb::CompactRangeOptions co;
    co.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
    co.blob_garbage_collection_age_cutoff = 1.0;
    return FromRocks(db_->CompactRange(co, chunks_, nullptr, nullptr), "compact chunks");
  }

 private:
  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const chunks_;
};

}  // namespace

std::unique_ptr<ChunkBytes> NewRocksDbChunkBytes(rocksdb::DB* db,
                                                 rocksdb::ColumnFamilyHandle* chunks) {
  return std::make_unique<RocksDbChunkBytes>(db, chunks);
}

}  // namespace layerdisk
