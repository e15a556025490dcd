// Layer maps are stored in segments of kSegmentBlocks blocks, one RocksDB
// record each, so a damaged record costs the reads of its own blocks only
// and a layer loads with one sequential scan.
//
// Map segment record, key = layer id (8, big-endian) + segment (8, BE), in
// the "maps" column family (docs/format-store.md):
//
//   offset  size      field
//   0       1         kMapSegmentVersion
//   1       256       block states, 2 bits per block (BlockKind), block i at
//                     byte i/4, bits 2*(i%4)
//   257     32 * n    chunk names of the n kData blocks, in block order
//   end-8   8         XXH3-64 of everything before, seeded with
//                     RecordSeed(layer, segment), little-endian
//
// Head page record (the writable head's allocation map, "heads" column
// family, same key): version byte, the 256 state bytes, the checksum.
#ifndef LAYERDISK_LAYERS_MAP_SEGMENT_H_
#define LAYERDISK_LAYERS_MAP_SEGMENT_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dedupe/chunk_name.h"

namespace layerdisk {

inline constexpr uint32_t kSegmentBlocks = 1024;
inline constexpr uint8_t kMapSegmentVersion = 1;
inline constexpr uint8_t kHeadPageVersion = 1;
inline constexpr size_t kStateBytes = kSegmentBlocks / 4;

// What one layer says about one block.
enum class BlockKind : uint8_t {
  kAbsent = 0,  // not in this layer: look below
  kData = 1,    // this layer holds the block's bytes
  kZero = 2,    // reads as zeroes, masking the layers below
};

// The 2-bit states of one segment's blocks.
class BlockStates {
 public:
  BlockKind Get(uint32_t i) const {
    return static_cast<BlockKind>((bits_[i / 4] >> (2 * (i % 4))) & 3);
  }
  void Set(uint32_t i, BlockKind k) {
    uint8_t& b = bits_[i / 4];
    b = static_cast<uint8_t>((b & ~(3u << (2 * (i % 4)))) |
                             (static_cast<unsigned>(k) << (2 * (i % 4))));
  }
  // Every block kData: what a damaged segment claims, so that reads of its
  // blocks reach the layer and report the loss instead of showing below.
  static BlockStates AllData();
  bool Empty() const;
  uint32_t Count(BlockKind k) const;
  std::string_view bytes() const {
    return {reinterpret_cast<const char*>(bits_.data()), bits_.size()};
  }
  // False when a state is not a valid BlockKind.
  bool Load(std::string_view bytes);

 private:
  std::array<uint8_t, kStateBytes> bits_{};
};

// One decoded map segment of a sealed layer.
struct MapSegment {
  BlockStates states;
  std::vector<ChunkName> names;          // of kData blocks, in block order
  std::array<uint16_t, kSegmentBlocks> name_index{};  // block -> names[]

  const ChunkName& NameOf(uint32_t i) const { return names[name_index[i]]; }
};

std::string MapKey(uint64_t layer_id, uint64_t segment);
// Decodes a map or head key; false when it is not one.
bool ParseMapKey(std::string_view key, uint64_t* layer_id, uint64_t* segment);
uint64_t RecordSeed(uint64_t layer_id, uint64_t segment);

std::string EncodeMapSegment(uint64_t layer_id, uint64_t segment,
                             const MapSegment& seg);
absl::StatusOr<MapSegment> DecodeMapSegment(uint64_t layer_id, uint64_t segment,
                                            std::string_view record);

std::string EncodeHeadPage(uint64_t layer_id, uint64_t page,
                           const BlockStates& states);
absl::StatusOr<BlockStates> DecodeHeadPage(uint64_t layer_id, uint64_t page,
                                           std::string_view record);

}  // namespace layerdisk

#endif  // LAYERDISK_LAYERS_MAP_SEGMENT_H_
