// Conversions between LayerManifest (engine) and the replication protocol's
// messages (proto/replication.proto). Received data is checked here for
// shape only; ValidateManifest and the identity check judge the content.
#ifndef LAYERDISK_REPLICATION_MANIFEST_PROTO_H_
#define LAYERDISK_REPLICATION_MANIFEST_PROTO_H_

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/layer_exchange.h"
#include "proto/replication.pb.h"

namespace layerdisk {

namespace rpb = ::layerdisk::replication;

// The header of `m` (the segment count included; no segments).
rpb::LayerHeader HeaderToProto(const LayerManifest& m);
// With `base` (the base layer's segment of the same index, or null), data
// blocks mapping the same chunk as the base are marked in same_as_base
// and their names left out.
rpb::MapSegment SegmentToProto(const ManifestSegment& s, const ManifestSegment* base);

// A manifest holding only the header's fields.
absl::StatusOr<LayerManifest> HeaderFromProto(const rpb::LayerHeader& h);
// InvalidArgument when the states or the names are malformed, or when it
// refers to a base block that `base` (same index, or null) does not map.
absl::StatusOr<ManifestSegment> SegmentFromProto(const rpb::MapSegment& s,
                                                 const ManifestSegment* base);

// Segments of a manifest by index, for the base side of the above.
class SegmentLookup {
 public:
  explicit SegmentLookup(const LayerManifest* m);
  const ManifestSegment* Find(uint64_t index) const;

 private:
  absl::flat_hash_map<uint64_t, const ManifestSegment*> by_index_;
};

// Chunk names travel as 32 raw bytes.
absl::StatusOr<ChunkName> ChunkNameFromBytes(const std::string& bytes);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_MANIFEST_PROTO_H_
