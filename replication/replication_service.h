// ReplicationService: the gRPC Replication service over a local store
// (proto/replication.proto), run by `layerdisk serve --grpc`.
//
// A peer reads only what it asked for by layer: a FetchChunks session is
// bound to one layer, and only chunks that layer or a layer below it maps
// are served; any other name is PermissionDenied, whether or not the store
// holds it. `may_read` decides which layers a peer may ask for at all (a
// layer it may not read is NotFound, as if absent).
//
// Thread-safe: gRPC runs handlers concurrently.
#ifndef LAYERDISK_REPLICATION_REPLICATION_SERVICE_H_
#define LAYERDISK_REPLICATION_REPLICATION_SERVICE_H_

#include <functional>
#include <string>

#include "engine/layer_exchange.h"
#include "proto/replication.grpc.pb.h"

namespace layerdisk {

// Whether the peer of `ctx` may read `layer`.
using LayerAccessFn =
    std::function<bool(const grpc::ServerContext& ctx, const std::string& layer)>;

class ReplicationService final : public replication::Replication::Service {
 public:
  // `exchange` must outlive the service. A null `may_read` allows every layer.
  explicit ReplicationService(LayerExchange* exchange, LayerAccessFn may_read = nullptr)
      : exchange_(exchange), may_read_(std::move(may_read)) {}

  grpc::Status GetManifest(grpc::ServerContext* ctx, const replication::ManifestRequest* req,
                           grpc::ServerWriter<replication::ManifestPart>* writer) override;
  grpc::Status FetchChunks(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<replication::FetchReply, replication::FetchRequest>* stream)
      override;

 private:
  // The manifest of `layer` if the peer may read it.
  absl::StatusOr<LayerManifest> Readable(const grpc::ServerContext& ctx,
                                         const std::string& layer);

  LayerExchange* const exchange_;
  const LayerAccessFn may_read_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_REPLICATION_SERVICE_H_
