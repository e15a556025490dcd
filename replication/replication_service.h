// ReplicationService: the gRPC Replication service over a local store
// (proto/replication.proto), run by `layerdisk serve --grpc`.
//
// Pulls: a peer reads only what it asked for by layer (ChainReader): a
// FetchChunks session is bound to one layer, and only chunks that layer or a
// layer below it maps are served; any other name is PermissionDenied,
// whether or not the store holds it. `may_read` decides which layers a peer
// may ask for at all (a layer it may not read is NotFound, as if absent).
//
// Pushes are refused unless accept_push: a pushed layer is received exactly
// as a pull would receive it (replication/receiver.h), the pushing client
// answering this server's requests on the stream.
//
// Thread-safe: gRPC runs handlers concurrently.
#ifndef LAYERDISK_REPLICATION_REPLICATION_SERVICE_H_
#define LAYERDISK_REPLICATION_REPLICATION_SERVICE_H_

#include <functional>
#include <string>

#include "engine/layer_exchange.h"
#include "engine/volume_exchange.h"
#include "proto/replication.grpc.pb.h"
#include "replication/chain_reader.h"
#include "replication/volume_layers.h"

namespace layerdisk {

// Whether the peer of `ctx` may read `layer`.
using LayerAccessFn =
    std::function<bool(const grpc::ServerContext& ctx, const std::string& layer)>;

struct ReplicationServiceOptions {
  LayerAccessFn may_read;    // null: every layer
  bool accept_push = false;  // whether peers may push layers into the store
  // Volumes as their snapshots (push-volume, pull-volume); null: refused.
  // A peer may read a volume (and its layers) if may_read allows its name.
  // Must outlive the service.
  VolumeExchange* volumes = nullptr;
};

class ReplicationService final : public replication::Replication::Service {
 public:
  // `exchange` must outlive the service.
  explicit ReplicationService(LayerExchange* exchange,
                              ReplicationServiceOptions options = {})
      : exchange_(exchange), options_(std::move(options)) {}

  grpc::Status GetManifest(grpc::ServerContext* ctx, const replication::ManifestRequest* req,
                           grpc::ServerWriter<replication::ManifestPart>* writer) override;
  grpc::Status FetchChunks(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<replication::FetchReply, replication::FetchRequest>* stream)
      override;
  grpc::Status Push(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<replication::PushDown, replication::PushUp>* stream) override;
  grpc::Status GetVolumeManifest(grpc::ServerContext* ctx,
                                 const replication::VolumeRequest* req,
                                 replication::VolumeManifest* reply) override;

 private:
  std::function<bool(const std::string&)> AccessFor(const grpc::ServerContext& ctx) const;
  // The layers of `volume` as its sender shows them (anonymous layers by
  // wire name), if the peer may read the volume; NotFound otherwise.
  absl::StatusOr<std::unique_ptr<VolumeLayerExchange>> VolumeLayers(
      const grpc::ServerContext& ctx, const std::string& volume) const;
  // A reader of `layer`, of `volume` when that is set.
  absl::Status OpenReader(const grpc::ServerContext& ctx, const std::string& volume,
                          std::unique_ptr<VolumeLayerExchange>* layers,
                          std::unique_ptr<ChainReader>* reader) const;
  grpc::Status ReceiveVolume(
      grpc::ServerContext* ctx, const replication::VolumePush& push,
      grpc::ServerReaderWriter<replication::PushDown, replication::PushUp>* stream);

  LayerExchange* const exchange_;
  const ReplicationServiceOptions options_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_REPLICATION_SERVICE_H_
