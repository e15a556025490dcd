// The value of a chunk's reference-count record (docs/format-store.md):
//
//   offset size field
//   0      8    references, signed, little-endian
//   8      4    raw_length of the chunk
//   12     4    stored_length (the chunk record's size)
//
// Counts change through RocksDB merges, so a layer's map records and the
// count changes they imply commit in one atomic WriteBatch without a read.
#ifndef LAYERDISK_DEDUPE_REFCOUNT_MERGE_H_
#define LAYERDISK_DEDUPE_REFCOUNT_MERGE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rocksdb/merge_operator.h"

namespace layerdisk {

inline constexpr size_t kRefRecordSize = 16;

struct RefRecord {
  int64_t refs = 0;
  uint32_t raw_length = 0;     // 0 in a pure count change
  uint32_t stored_length = 0;  // 0 in a pure count change
};

std::string EncodeRefRecord(const RefRecord& r);
std::optional<RefRecord> DecodeRefRecord(std::string_view bytes);

// Adds counts; keeps whichever lengths are set.
std::shared_ptr<rocksdb::MergeOperator> NewRefCountMergeOperator();

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_REFCOUNT_MERGE_H_
