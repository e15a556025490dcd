#include "layers/map_digest.h"

#include <algorithm>

namespace layerdisk {

void MapDigest::AddSegment(uint64_t index, const MapSegment& segment) {
  const uint64_t first = index * kSegmentBlocks;
  const uint64_t total_blocks = digest_.total_blocks();
  if (first >= total_blocks) return;  // past the end: nothing the layer reads
  digest_.ZeroUpTo(first);
  const uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(kSegmentBlocks,
                                                                  total_blocks - first));
  for (uint32_t i = 0; i < count; ++i) {
    if (segment.states.Get(i) == BlockKind::kData) {
      digest_.AddBlock(segment.NameOf(i));
    } else {
      digest_.AddZeroBlocks(1);
    }
  }
}

}  // namespace layerdisk
