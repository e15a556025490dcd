// Stack and MergedIndex: the layers under a volume's head, lowest first, and
// one index saying which layer serves each block, built once when a stack is
// opened (as overlaybd does), so a read costs the same at depth 2 or 200.
//
// The index is per segment: where one layer alone has blocks of a segment it
// records that layer; where several do, one byte per block names the topmost
// one. A stack holds at most kMaxStackDepth layers.
#ifndef LAYERDISK_LAYERS_MERGED_INDEX_H_
#define LAYERDISK_LAYERS_MERGED_INDEX_H_

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "layers/layer_view.h"

namespace layerdisk {

inline constexpr size_t kMaxStackDepth = 255;

// Immutable once built; thread-safe. Layers may be opaque (an imported disk
// hides what is below it) and may end inside a block.
class Stack {
 public:
  static absl::StatusOr<std::shared_ptr<const Stack>> Build(
      std::vector<std::shared_ptr<const LayerView>> layers);

  // The layer serving `block`, or nullptr when no layer has it (a hole).
  // The layer may be an opaque one without the block (it reads as zero), or
  // one whose partial last block this is (see Volume).
  const LayerView* Find(uint64_t block) const;
  // Whether any layer has any block of `segment`.
  bool HasSegment(uint64_t segment) const { return index_.count(segment) != 0; }
  const std::vector<std::shared_ptr<const LayerView>>& layers() const {
    return layers_;
  }

 private:
  struct SegmentOwner {
    int single = -1;  // the only layer with blocks here, or -1
    std::unique_ptr<uint8_t[]> owner;  // per block: layer index + 1, 0 = none
  };
  // Gives `entry` a per-block owner array (from its single owner, if any).
  void Expand(SegmentOwner* entry, uint64_t segment) const;
  // Makes blocks [0, full_blocks) show no layer so far (an opaque layer
  // goes on top of them).
  void Hide(uint64_t full_blocks);
  // Puts layer i on top of the index.
  void Add(size_t i);

  std::vector<std::shared_ptr<const LayerView>> layers_;
  absl::flat_hash_map<uint64_t, SegmentOwner> index_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_MERGED_INDEX_H_
