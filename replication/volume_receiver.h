// The receiving side of a volume transfer (push-volume at the server,
// pull-volume at the client): brings a volume's base layers (as a layer
// pull does) and the anonymous layers of the snapshots the local store
// lacks, fetching only the chunks it does not hold, then commits the
// volume and its new snapshots in one atomic step (engine/volume_exchange.h).
//
// Every anonymous layer's manifest is checked against the identity its wire
// name claims, over the identity of the layer below it, before any of its
// chunks is fetched; every chunk record is verified on arrival. A volume
// here that diverged from the one sent is refused before anything moves.
#ifndef LAYERDISK_REPLICATION_VOLUME_RECEIVER_H_
#define LAYERDISK_REPLICATION_VOLUME_RECEIVER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/volume_exchange.h"
#include "replication/chunk_source.h"
#include "replication/receiver.h"

namespace layerdisk {

struct VolumeReceiveResult {
  ReplicateResult transfer;  // layers_created: base layers created (by name)
  std::vector<std::string> snapshots_created;  // oldest first
  uint64_t anonymous_layers_created = 0;
};

// Receives `m` from `source` as volume `as` (empty: m.name).
absl::StatusOr<VolumeReceiveResult> ReceiveVolume(ChunkSource& source, LayerExchange& local,
                                                  VolumeExchange& volumes,
                                                  const VolumeManifest& m,
                                                  const std::string& as,
                                                  const ReplicateOptions& options);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_VOLUME_RECEIVER_H_
