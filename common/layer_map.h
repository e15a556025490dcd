// LayeredDevice: a BlockDevice composed of stacked layers that can say which
// layer serves each byte (per-extent provenance). `layerdisk volume map` and
// the NBD meta context layerdisk:layer report it; a frontend that is handed a
// device without it treats the whole device as one layer.
#ifndef LAYERDISK_COMMON_LAYER_MAP_H_
#define LAYERDISK_COMMON_LAYER_MAP_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace layerdisk {

enum class ExtentKind : uint8_t {
  kHole = 0,  // no layer has it: reads as zeroes, costs nothing
  kData = 1,  // the layer holds bytes for it
  kZero = 2,  // the layer marks it zero (masking the layers below)
};

const char* ExtentKindName(ExtentKind kind);  // "hole", "data", "zero"

// One run of a layered device's provenance map.
struct LayerExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  // 1 + the position of the serving layer in the stack, lowest first (the
  // writable head, if any, is last); 0 for a hole.
  uint32_t layer = 0;
  ExtentKind kind = ExtentKind::kHole;
};

struct LayerMap {
  // The id of the layer at each position (layer_ids[0] is position 1).
  std::vector<uint64_t> layer_ids;
  // In order, coalesced (neighbours differ in layer or kind), covering the
  // asked range exactly.
  std::vector<LayerExtent> extents;
};

// Thread-safe.
class LayeredDevice {
 public:
  virtual ~LayeredDevice() = default;
  // The provenance of [offset, offset + length), with the stack it refers
  // to taken at one instant. InvalidArgument past the device's end.
  virtual absl::StatusOr<LayerMap> MapLayers(uint64_t offset, uint64_t length) = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_LAYER_MAP_H_
