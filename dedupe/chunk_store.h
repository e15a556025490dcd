// ChunkStore: chunks stored once, named by SHA-256, with reference counts.
//
// Chunk records live in a ChunkBytes (dedupe/chunk_bytes.h: by default one
// RocksDB column family with blob files, so compaction does not rewrite
// chunk bytes; or a RADOS pool), reference-count records in a RocksDB
// column family. Writers gather chunk puts, count changes and their own records
// (layer maps) in a ChunkBatch that commits atomically; garbage collection
// deletes chunks whose count is zero under the same commit lock, so a chunk
// is never deleted between a writer deciding it exists and referencing it.
//
// Thread-safe.
#ifndef LAYERDISK_DEDUPE_CHUNK_STORE_H_
#define LAYERDISK_DEDUPE_CHUNK_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "dedupe/chunk_bytes.h"
#include "dedupe/chunk_codec.h"
#include "dedupe/chunk_name.h"
#include "dedupe/refcount_merge.h"
#include "dedupe/shared_pool.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"

namespace layerdisk {

// A chunk named and, unless the store already had it, encoded: the CPU work
// of adding it, done ahead of (and in parallel with) the batch that adds it.
struct PreparedChunk {
  // stored_as_of for a chunk not known to be stored.
  static constexpr uint64_t kNotKnownStored = ~uint64_t{0};

  ChunkName name;
  std::string raw;     // the bytes, if the store had the chunk when prepared
  std::string record;  // the encoded record, if it did not
  // The ChunkStore::gc_generation() read before the lookup that found the
  // chunk stored: while it is current, the commit need not look again.
  uint64_t stored_as_of = kNotKnownStored;
};

// How a ChunkBatch's commits reach the disk.
enum class CommitLog {
  // Through RocksDB's write-ahead log: a synced commit is durable when it
  // returns. Every writer but an import.
  kLogged,
  // Into the memtables only, so chunk bytes are written once (to blob files
  // at flush) instead of twice (WAL, then blob file). Durable only after
  // ChunkBatch::MakeDurable; a crash before loses a suffix of the batch's
  // commits, consistently across column families (the store's RocksDB uses
  // atomic flush). For writers whose work is all-or-nothing: an import,
  // whose layer is removed when it fails or the store reopens after a crash.
  kUnlogged,
};

struct ChunkGcResult {
  uint64_t chunks_removed = 0;
  uint64_t bytes_reclaimed = 0;
  // Of all deleted chunks, the bytes still in files gc did not rewrite.
  uint64_t garbage_bytes_left = 0;
};

class ChunkStore {
 public:
  // `db` and `refs` must outlive the ChunkStore; `bytes` holds the records.
  // `families` lists every column family of `db`: unlogged commits are made
  // durable by flushing them all together, which needs `db` opened with
  // atomic_flush (without it, or without `families`, every commit is logged).
  // New chunks are encoded with `compression`. `cache_bytes` 0: no cache of
  // decompressed chunks (a one-shot reader of each chunk once, which a cache
  // would only slow down).
  ChunkStore(rocksdb::DB* db, std::unique_ptr<ChunkBytes> bytes,
             rocksdb::ColumnFamilyHandle* refs, uint64_t cache_bytes,
             std::vector<rocksdb::ColumnFamilyHandle*> families = {},
             ChunkCompression compression = ChunkCompression::kZstd);

  // Names `data` and encodes it if the store lacks it. Thread-safe.
  PreparedChunk Prepare(std::string_view data);
  // The same for a chunk already named, whose presence the caller looked
  // up (LookupMany): batching the lookups is what makes imports fast.
  // `gc_generation`: gc_generation() as read before that lookup.
  PreparedChunk Prepare(const ChunkName& name, std::string_view data, bool stored,
                        uint64_t gc_generation = PreparedChunk::kNotKnownStored) const;
  // Changes whenever GC has deleted chunks (after the deletion is written):
  // a chunk found stored after reading a generation that is still current
  // is still stored.
  uint64_t gc_generation() const { return gc_generation_.load(); }

