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

namespace layerdisk {

struct PushOutcome {
  std::vector<std::string> layers_created;  // at the peer, lowest first
  uint64_t logical_bytes = 0;
  uint64_t chunks_sent = 0;
  uint64_t record_bytes = 0;
  uint64_t wire_bytes = 0;  // protocol bytes both ways, as counted here
  double seconds = 0;
};

// `peer` names the peer in error messages.
absl::StatusOr<PushOutcome> PushLayer(LayerExchange& local,
                                      std::shared_ptr<grpc::Channel> channel,
                                      const std::string& peer, const std::string& layer);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_PUSHER_H_
