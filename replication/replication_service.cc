#include "replication/replication_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "replication/manifest_proto.h"
#include "replication/peer_link.h"

namespace layerdisk {
namespace {

// A reply message is sent once it holds about this many record bytes.
constexpr size_t kReplyBytes = 1 << 20;

}  // namespace

absl::StatusOr<LayerManifest> ReplicationService::Readable(const grpc::ServerContext& ctx,
                                                           const std::string& layer) {
  RETURN_IF_ERROR(ValidateName("layer", layer));
  if (may_read_ && !may_read_(ctx, layer))
    return absl::NotFoundError(absl::StrFormat("layer '%s' does not exist", layer));
  return exchange_->ExportLayerManifest(layer);
}

grpc::Status ReplicationService::GetManifest(grpc::ServerContext* ctx,
                                             const rpb::ManifestRequest* req,
                                             grpc::ServerWriter<rpb::ManifestPart>* writer) {
  absl::StatusOr<LayerManifest> m = Readable(*ctx, req->layer());
  if (!m.ok()) return ToRpcStatus(m.status());
  rpb::ManifestPart part;
  *part.mutable_header() = HeaderToProto(*m);
  if (!writer->Write(part)) return grpc::Status(grpc::StatusCode::CANCELLED, "peer left");
  if (req->header_only()) return grpc::Status::OK;
  for (const ManifestSegment& s : m->segments) {
    *part.mutable_segment() = SegmentToProto(s);
    if (!writer->Write(part)) return grpc::Status(grpc::StatusCode::CANCELLED, "peer left");
  }
  return grpc::Status::OK;
}

grpc::Status ReplicationService::FetchChunks(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<rpb::FetchReply, rpb::FetchRequest>* stream) {
  rpb::FetchRequest req;
  if (!stream->Read(&req)) return grpc::Status::OK;
  const std::string layer = req.layer();
  // The chunks this session may read: those of the layer and the layers
  // below it, which a receiver of the layer needs anyway.
  absl::flat_hash_set<ChunkName> allowed;
  std::string name = layer;
  while (!name.empty()) {
    absl::StatusOr<LayerManifest> m = Readable(*ctx, name);
    if (!m.ok()) return ToRpcStatus(m.status());
    for (const ManifestSegment& s : m->segments)
      allowed.insert(s.map.names.begin(), s.map.names.end());
    name = m->parent;
  }
  do {
    rpb::FetchReply reply;
    size_t bytes = 0;
    for (const std::string& raw : req.names()) {
      absl::StatusOr<ChunkName> n = ChunkNameFromBytes(raw);
      if (!n.ok()) return ToRpcStatus(n.status());
      if (!allowed.contains(*n))
        return ToRpcStatus(absl::PermissionDeniedError(absl::StrFormat(
            "chunk %s is not part of layer '%s'", n->Hex(), layer)));
      absl::StatusOr<std::string> record = exchange_->ReadChunkRecord(*n);
      if (!record.ok()) return ToRpcStatus(record.status());
      bytes += record->size();
      rpb::ChunkRecord* r = reply.add_chunks();
      r->set_name(raw);
      r->set_record(*std::move(record));
      if (bytes >= kReplyBytes) {
        if (!stream->Write(reply)) return grpc::Status(grpc::StatusCode::CANCELLED, "peer left");
        reply.Clear();
        bytes = 0;
      }
    }
    reply.set_batch_end(true);
    if (!stream->Write(reply)) return grpc::Status(grpc::StatusCode::CANCELLED, "peer left");
  } while (stream->Read(&req));
  return grpc::Status::OK;
}

}  // namespace layerdisk