  // Reads a chunk's uncompressed bytes; out.size() must be its length.
  // DataLoss when the record is missing or damaged.
  absl::Status Read(const ChunkName& name, absl::Span<char> out);
  // Reads names.size() chunks of `length` bytes each into consecutive
  // slices of `out`, fetching the uncached ones in one batch and decoding
  // them on every core (a sequential read of a sealed layer).
  absl::Status ReadMany(absl::Span<const ChunkName* const> names, size_t length,
                        absl::Span<char> out);
  // The stored record as is (compressed), for fsck and replication.
  absl::StatusOr<std::string> ReadRecord(const ChunkName& name);
  // The same for many chunks, in one batched lookup (replication's sender).
  absl::StatusOr<std::vector<std::string>> ReadRecords(absl::Span<const ChunkName> names);
  // Stores records received from another store (replication), each checked
  // first: its checksum, that it decodes to `raw_length` bytes, and that
  // those bytes' SHA-256 is its name (DataLoss naming the chunk otherwise;
  // then nothing of the call is stored). A chunk already present is left
  // as is. The new chunks start with zero references, exactly like the
  // chunks a deleted layer leaves behind: fsck-clean, and removed by a GC
  // that runs before a layer references them (a ChunkBatch that then adds
  // a reference fails with DataLoss, and the replicator fetches them again).
  // Unsynced: a later synced commit makes them durable (RocksDB's WAL keeps
  // order), and ones lost to a crash are simply fetched again.
  struct ReceivedRecord {
    ChunkName name;
    std::string record;
  };
  absl::Status IngestRecords(absl::Span<const ReceivedRecord> records,
                             uint32_t raw_length);
  // For a store sharing a RADOS pool: makes chunks that other stores put in
  // the pool this store's too (a reference of this store on each object,
  // then a local count of zero, as IngestRecords leaves received ones).
  // NotFound naming a chunk no longer in the pool. Chunks the store holds
  // are left as they are.
  absl::Status AdoptPooled(absl::Span<const ChunkName> names, uint32_t raw_length);
  // Releases the pool's references of this store that it does not hold
  // (left by a crash between a write to the pool and the local commit) and
  // removes objects no store references. Returns how many were removed.
  absl::StatusOr<uint64_t> SweepPool();
  // The pool shared with other stores; null when the records are local.
  SharedPool* shared_pool() const { return bytes_->shared_pool(); }

  // Reads of chunk bytes served from the decompressed-chunk cache and not.
  struct CacheStats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t bytes = 0;     // held now
    uint64_t capacity = 0;
  };
  CacheStats cache_stats() const;
  // Disk taken by the chunk records' files, and the deleted records in them.
  ChunkFileUsage file_usage() const { return bytes_->FileUsage(); }

  // Whether each chunk is stored (with any reference count).
  absl::StatusOr<std::vector<bool>> Contains(absl::Span<const ChunkName> names);
  // The reference-count record, or nullopt when the chunk is unknown.
  absl::StatusOr<std::optional<RefRecord>> Lookup(const ChunkName& name);
  // The same for many names in one batched read (much cheaper per name).
  absl::StatusOr<std::vector<std::optional<RefRecord>>> LookupMany(
      absl::Span<const ChunkName* const> names);
  // Calls fn for every reference-count record, in name order; stops early
  // when fn returns false.
  absl::Status ForEachChunk(
      const std::function<bool(const ChunkName&, const RefRecord&)>& fn);
  // Deletes every chunk whose count is zero or less, then compacts so the
  // space returns to the file system.
  absl::StatusOr<ChunkGcResult> CollectGarbage();

  rocksdb::DB* db() const { return db_; }
  // How new chunks are encoded.
  ChunkCompression compression() const { return compression_; }
  // Whether batches may commit unlogged (see CommitLog).
  bool SupportsUnloggedCommits() const { return !families_.empty(); }

 private:
  // Flushes every memtable to table and blob files (synced), atomically
  // across column families: what unlogged commits wrote becomes durable.
  absl::Status FlushMemtables();

  // Copies the cached bytes of `name` into `out`; false on a miss.
  bool ReadCached(const ChunkName& name, absl::Span<char> out);
  // Verifies and decodes a fetched record into `out` and caches it.
  absl::Status DecodeAndCache(const ChunkName& name, std::string_view record,
                              absl::Span<char> out);

