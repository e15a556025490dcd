// ChunkBytes: where a store keeps its chunk records (the bytes
// dedupe/chunk_codec.h encodes), apart from the reference counts, which
// always stay in the local RocksDB.
//
// Two kinds: RocksDbChunkBytes (the `chunks` column family, written in the
// same WriteBatch as the references: the default) and RadosChunkBytes
// (dedupe/rados_chunk_bytes.h: one RADOS object per chunk, written before
// the batch that references it commits). Records are content addressed, so
// storing one twice, or from two hosts, stores the same bytes.
#ifndef LAYERDISK_DEDUPE_CHUNK_BYTES_H_
#define LAYERDISK_DEDUPE_CHUNK_BYTES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dedupe/chunk_name.h"
#include "rocksdb/db.h"

namespace layerdisk {

class SharedPool;

struct ChunkFileUsage {
  uint64_t bytes = 0;
  uint64_t garbage_bytes = 0;
};

class ChunkBytes {
 public:
  virtual ~ChunkBytes() = default;

  // Stores `record` as chunk `name`, durably by the time `batch` (the commit
  // that references it) is written: either inside the batch or out of band,
  // finished by Flush. `record` must stay valid until Flush returns.
  virtual void Put(const ChunkName& name, std::string_view record,
                   rocksdb::WriteBatch* batch) = 0;
  // Waits for the Puts not made through the batch. Called before the batch
  // is written, so no reference ever names a record that is not stored.
  virtual absl::Status Flush() = 0;
  // The records of `names`, in order: NotFound for a missing one, another
  // error (Unavailable for an unreachable pool) when the read failed.
  virtual std::vector<absl::StatusOr<std::string>> GetMany(
      absl::Span<const ChunkName* const> names) = 0;
  // Removes the records of `names` (a missing one is no error): inside
  // `batch`, or out of band before the call returns.
  virtual absl::Status DeleteMany(absl::Span<const ChunkName> names,
                                  rocksdb::WriteBatch* batch) = 0;
  // Returns the space of deleted records to the file system, where that
  // takes work (blob garbage collection); some may stay for a later call
  // (dedupe/blob_gc_policy.h), as FileUsage shows.
  virtual absl::Status Reclaim() = 0;
  // Disk the records' files take, and how much of that is deleted records
  // (blob garbage a later Reclaim may return). Zeroes where the records are
  // not in local files.
  virtual ChunkFileUsage FileUsage() { return {}; }
  // What the store shares with others through its pool (dedupe/shared_pool.h);
  // null for chunks kept in the store's own RocksDB.
  virtual SharedPool* shared_pool() { return nullptr; }
};

// The default: the `chunks` column family of the store's own RocksDB.
std::unique_ptr<ChunkBytes> NewRocksDbChunkBytes(rocksdb::DB* db,
                                                 rocksdb::ColumnFamilyHandle* chunks);

// Which ChunkBytes a store keeps its records in (its format record says).
enum class ChunkBackend : uint8_t {
  kRocksDb = 0,
  kRados = 1,
};

// Where a RADOS-backed store keeps its chunks (the format record holds it).
struct RadosTarget {
  std::string ceph_conf;  // path of the ceph.conf naming the monitors
  std::string pool;
  std::string user;       // Ceph client name without "client."; "admin" if empty
  // This store's name among the stores sharing the pool (16 hex digits,
  // random, made by `init`): the key of its references on chunk objects.
  std::string store_id;
};

// Connects to the pool. With `join` (a new store: `init`), registers the
// store in the pool first, creating the pool's layerdisk record when it is
// the first, and fails with FailedPrecondition when the pool holds stores
// of another chunk size. `chunk_size` is the store's; `where` names it
// (host and directory) for the other stores' error messages.
// FailedPrecondition also when this layerdisk was built without librados;
// NotFound for a missing pool; Unavailable when the cluster does not answer
// within the client timeouts.
struct RadosOpen {
  RadosTarget target;
  uint32_t chunk_size = 0;
  bool join = false;
  std::string where;
};
absl::StatusOr<std::unique_ptr<ChunkBytes>> OpenRadosChunkBytes(const RadosOpen& open);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_CHUNK_BYTES_H_
