#include "engine/column_families.h"

#include "dedupe/refcount_merge.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"

namespace layerdisk {

namespace {

// Chunk keys are SHA-256 names: every import asks, per block, whether its
// chunk is stored, and for new data the answer is no. Bloom filters answer
// most of those from memory instead of a search of every memtable and SST
// level. Tables written without filters (older stores) still read.
void AddPointLookupFilters(const std::shared_ptr<rocksdb::Cache>& block_cache,
                           rocksdb::ColumnFamilyOptions* options) {
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  if (block_cache) table.block_cache = block_cache;
  options->table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options->memtable_whole_key_filtering = true;
  options->memtable_prefix_bloom_size_ratio = 0.05;
}

}  // namespace

std::vector<rocksdb::ColumnFamilyDescriptor> StoreColumnFamilies(
    const std::shared_ptr<rocksdb::Cache>& block_cache) {
  rocksdb::ColumnFamilyOptions catalog;
  rocksdb::ColumnFamilyOptions maps;
  maps.compression = rocksdb::kNoCompression;  // chunk names do not compress
  rocksdb::ColumnFamilyOptions heads;
  rocksdb::ColumnFamilyOptions chunks;
  // Chunks are compressed by us; blob files keep their bytes out of the LSM
  // tree so compaction moves keys, not data.
  chunks.compression = rocksdb::kNoCompression;
  chunks.enable_blob_files = true;
  chunks.min_blob_size = 512;
  chunks.blob_file_size = 256ull << 20;
  // No blob GC in background compactions: it would rewrite live chunk bytes
  // (the oldest quarter of blob files, garbage or not) while imports run.
  // gc reclaims space itself with a forced compaction (ChunkBytes::Reclaim).
  chunks.enable_blob_garbage_collection = false;
  chunks.write_buffer_size = 64ull << 20;
  AddPointLookupFilters(block_cache, &chunks);
  rocksdb::ColumnFamilyOptions refs;
  refs.merge_operator = NewRefCountMergeOperator();
  AddPointLookupFilters(block_cache, &refs);
  return {
      {rocksdb::kDefaultColumnFamilyName, catalog},
      {"maps", maps},
      {"heads", heads},
      {"chunks", chunks},
      {"refs", refs},
  };
}

rocksdb::DBOptions StoreDbOptions() {
  rocksdb::DBOptions options;
  options.max_background_jobs = 2;
  options.info_log_level = rocksdb::WARN_LEVEL;
  options.keep_log_file_num = 2;
  // A torn WAL tail (power cut mid-write) is expected; damage elsewhere in
  // the log must fail the open rather than silently drop what follows.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Imports commit without the WAL (CommitLog::kUnlogged): a flush of one
  // family must persist every family's memtable at the same point, or a
  // crash could keep a map segment whose reference counts were lost.
  options.atomic_flush = true;
  return options;
}

}  // namespace layerdisk
