// The store's RocksDB column families and their options, in one place: any
// code that opens a store's database must use exactly these, because WAL
// replay without the reference-count merge operator stops at the first
// merge and a read-write open would then persist the truncated state.
#ifndef LAYERDISK_ENGINE_COLUMN_FAMILIES_H_
#define LAYERDISK_ENGINE_COLUMN_FAMILIES_H_

#include <memory>
#include <vector>

#include "rocksdb/cache.h"
#include "rocksdb/db.h"

namespace layerdisk {

// Indexes into StoreColumnFamilies().
enum StoreFamily { kCatalogFamily = 0, kMapsFamily, kHeadsFamily, kChunksFamily, kRefsFamily };

// `block_cache` holds the chunk and reference-count tables' data blocks
// (null: RocksDB's default of 8 MiB per family). Every chunk read and every
// import's existence check searches those tables by a random name, so a
// store larger than a few GiB needs more than the default to keep the
// searches in memory.
std::vector<rocksdb::ColumnFamilyDescriptor> StoreColumnFamilies(
    const std::shared_ptr<rocksdb::Cache>& block_cache = nullptr);
rocksdb::DBOptions StoreDbOptions();

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_COLUMN_FAMILIES_H_
