// The store's RocksDB column families and their options, in one place: any
// code that opens a store's database must use exactly these, because WAL
// replay without the reference-count merge operator stops at the first
// merge and a read-write open would then persist the truncated state.
#ifndef LAYERDISK_ENGINE_COLUMN_FAMILIES_H_
#define LAYERDISK_ENGINE_COLUMN_FAMILIES_H_

#include <vector>

#include "rocksdb/db.h"

namespace layerdisk {

// Indexes into StoreColumnFamilies().
enum StoreFamily { kCatalogFamily = 0, kMapsFamily, kHeadsFamily, kChunksFamily, kRefsFamily };

std::vector<rocksdb::ColumnFamilyDescriptor> StoreColumnFamilies();
rocksdb::DBOptions StoreDbOptions();

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_COLUMN_FAMILIES_H_
