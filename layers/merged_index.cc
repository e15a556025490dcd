#include "layers/merged_index.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace layerdisk {

void Stack::Expand(SegmentOwner* entry, uint64_t segment) const {
  if (entry->owner) return;
  entry->owner.reset(new uint8_t[kSegmentBlocks]());
  if (entry->single < 0) return;
  const LayerView& only = *layers_[entry->single];
  for (uint32_t b = 0; b < kSegmentBlocks; ++b) {
    if (only.Kind(segment * kSegmentBlocks + b) != BlockKind::kAbsent)
      entry->owner[b] = static_cast<uint8_t>(entry->single + 1);
  }
  entry->single = -1;
}

void Stack::Hide(uint64_t full_blocks) {
  for (auto& [segment, entry] : index_) {
    uint64_t first = segment * kSegmentBlocks;
    if (first >= full_blocks) continue;
    Expand(&entry, segment);
    uint64_t end = std::min<uint64_t>(full_blocks - first, kSegmentBlocks);
    std::memset(entry.owner.get(), 0, end);
  }
}

void Stack::Add(size_t i) {
  const LayerView& layer = *layers_[i];
  layer.ForEachSegment([&](uint64_t segment, const BlockStates& states) {
    SegmentOwner& entry = index_[segment];
    if (entry.single < 0 && !entry.owner) {
      entry.single = static_cast<int>(i);
      return;
    }
    Expand(&entry, segment);  // a second layer has blocks here
    for (uint32_t b = 0; b < kSegmentBlocks; ++b) {
      if (states.Get(b) != BlockKind::kAbsent)
        entry.owner[b] = static_cast<uint8_t>(i + 1);
    }
  });
  // A partial last block belongs to this layer even where it has no block,
  // so a read sees it and composes it with what lies below (Volume).
  const uint64_t bs = layer.block_size();
  if (layer.size() % bs != 0 && (layer.opaque() || layer.Kind(layer.size() / bs) != BlockKind::kAbsent)) {
    uint64_t tail = layer.size() / bs;
    SegmentOwner& entry = index_[tail / kSegmentBlocks];
    Expand(&entry, tail / kSegmentBlocks);
    entry.owner[tail % kSegmentBlocks] = static_cast<uint8_t>(i + 1);
  }
}

absl::StatusOr<std::shared_ptr<const Stack>> Stack::Build(
    std::vector<std::shared_ptr<const LayerView>> layers) {
  if (layers.size() > kMaxStackDepth)
    return absl::InvalidArgumentError(absl::StrFormat(
        "a stack holds at most %d layers, not %d", kMaxStackDepth, layers.size()));
  auto stack = std::make_shared<Stack>();
  stack->layers_ = std::move(layers);
  for (size_t i = 0; i < stack->layers_.size(); ++i) {
    const LayerView& layer = *stack->layers_[i];
    // An opaque layer hides everything below it within its whole blocks.
    if (layer.opaque()) stack->Hide(layer.size() / layer.block_size());
    stack->Add(i);
  }
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
