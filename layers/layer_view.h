// LayerView: what a volume's stack reads from, whichever way a layer is
// stored: a sealed chunk map (SealedLayer) or a frozen or live head (Head).
#ifndef LAYERDISK_LAYERS_LAYER_VIEW_H_
#define LAYERDISK_LAYERS_LAYER_VIEW_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "layers/map_segment.h"

namespace layerdisk {

// Thread-safe.
class LayerView {
 public:
  virtual ~LayerView() = default;

  virtual uint64_t id() const = 0;
  virtual uint32_t block_size() const = 0;
  // Bytes the layer spans. Its last block may be partial: past size() the
  // block shows the layers below.
  virtual uint64_t size() const = 0;
  // An opaque layer defines every byte below size(): where it has no block
  // it reads as zeroes and hides the layers below (an imported whole-disk
  // image). A delta layer (a head, a sealed capture) shows them.
  virtual bool opaque() const = 0;
  virtual BlockKind Kind(uint64_t block) const = 0;
  // Reads out.size() / block_size() consecutive blocks from `first`.
  // REQUIRES: each of them is kData in this layer.
  virtual absl::Status ReadData(uint64_t first, absl::Span<char> out) const = 0;
  // Calls fn for each segment holding any block, in ascending order, with a
  // copy of its states.
  virtual void ForEachSegment(
      const std::function<void(uint64_t segment, const BlockStates&)>& fn)
      const = 0;
  // Whether any block of `segment` is present (kData or kZero).
  virtual bool HasSegment(uint64_t segment) const = 0;
  virtual uint64_t data_blocks() const = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_LAYER_VIEW_H_
