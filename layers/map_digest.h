// MapDigest: the content digest (dedupe/content_digest.h) a sealed layer's
// map spells: each data block's chunk name, every other block (a zero
// marker, or nothing mapped) as zeroes. For an imported layer it equals the
// digest the import recorded, so fsck and a store receiving the layer can
// check map and digest against each other without reading a chunk (fsck
// checks the chunks against their names).
//
// Not thread-safe.
#ifndef LAYERDISK_LAYERS_MAP_DIGEST_H_
#define LAYERDISK_LAYERS_MAP_DIGEST_H_

#include <cstdint>
#include <string>

#include "dedupe/content_digest.h"
#include "layers/map_segment.h"

namespace layerdisk {

class MapDigest {
 public:
  MapDigest(uint64_t layer_size, uint32_t block_size) : digest_(layer_size, block_size) {}

  // The map's segment `index`. REQUIRES: indexes ascend.
  void AddSegment(uint64_t index, const MapSegment& segment);
  // The digest; ends it.
  std::string Text() { return digest_.Text(); }

 private:
  ContentDigest digest_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_MAP_DIGEST_H_
