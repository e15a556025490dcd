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
  h.set_description(m.description);
  h.set_content_sha256(m.content_sha256);
  h.set_content_digest(m.content_digest);
  return h;
}

namespace {
constexpr size_t kSameBytes = kSegmentBlocks / 8;

bool SameAsBase(const ManifestSegment& s, const ManifestSegment& base, uint32_t i) {
  return base.map.states.Get(i) == BlockKind::kData && s.map.NameOf(i) == base.map.NameOf(i);
}
}  // namespace

SegmentLookup::SegmentLookup(const LayerManifest* m) {
  if (m == nullptr) return;
  for (const ManifestSegment& s : m->segments) by_index_[s.index] = &s;
}

const ManifestSegment* SegmentLookup::Find(uint64_t index) const {
  auto it = by_index_.find(index);
  return it == by_index_.end() ? nullptr : it->second;
}

rpb::MapSegment SegmentToProto(const ManifestSegment& s, const ManifestSegment* base) {
  rpb::MapSegment p;
  p.set_index(s.index);
  p.set_states(std::string(s.map.states.bytes()));
  std::string* names = p.mutable_names();
  names->reserve(s.map.names.size() * kChunkNameSize);
  if (base == nullptr) {
    for (const ChunkName& n : s.map.names) names->append(n.view());
    return p;
  }
  std::string same(kSameBytes, '\0');
  for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
    if (s.map.states.Get(i) != BlockKind::kData) continue;
    if (SameAsBase(s, *base, i)) {
      same[i / 8] = static_cast<char>(same[i / 8] | (1 << (i % 8)));
    } else {
      names->append(s.map.NameOf(i).view());
    }
  }
  p.set_same_as_base(std::move(same));
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
  m.description = h.description();
  m.content_sha256 = h.content_sha256();
  m.content_digest = h.content_digest();
  if (m.identity.size() != kChunkNameSize)
    return absl::InvalidArgumentError(
        absl::StrFormat("the peer sent a manifest of '%s' without an identity", m.name));
  return m;
}

absl::StatusOr<ManifestSegment> SegmentFromProto(const rpb::MapSegment& p,
                                                 const ManifestSegment* base) {
  ManifestSegment s;
  s.index = p.index();
  if (p.states().size() != kStateBytes || !s.map.states.Load(p.states()))
    return absl::InvalidArgumentError(
        absl::StrFormat("the peer sent malformed block states for segment %d", s.index));
  if (!p.same_as_base().empty()) {
    // Rebuild the full name list from the base; the identity check that
    // follows judges the result.
    const std::string& same = p.same_as_base();
    if (same.size() != kSameBytes || base == nullptr)
      return absl::InvalidArgumentError(absl::StrFormat(
          "segment %d refers to a base segment the receiver does not have", s.index));
    const std::string& sent = p.names();
    size_t next = 0;
    uint16_t n = 0;
    for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
      if (s.map.states.Get(i) != BlockKind::kData) continue;
      if (same[i / 8] & (1 << (i % 8))) {
        if (base->map.states.Get(i) != BlockKind::kData)
          return absl::InvalidArgumentError(absl::StrFormat(
              "segment %d: block %d is marked as the base's, which maps no data there",
              s.index, i));
        s.map.names.push_back(base->map.NameOf(i));
      } else {
        if (next + kChunkNameSize > sent.size())
          return absl::InvalidArgumentError(
              absl::StrFormat("segment %d: too few chunk names", s.index));
        s.map.names.push_back(
            ChunkName::FromBytes(std::string_view(sent).substr(next, kChunkNameSize)));
        next += kChunkNameSize;
      }
      s.map.name_index[i] = n++;
    }
    if (next != sent.size())
      return absl::InvalidArgumentError(
          absl::StrFormat("segment %d: too many chunk names", s.index));
    return s;
  }
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
