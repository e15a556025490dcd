#include "replication/replication_service.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "replication/chain_reader.h"
#include "replication/peer_link.h"
#include "replication/push_source.h"
#include "replication/receiver.h"

namespace layerdisk {

std::function<bool(const std::string&)> ReplicationService::AccessFor(
    const grpc::ServerContext& ctx) const {
  if (!options_.may_read) return nullptr;
  return [this, &ctx](const std::string& layer) { return options_.may_read(ctx, layer); };
}

grpc::Status ReplicationService::GetManifest(
    grpc::ServerContext* ctx, const replication::ManifestRequest* req,
    grpc::ServerWriter<replication::ManifestPart>* writer) {
  ChainReader reader(exchange_, AccessFor(*ctx));
  return ToRpcStatus(reader.SendManifest(
      *req, [writer](const replication::ManifestPart& p) { return writer->Write(p); }));
}

grpc::Status ReplicationService::FetchChunks(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<replication::FetchReply, replication::FetchRequest>* stream) {
  replication::FetchRequest req;
  if (!stream->Read(&req)) return grpc::Status::OK;
  ChainReader reader(exchange_, AccessFor(*ctx));
  absl::Status s = reader.Open(req.layer());
  auto write = [stream](const replication::FetchReply& r) { return stream->Write(r); };
  if (s.ok()) {
    do {
      s = reader.SendChunks(req.names(), write);
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
  if (!stream->Read(&first) || !first.has_layer())
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

}  // namespace layerdisk
