// Volume's provenance map: which layer of its stack serves each extent.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "common/status_macros.h"
#include "engine/volume.h"

namespace layerdisk {

Composition Volume::composition() const {
  absl::ReaderMutexLock lock(&mu_);
  return Composition{stack_, head_, size_, block_size_};
}

absl::StatusOr<LayerMap> Volume::MapLayers(uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(CheckRange(offset, length));
  // One consistent stack for the whole answer; a snapshot taken meanwhile
  // installs a new one without disturbing this.
  const Composition c = composition();
  LayerMap map;
  absl::flat_hash_map<const LayerView*, uint32_t> position;
  for (const LayerView* layer : c.Layers()) {
    map.layer_ids.push_back(layer->id());
    position[layer] = static_cast<uint32_t>(map.layer_ids.size());
  }
  auto add = [&map](uint64_t off, uint64_t len, uint32_t layer, ExtentKind kind) {
    if (!map.extents.empty()) {
      LayerExtent& last = map.extents.back();
      if (last.layer == layer && last.kind == kind && last.offset + last.length == off) {
        last.length += len;
        return;
      }
    }
    map.extents.push_back({off, len, layer, kind});
  };
  const uint64_t bs = block_size_, end = offset + length;
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t b = pos / bs, segment = b / kSegmentBlocks;
    if (!c.Touches(segment)) {
      uint64_t seg_end = std::min(end, (segment + 1) * kSegmentBlocks * bs);
      add(pos, seg_end - pos, 0, ExtentKind::kHole);
      pos = seg_end;
      continue;
    }
    ResolvedBlock r = c.Resolve(b);
    uint32_t layer = 0;
    ExtentKind kind = ExtentKind::kHole;
    if (r.layer != nullptr) {
      layer = position[r.layer];
      // A block composed of several layers is credited to the topmost; it
      // may hold data from any of them (as base:allocation says).
      kind = r.kind == BlockKind::kZero && !r.composed ? ExtentKind::kZero
                                                       : ExtentKind::kData;
      // An opaque layer's partial tail block it does not map shows zeroes
      // up to its end and the layers below past it.
      if (r.kind == BlockKind::kAbsent && !r.composed) kind = ExtentKind::kZero;
    }
    uint64_t block_end = std::min(end, (b + 1) * bs);
    add(pos, block_end - pos, layer, kind);
    pos = block_end;
  }
  return map;
}

}  // namespace layerdisk
