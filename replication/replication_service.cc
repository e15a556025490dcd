#include "replication/replication_service.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "replication/chain_reader.h"
#include "replication/peer_link.h"
#include "replication/push_source.h"
#include "replication/receiver.h"
#include "replication/volume_receiver.h"

namespace layerdisk {

std::function<bool(const std::string&)> ReplicationService::AccessFor(
    const grpc::ServerContext& ctx) const {
  if (!options_.may_read) return nullptr;
  return [this, &ctx](const std::string& layer) { return options_.may_read(ctx, layer); };
}

absl::StatusOr<std::unique_ptr<VolumeLayerExchange>> ReplicationService::VolumeLayers(
    const grpc::ServerContext& ctx, const std::string& volume) const {
  RETURN_IF_ERROR(ValidateName("volume", volume));
  if (options_.volumes == nullptr || (options_.may_read && !options_.may_read(ctx, volume)))
    return absl::NotFoundError(absl::StrFormat("volume '%s' does not exist", volume));
  ASSIGN_OR_RETURN(VolumeExport exported, options_.volumes->ExportVolume(volume));
  return VolumeLayerExchange::Create(exchange_, std::move(exported));
}

absl::Status ReplicationService::OpenReader(const grpc::ServerContext& ctx,
                                            const std::string& volume,
                                            std::unique_ptr<VolumeLayerExchange>* layers,
                                            std::unique_ptr<ChainReader>* reader) const {
  if (volume.empty()) {
    *reader = std::make_unique<ChainReader>(exchange_, AccessFor(ctx));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(*layers, VolumeLayers(ctx, volume));
  *reader = std::make_unique<ChainReader>(layers->get(), nullptr);
  return absl::OkStatus();
}

grpc::Status ReplicationService::GetManifest(
    grpc::ServerContext* ctx, const replication::ManifestRequest* req,
    grpc::ServerWriter<replication::ManifestPart>* writer) {
  std::unique_ptr<VolumeLayerExchange> layers;
  std::unique_ptr<ChainReader> reader;
  absl::Status s = OpenReader(*ctx, req->volume(), &layers, &reader);
  if (!s.ok()) return ToRpcStatus(s);
  return ToRpcStatus(reader->SendManifest(
      *req, [writer](const replication::ManifestPart& p) { return writer->Write(p); }));
}

grpc::Status ReplicationService::GetVolumeManifest(grpc::ServerContext* ctx,
                                                   const replication::VolumeRequest* req,
                                                   replication::VolumeManifest* reply) {
  absl::StatusOr<std::unique_ptr<VolumeLayerExchange>> layers = VolumeLayers(*ctx, req->volume());
  if (!layers.ok()) return ToRpcStatus(layers.status());
  *reply = VolumeManifestToProto((*layers)->volume().volume);
  return grpc::Status::OK;
}

grpc::Status ReplicationService::FetchChunks(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<replication::FetchReply, replication::FetchRequest>* stream) {
  replication::FetchRequest req;
  if (!stream->Read(&req)) return grpc::Status::OK;
  std::unique_ptr<VolumeLayerExchange> layers;
  std::unique_ptr<ChainReader> reader;
  absl::Status s = OpenReader(*ctx, req.volume(), &layers, &reader);
  if (s.ok()) s = reader->Open(req.layer());
  auto write = [stream](const replication::FetchReply& r) { return stream->Write(r); };
  if (s.ok()) {
    do {
      s = reader->SendChunks(req.names(), write);
    } while (s.ok() && stream->Read(&req));
  }
  return ToRpcStatus(s);
}

grpc::Status ReplicationService::Push(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<replication::PushDown, replication::PushUp>* stream) {
  if (!options_.accept_push)
    return ToRpcStatus(absl::PermissionDeniedError(
        "this server does not accept pushed layers (serve --grpc-accept-push)"));
  replication::PushUp first;
  if (stream->Read(&first) && first.has_volume())
    return ReceiveVolume(ctx, first.volume(), stream);
  if (!first.has_layer())
    return ToRpcStatus(absl::InvalidArgumentError("a push must name its layer first"));
  PushStreamSource source(stream);
  ReplicateOptions options;
  options.origin = "push:" + ctx->peer();
  absl::StatusOr<ReplicateResult> result =
      ReplicateLayer(source, *exchange_, first.layer(), options);
  if (!result.ok()) return ToRpcStatus(result.status());
  replication::PushDown down;
  replication::PushResult* done = down.mutable_done();
  done->set_logical_bytes(result->logical_bytes);
  done->set_chunks_received(result->chunks_fetched);
  done->set_record_bytes(result->record_bytes);
  for (const std::string& l : result->layers_created) done->add_layers_created(l);
  stream->Write(down);
  return grpc::Status::OK;
}

grpc::Status ReplicationService::ReceiveVolume(
    grpc::ServerContext* ctx, const replication::VolumePush& push,
    grpc::ServerReaderWriter<replication::PushDown, replication::PushUp>* stream) {
  if (options_.volumes == nullptr)
    return ToRpcStatus(absl::FailedPreconditionError("this server does not receive volumes"));
  PushStreamSource source(stream);
  ReplicateOptions options;
  options.origin = "push:" + ctx->peer();
  absl::StatusOr<VolumeReceiveResult> result =
      layerdisk::ReceiveVolume(source, *exchange_, *options_.volumes,
                               VolumeManifestFromProto(push.manifest()), push.as(), options);
  if (!result.ok()) return ToRpcStatus(result.status());
  replication::PushDown down;
  replication::PushResult* done = down.mutable_done();
  done->set_logical_bytes(result->transfer.logical_bytes);
  done->set_chunks_received(result->transfer.chunks_fetched);
  done->set_record_bytes(result->transfer.record_bytes);
  for (const std::string& l : result->transfer.layers_created) done->add_layers_created(l);
  for (const std::string& s : result->snapshots_created) done->add_snapshots_created(s);
  stream->Write(down);
  return grpc::Status::OK;
}

}  // namespace layerdisk