  // The names the store has no record of (not even a zero count).
  absl::StatusOr<std::vector<ChunkName>> Unknown(absl::Span<const ChunkName> names);

  friend class ChunkBatch;
  // Fetches records, mapping a missing one to DataLoss naming the chunk.
  std::vector<absl::StatusOr<std::string>> FetchRecords(
      absl::Span<const ChunkName* const> names);

  rocksdb::DB* const db_;
  const std::unique_ptr<ChunkBytes> bytes_;
  rocksdb::ColumnFamilyHandle* const refs_;
  std::shared_ptr<rocksdb::Cache> cache_;  // decompressed chunks
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> cache_misses_{0};
  const std::vector<rocksdb::ColumnFamilyHandle*> families_;
  const ChunkCompression compression_;
  // Held from a writer's existence checks to its write, and by GC.
  absl::Mutex commit_mu_;
  std::atomic<uint64_t> gc_generation_{0};  // changed under commit_mu_
  // Chunks whose records an unlogged commit stored and no flush has made
  // durable yet. A logged commit that references one stores its record again
  // (the same bytes: records are content addressed), so a crash that loses
  // the unlogged commit cannot leave a durable reference to a lost record.
  absl::flat_hash_set<ChunkName> unlogged_chunks_ ABSL_GUARDED_BY(commit_mu_);
};

// One atomic change: new chunks, reference count changes, and the caller's
// own records. Not thread-safe; one per writer.
class ChunkBatch {
 public:
  // `log` kUnlogged falls back to kLogged where the store cannot flush
  // atomically (ChunkStore::SupportsUnloggedCommits).
  explicit ChunkBatch(ChunkStore* store, CommitLog log = CommitLog::kLogged)
      : store_(store),
        log_(log == CommitLog::kUnlogged && store->SupportsUnloggedCommits()
                 ? CommitLog::kUnlogged
                 : CommitLog::kLogged) {}

  // References the chunk holding `data`, storing it if new. Hashing and
  // compression happen here, outside the commit lock.
  ChunkName AddData(std::string_view data);
  // The same, for a chunk prepared by ChunkStore::Prepare.
  ChunkName AddPrepared(PreparedChunk chunk);
  // References a chunk that must already exist (checked at Commit).
  void AddRef(const ChunkName& name) { Change(name).delta += 1; }
  void DropRef(const ChunkName& name) { Change(name).delta -= 1; }
  // Where the caller puts its own records, committed with the chunks.
  rocksdb::WriteBatch* records() { return &records_; }

  // REQUIRES: !sync for an unlogged batch (its commits become durable only
  // through MakeDurable).
  absl::Status Commit(bool sync);
  // Makes every unlogged commit of this batch durable (flushes the store's
  // memtables); from then on the batch commits logged. A no-op for a logged
  // batch. Call it before a commit that makes the unlogged work visible
  // (and before undoing that work with logged commits).
  absl::Status MakeDurable();
  CommitLog log() const { return log_; }
  bool empty() const { return changes_.empty() && records_.Count() == 0; }

  // Totals over every Commit of this batch object.
  uint64_t new_chunks() const { return new_chunks_; }
  uint64_t new_stored_bytes() const { return new_stored_bytes_; }

 private:
  struct PendingChange {
    int64_t delta = 0;
    std::string raw;     // the bytes, if AddData saw the chunk as present
    std::string record;  // the encoded record, if AddData saw it missing
    uint64_t stored_as_of = PreparedChunk::kNotKnownStored;
  };
  PendingChange& Change(const ChunkName& name) { return changes_[name]; }
  // Fills change->record for a chunk an unlogged commit stored: from the
  // bytes the batch holds, else read back from the store.
  // REQUIRES: store_->commit_mu_ held.
  absl::Status RestoreUnloggedRecord(const ChunkName& name, PendingChange* change);

  ChunkStore* const store_;
  CommitLog log_;
  // Chunks this batch stored unlogged (in ChunkStore::unlogged_chunks_).
  std::vector<ChunkName> unlogged_stored_;
  absl::flat_hash_map<ChunkName, PendingChange> changes_;
  rocksdb::WriteBatch records_;
  uint64_t new_chunks_ = 0;
  uint64_t new_stored_bytes_ = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_CHUNK_STORE_H_
