#include "replication/manifest_proto.h"

#include "absl/strings/str_format.h"

namespace layerdisk {

rpb::LayerHeader HeaderToProto(const LayerManifest& m) {
  rpb::LayerHeader h;
  h.set_name(m.name);
  h.set_size(m.size);
  h.set_block_size(m.block_size);
  h.set_opaque(m.opaque);
  h.set_parent(m.parent);
  h.set_identity(m.identity);
  h.set_data_blocks(m.data_blocks);
  h.set_segments(m.segments.size());
  h.set_image_id(m.image_id);
  return h;
}

rpb::MapSegment SegmentToProto(const ManifestSegment& s) {
  rpb::MapSegment p;
  p.set_index(s.index);
  p.set_states(std::string(s.map.states.bytes()));
  std::string* names = p.mutable_names();
  names->reserve(s.map.names.size() * kChunkNameSize);
  for (const ChunkName& n : s.map.names) names->append(n.view());
  return p;
}

absl::StatusOr<LayerManifest> HeaderFromProto(const rpb::LayerHeader& h) {
  LayerManifest m;
  m.name = h.name();
  m.size = h.size();
  m.block_size = h.block_size();
  m.opaque = h.opaque();
  m.parent = h.parent();
  m.identity = h.identity();
  m.data_blocks = h.data_blocks();
  m.image_id = h.image_id();
  if (m.identity.size() != kChunkNameSize)
    return absl::InvalidArgumentError(
        absl::StrFormat("the peer sent a manifest of '%s' without an identity", m.name));
  return m;
}

absl::StatusOr<ManifestSegment> SegmentFromProto(const rpb::MapSegment& p) {
  ManifestSegment s;
  s.index = p.index();
  if (p.states().size() != kStateBytes || !s.map.states.Load(p.states()))
    return absl::InvalidArgumentError(
        absl::StrFormat("the peer sent malformed block states for segment %d", s.index));
  const std::string& names = p.names();
  if (names.size() % kChunkNameSize != 0 ||
      names.size() / kChunkNameSize != s.map.states.Count(BlockKind::kData))
    return absl::InvalidArgumentError(absl::StrFormat(
        "segment %d: the peer sent %d bytes of chunk names for %d data blocks", s.index,
        names.size(), s.map.states.Count(BlockKind::kData)));
  s.map.names.reserve(names.size() / kChunkNameSize);
  for (size_t off = 0; off < names.size(); off += kChunkNameSize)
    s.map.names.push_back(ChunkName::FromBytes(std::string_view(names).substr(off, kChunkNameSize)));
  uint16_t n = 0;
  for (uint32_t i = 0; i < kSegmentBlocks; ++i)
    if (s.map.states.Get(i) == BlockKind::kData) s.map.name_index[i] = n++;
  return s;
}

absl::StatusOr<ChunkName> ChunkNameFromBytes(const std::string& bytes) {
  if (bytes.size() != kChunkNameSize)
    return absl::InvalidArgumentError(
        absl::StrFormat("a chunk name of %d bytes (32 expected)", bytes.size()));
  return ChunkName::FromBytes(bytes);
}

}  // namespace layerdisk
