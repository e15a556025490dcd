// The comparisons behind Store::DiffDevices, LayerConflicts and
// StackConflicts, over compositions and layers already loaded, so they run
// without the store's lock. Chunk names decide wherever both sides are
// sealed (equal name = equal bytes, SHA-256); bytes are read only where a
// name cannot decide (heads, composed tail blocks) or, for conflicts, where
// byte precision is asked for.
#ifndef LAYERDISK_ENGINE_LAYER_COMPARE_H_
#define LAYERDISK_ENGINE_LAYER_COMPARE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/block_device.h"
#include "engine/composition.h"
#include "engine/store.h"

namespace layerdisk {

// Appends [offset, offset + length) to `ranges`, merging with the last range
// when they touch. REQUIRES: offset >= the last range's end.
void AppendRange(std::vector<ByteRange>* ranges, uint64_t offset, uint64_t length);

// Fills report->ranges, changed_bytes, bytes_read and size. `*_device`
// reads what its composition describes.
absl::Status DiffCompositions(const Composition& from, BlockDevice& from_device,
                              const Composition& to, BlockDevice& to_device,
                              DiffReport* report);

// Byte ranges where `first` and `second` both change `base` (null: an
// all-zero disk) and disagree with each other. Only bytes below both
// layers' ends count.
absl::StatusOr<std::vector<ByteRange>> ConflictingBytes(const LayerView& first,
                                                        const LayerView& second,
                                                        BlockDevice* base);

// Blocks both layers map (data or zero) with different content as far as
// chunk names tell (a block damaged in either counts as different).
uint64_t OverlappingBlocks(const LayerView& lower, const LayerView& upper);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_LAYER_COMPARE_H_
