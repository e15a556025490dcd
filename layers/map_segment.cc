#include "layers/map_segment.h"

#include "absl/strings/str_format.h"
#include "common/checksum.h"
#include "common/coding.h"

namespace layerdisk {

BlockStates BlockStates::AllData() {
  BlockStates all;
  for (uint32_t i = 0; i < kSegmentBlocks; ++i) all.Set(i, BlockKind::kData);
  return all;
}

bool BlockStates::Empty() const {
  for (uint8_t b : bits_)
    if (b != 0) return false;
  return true;
}

uint32_t BlockStates::Count(BlockKind k) const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < kSegmentBlocks; ++i) n += Get(i) == k;
  return n;
}

bool BlockStates::Load(std::string_view bytes) {
  if (bytes.size() != kStateBytes) return false;
  std::memcpy(bits_.data(), bytes.data(), kStateBytes);
  for (uint8_t b : bits_)
    for (int j = 0; j < 4; ++j)
      if (((b >> (2 * j)) & 3) == 3) return false;
  return true;
}

std::string MapKey(uint64_t layer_id, uint64_t segment) {
  std::string key;
  PutBigEndian64(&key, layer_id);
  PutBigEndian64(&key, segment);
  return key;
}

bool ParseMapKey(std::string_view key, uint64_t* layer_id, uint64_t* segment) {
  if (key.size() != 16) return false;
  *layer_id = DecodeBigEndian64(key.data());
  *segment = DecodeBigEndian64(key.data() + 8);
  return true;
}

uint64_t RecordSeed(uint64_t layer_id, uint64_t segment) {
  // Ties a record to its key: a record copied under another key fails.
  return (layer_id * 0x9E3779B97F4A7C15ull) ^ segment;
}

namespace {

void AppendChecksum(std::string* record, uint64_t seed) {
  PutFixed64(record, Checksum64(*record, seed));
}

// Verifies and strips the trailing checksum.
absl::StatusOr<std::string_view> CheckedBody(std::string_view record,
                                             uint64_t seed, const char* what,
                                             uint64_t layer_id, uint64_t index) {
  if (record.size() < 1 + kStateBytes + 8)
    return absl::DataLossError(absl::StrFormat(
        "%s %d of layer %d is truncated", what, index, layer_id));
  std::string_view body = record.substr(0, record.size() - 8);
  if (DecodeFixed64(record.data() + body.size()) != Checksum64(body, seed))
    return absl::DataLossError(absl::StrFormat(
        "%s %d of layer %d has a bad checksum", what, index, layer_id));
  return body;
}

}  // namespace

std::string EncodeMapSegment(uint64_t layer_id, uint64_t segment,
                             const MapSegment& seg) {
  std::string out;
  out.reserve(1 + kStateBytes + seg.names.size() * kChunkNameSize + 8);
  out.push_back(static_cast<char>(kMapSegmentVersion));
  out.append(seg.states.bytes());
  for (const ChunkName& n : seg.names) out.append(n.view());
  AppendChecksum(&out, RecordSeed(layer_id, segment));
  return out;
}

absl::StatusOr<MapSegment> DecodeMapSegment(uint64_t layer_id, uint64_t segment,
                                            std::string_view record) {
  auto body = CheckedBody(record, RecordSeed(layer_id, segment), "map segment",
                          layer_id, segment);
  if (!body.ok()) return body.status();
  MapSegment seg;
  if (static_cast<uint8_t>((*body)[0]) != kMapSegmentVersion ||
      !seg.states.Load(body->substr(1, kStateBytes)))
    return absl::DataLossError(absl::StrFormat(
        "map segment %d of layer %d is malformed", segment, layer_id));
  std::string_view names = body->substr(1 + kStateBytes);
  uint32_t data_blocks = seg.states.Count(BlockKind::kData);
  if (names.size() != size_t{data_blocks} * kChunkNameSize)
    return absl::DataLossError(absl::StrFormat(
        "map segment %d of layer %d has %d names for %d blocks", segment,
        layer_id, names.size() / kChunkNameSize, data_blocks));
  seg.names.reserve(data_blocks);
  for (uint32_t i = 0, n = 0; i < kSegmentBlocks; ++i) {
    if (seg.states.Get(i) != BlockKind::kData) continue;
    seg.names.push_back(
        ChunkName::FromBytes(names.substr(size_t{n} * kChunkNameSize, kChunkNameSize)));
    seg.name_index[i] = static_cast<uint16_t>(n++);
  }
  return seg;
}

std::string EncodeHeadPage(uint64_t layer_id, uint64_t page,
                           const BlockStates& states) {
  std::string out;
  out.push_back(static_cast<char>(kHeadPageVersion));
  out.append(states.bytes());
  AppendChecksum(&out, RecordSeed(layer_id, page));
  return out;
}

absl::StatusOr<BlockStates> DecodeHeadPage(uint64_t layer_id, uint64_t page,
                                           std::string_view record) {
  auto body =
      CheckedBody(record, RecordSeed(layer_id, page), "head page", layer_id, page);
  if (!body.ok()) return body.status();
  BlockStates states;
  if (body->size() != 1 + kStateBytes ||
      static_cast<uint8_t>((*body)[0]) != kHeadPageVersion ||
      !states.Load(body->substr(1)))
    return absl::DataLossError(absl::StrFormat(
        "head page %d of layer %d is malformed", page, layer_id));
  return states;
}

}  // namespace layerdisk
