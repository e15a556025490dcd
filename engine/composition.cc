#include "engine/composition.h"

#include <algorithm>

#include "layers/sealed_layer.h"

namespace layerdisk {

ResolvedBlock Composition::Resolve(uint64_t block) const {
  ResolvedBlock r;
  if (head) {
    BlockKind k = head->Kind(block);
    if (k != BlockKind::kAbsent) return {head.get(), k, false};
  }
  r.layer = stack->Find(block);
  if (r.layer == nullptr) return r;
  r.kind = r.layer->Kind(block);
  // Bytes past the device's own end are never read (as in Volume).
  r.composed = r.layer->size() < std::min(size, (block + 1) * block_size);
  return r;
}

bool Composition::Touches(uint64_t segment) const {
  return stack->HasSegment(segment) || (head && head->HasSegment(segment));
}

std::vector<const LayerView*> Composition::Layers() const {
  std::vector<const LayerView*> out;
  for (const auto& l : stack->layers()) out.push_back(l.get());
  if (head) out.push_back(head.get());
  return out;
}

const ChunkName* ChunkNameOf(const LayerView* layer, uint64_t block) {
  auto* sealed = dynamic_cast<const SealedLayer*>(layer);
  return sealed == nullptr ? nullptr : sealed->NameOf(block);
}

}  // namespace layerdisk
