// Conversions between LayerManifest (engine) and the replication protocol's
// messages (proto/replication.proto). Received data is checked here for
// shape only; ValidateManifest and the identity check judge the content.
#ifndef LAYERDISK_REPLICATION_MANIFEST_PROTO_H_
#define LAYERDISK_REPLICATION_MANIFEST_PROTO_H_

#include "absl/status/statusor.h"
#include "engine/layer_exchange.h"
#include "proto/replication.pb.h"

namespace layerdisk {

namespace rpb = ::layerdisk::replication;

// The header of `m` (the segment count included; no segments).
rpb::LayerHeader HeaderToProto(const LayerManifest& m);
rpb::MapSegment SegmentToProto(const ManifestSegment& s);

// A manifest holding only the header's fields.
absl::StatusOr<LayerManifest> HeaderFromProto(const rpb::LayerHeader& h);
// InvalidArgument when the states or the names are malformed.
absl::StatusOr<ManifestSegment> SegmentFromProto(const rpb::MapSegment& s);

// Chunk names travel as 32 raw bytes.
absl::StatusOr<ChunkName> ChunkNameFromBytes(const std::string& bytes);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_MANIFEST_PROTO_H_
