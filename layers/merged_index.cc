#include "layers/merged_index.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace layerdisk {

absl::StatusOr<std::shared_ptr<const Stack>> Stack::Build(
    std::vector<std::shared_ptr<const LayerView>> layers) {
  if (layers.size() > kMaxStackDepth)
    return absl::InvalidArgumentError(absl::StrFormat(
        "a stack holds at most %d layers, not %d", kMaxStackDepth, layers.size()));
  auto stack = std::make_shared<Stack>();
  for (size_t i = 0; i < layers.size(); ++i) {
    layers[i]->ForEachSegment([&](uint64_t segment, const BlockStates& states) {
      SegmentOwner& entry = stack->index_[segment];
      if (entry.single < 0 && !entry.owner) {
        entry.single = static_cast<int>(i);
        return;
      }
      if (!entry.owner) {
        // A second layer has blocks here: expand to one owner per block.
        entry.owner.reset(new uint8_t[kSegmentBlocks]());
        const LayerView& below = *layers[entry.single];
        for (uint32_t b = 0; b < kSegmentBlocks; ++b) {
          if (below.Kind(segment * kSegmentBlocks + b) != BlockKind::kAbsent)
            entry.owner[b] = static_cast<uint8_t>(entry.single + 1);
        }
        entry.single = -1;
      }
      for (uint32_t b = 0; b < kSegmentBlocks; ++b) {
        if (states.Get(b) != BlockKind::kAbsent)
          entry.owner[b] = static_cast<uint8_t>(i + 1);
      }
    });
  }
  stack->layers_ = std::move(layers);
  return std::shared_ptr<const Stack>(std::move(stack));
}

const LayerView* Stack::Find(uint64_t block) const {
  auto it = index_.find(block / kSegmentBlocks);
  if (it == index_.end()) return nullptr;
  const SegmentOwner& entry = it->second;
  if (entry.owner) {
    uint8_t o = entry.owner[block % kSegmentBlocks];
    return o == 0 ? nullptr : layers_[o - 1].get();
  }
  const LayerView* layer = layers_[entry.single].get();
  return layer->Kind(block) == BlockKind::kAbsent ? nullptr : layer;
}

}  // namespace layerdisk
