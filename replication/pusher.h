// The pushing side of replication: offers a local sealed layer to a peer's
// `layerdisk serve --grpc --grpc-accept-push` and answers its requests (the
// manifests of the layer and the layers below it, the chunks it lacks) until
// the peer has committed the layer or refused it.
#ifndef LAYERDISK_REPLICATION_PUSHER_H_
#define LAYERDISK_REPLICATION_PUSHER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"
#include "engine/volume_exchange.h"

namespace layerdisk {

struct PushOutcome {
  std::vector<std::string> layers_created;  // at the peer, lowest first
  uint64_t logical_bytes = 0;
  uint64_t chunks_sent = 0;
  uint64_t record_bytes = 0;
  uint64_t wire_bytes = 0;  // protocol bytes both ways, as counted here
  double seconds = 0;
  std::vector<std::string> snapshots_created;  // a volume push, oldest first
};

// `peer` names the peer in error messages.
absl::StatusOr<PushOutcome> PushLayer(LayerExchange& local,
                                      std::shared_ptr<grpc::Channel> channel,
                                      const std::string& peer, const std::string& layer);

// Pushes `volume` (its snapshots, VolumeExchange::ExportVolume, and its
// base layers from `local`) to become volume `as` at the peer (empty: the
// same name). `progress` (optional) is told the data bytes sent so far of
// at most those of every layer sent. `max_bytes_per_second` (0: none) keeps
// the average wire rate under it (a branch office's uplink).
absl::StatusOr<PushOutcome> PushVolume(LayerExchange& local, VolumeExport volume,
                                       std::shared_ptr<grpc::Channel> channel,
                                       const std::string& peer, const std::string& as,
                                       const ProgressFn& progress,
                                       uint64_t max_bytes_per_second);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_PUSHER_H_
