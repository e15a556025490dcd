// Composition: what a volume, snapshot or layer device reads from at one
// instant (its stack and, for a writable volume, its head) and how a block
// resolves through it. Diff, conflicts and provenance walk it instead of
// reading bytes; it resolves blocks exactly as Volume's read path does.
//
// Immutable; thread-safe as far as its layers are (a live head may change
// under it, as it may under any reader).
#ifndef LAYERDISK_ENGINE_COMPOSITION_H_
#define LAYERDISK_ENGINE_COMPOSITION_H_

#include <memory>
#include <vector>

#include "layers/head.h"
#include "layers/merged_index.h"

namespace layerdisk {

class SealedLayer;

struct ResolvedBlock {
  const LayerView* layer = nullptr;  // null: a hole
  BlockKind kind = BlockKind::kAbsent;
  // The layer ends inside the block, so the block's bytes come from
  // several layers (Volume::ComposeBlock); only reading tells what it holds.
  bool composed = false;
};

struct Composition {
  std::shared_ptr<const Stack> stack;
  std::shared_ptr<Head> head;  // null for snapshots and layers
  uint64_t size = 0;
  uint32_t block_size = 0;

  ResolvedBlock Resolve(uint64_t block) const;
  // Whether any layer (head included) has a block of `segment`.
  bool Touches(uint64_t segment) const;
  // The layers lowest first, the head last.
  std::vector<const LayerView*> Layers() const;
  uint64_t blocks() const { return (size + block_size - 1) / block_size; }
};

// The chunk name of a block a sealed layer holds as data; nullptr for heads,
// holes, zero markers and damaged segments.
const ChunkName* ChunkNameOf(const LayerView* layer, uint64_t block);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_COMPOSITION_H_
