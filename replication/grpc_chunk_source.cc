#include "replication/grpc_chunk_source.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "replication/manifest_proto.h"
#include "replication/peer_link.h"

namespace layerdisk {

void GrpcChunkSource::ApplyTimeout(grpc::ClientContext* ctx) const {
  if (call_timeout_.count() > 0) ctx->set_deadline(std::chrono::system_clock::now() + call_timeout_);
}

absl::StatusOr<LayerManifest> GrpcChunkSource::GetManifest(const std::string& layer,
                                                           bool header_only,
                                                           const LayerManifest* base) {
  grpc::ClientContext ctx;
  ApplyTimeout(&ctx);
  rpb::ManifestRequest req;
  req.set_layer(layer);
  req.set_header_only(header_only);
  req.set_volume(volume_);
  if (base != nullptr) {
    req.set_base(base->name);
    req.set_base_identity(base->identity);
  }
  SegmentLookup base_segments(base);
  bool relative = false;
  wire_bytes_ += req.ByteSizeLong();
  std::unique_ptr<grpc::ClientReader<rpb::ManifestPart>> reader =
      stub_->GetManifest(&ctx, req);
  rpb::ManifestPart part;
  std::optional<LayerManifest> m;
  uint64_t expected_segments = 0;
  absl::Status bad;
  while (bad.ok() && reader->Read(&part)) {
    wire_bytes_ += part.ByteSizeLong();
    if (part.has_header() && !m) {
      absl::StatusOr<LayerManifest> h = HeaderFromProto(part.header());
      if (!h.ok()) { bad = h.status(); break; }
      m = *std::move(h);
      expected_segments = part.header().segments();
      relative = part.header().relative_to_base();
    } else if (part.has_segment() && m && !header_only) {
      absl::StatusOr<ManifestSegment> s = SegmentFromProto(
          part.segment(), relative ? base_segments.Find(part.segment().index()) : nullptr);
      if (!s.ok()) { bad = s.status(); break; }
      m->segments.push_back(*std::move(s));
    } else {
      bad = absl::DataLossError("the peer sent a malformed manifest of layer '" + layer + "'");
    }
  }
  if (!bad.ok()) {
    ctx.TryCancel();
    reader->Finish();
    return bad;
  }
  RETURN_IF_ERROR(FromPeerStatus(peer_, reader->Finish()));
  if (!m) return absl::DataLossError("the peer sent no manifest of layer '" + layer + "'");
  if (!header_only && m->segments.size() != expected_segments)
    return absl::DataLossError(absl::StrFormat(
        "the peer's manifest of layer '%s' holds %d of its %d segments (truncated stream?)",
        layer, m->segments.size(), expected_segments));
  return *std::move(m);
}

absl::Status GrpcChunkSource::Fetch(const std::string& layer,
                                    absl::Span<const ChunkName> names, size_t batch,
                                    const RecordSink& sink) {
  grpc::ClientContext ctx;
  ApplyTimeout(&ctx);
  auto stream = stub_->FetchChunks(&ctx);
  const size_t batches = (names.size() + batch - 1) / batch;
  auto request = [&](size_t i) {
    rpb::FetchRequest req;
    if (i == 0) {
      req.set_layer(layer);
      req.set_volume(volume_);
    }
    for (const ChunkName& n : names.subspan(i * batch, batch))
      req.add_names(std::string(n.view()));
    wire_bytes_ += req.ByteSizeLong();
    return stream->Write(req);
  };
  // A few requests ahead of the one being read keep the sender busy
  // (reading while we verify) without letting requests pile up.
  constexpr size_t kAhead = 4;
  size_t sent = 0;
  absl::Status st;
  for (; sent < std::min(kAhead, batches); ++sent)
    if (!request(sent)) break;
  for (size_t i = 0; i < batches && st.ok(); ++i) {
    std::vector<ChunkStore::ReceivedRecord> got;
    rpb::FetchReply reply;
    bool ended = false;
    while (!ended && stream->Read(&reply)) {
      wire_bytes_ += reply.ByteSizeLong();
      for (rpb::ChunkRecord& r : *reply.mutable_chunks()) {
        absl::StatusOr<ChunkName> name = ChunkNameFromBytes(r.name());
        if (!name.ok()) {
          st = absl::DataLossError("the peer sent " + std::string(name.status().message()));
          break;
        }
        got.push_back({*name, std::move(*r.mutable_record())});
      }
      ended = reply.batch_end();
      if (!st.ok()) break;
    }
    if (!st.ok()) break;
    if (!ended) {
      // The peer ended the stream: its status (an error, or the transport's
      // when it went away) says why better than we can.
      grpc::Status finished = stream->Finish();
      if (!finished.ok()) return FromPeerStatus(peer_, finished);
      return absl::DataLossError(absl::StrFormat(
          "peer %s ended the stream of chunks of layer '%s' early", peer_, layer));
    }
    st = CheckBatchComplete(layer, names.subspan(i * batch, batch), got);
    if (st.ok()) st = sink(std::move(got));
    if (st.ok() && sent < batches && request(sent)) ++sent;
  }
  if (!st.ok()) {
    ctx.TryCancel();
    grpc::Status finished = stream->Finish();
    // The peer's own error (unknown layer, permission) says more than ours.
    if (!finished.ok() && finished.error_code() != grpc::StatusCode::CANCELLED)
      return FromPeerStatus(peer_, finished);
    return st;
  }
  stream->WritesDone();
  return FromPeerStatus(peer_, stream->Finish());
}

}  // namespace layerdisk
