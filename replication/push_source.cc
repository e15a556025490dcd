#include "replication/push_source.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "replication/manifest_proto.h"

namespace layerdisk {

absl::StatusOr<replication::PushUp> PushStreamSource::Next() {
  replication::PushUp up;
  if (!stream_->Read(&up))
    return absl::DataLossError("the pushing peer ended the stream early");
  wire_bytes_ += up.ByteSizeLong();
  if (up.has_error())
    return absl::NotFoundError("the pushing peer cannot answer: " + up.error());
  return up;
}

absl::StatusOr<LayerManifest> PushStreamSource::GetManifest(const std::string& layer,
                                                            bool header_only,
                                                            const LayerManifest* base) {
  replication::PushDown down;
  down.mutable_need_manifest()->set_layer(layer);
  down.mutable_need_manifest()->set_header_only(header_only);
  if (base != nullptr) {
    down.mutable_need_manifest()->set_base(base->name);
    down.mutable_need_manifest()->set_base_identity(base->identity);
  }
  SegmentLookup base_segments(base);
  wire_bytes_ += down.ByteSizeLong();
  if (!stream_->Write(down)) return absl::DataLossError("the pushing peer left");
  ASSIGN_OR_RETURN(replication::PushUp up, Next());
  if (!up.has_manifest() || !up.manifest().has_header())
    return absl::DataLossError("the pushing peer sent no manifest header of '" + layer + "'");
  ASSIGN_OR_RETURN(LayerManifest m, HeaderFromProto(up.manifest().header()));
  const bool relative = up.manifest().header().relative_to_base();
  if (header_only) return m;
  for (uint64_t i = 0; i < up.manifest().header().segments(); ++i) {
    ASSIGN_OR_RETURN(replication::PushUp part, Next());
    if (!part.has_manifest() || !part.manifest().has_segment())
      return absl::DataLossError(absl::StrFormat(
          "the pushing peer's manifest of '%s' ended after %d segments", layer, i));
    ASSIGN_OR_RETURN(ManifestSegment s,
                     SegmentFromProto(part.manifest().segment(),
                                      relative ? base_segments.Find(part.manifest().segment().index())
                                               : nullptr));
    m.segments.push_back(std::move(s));
  }
  return m;
}

absl::Status PushStreamSource::Fetch(const std::string& layer,
                                     absl::Span<const ChunkName> names, size_t batch,
                                     const RecordSink& sink) {
  for (size_t off = 0; off < names.size(); off += batch) {
    absl::Span<const ChunkName> asked = names.subspan(off, batch);
    replication::PushDown down;
    replication::FetchRequest* req = down.mutable_need_chunks();
    req->set_layer(layer);
    for (const ChunkName& n : asked) req->add_names(std::string(n.view()));
    wire_bytes_ += down.ByteSizeLong();
    if (!stream_->Write(down)) return absl::DataLossError("the pushing peer left");
    std::vector<ChunkStore::ReceivedRecord> got;
    for (bool ended = false; !ended;) {
      ASSIGN_OR_RETURN(replication::PushUp up, Next());
      if (!up.has_chunks())
        return absl::DataLossError("the pushing peer answered a chunk request with something else");
      for (replication::ChunkRecord& r : *up.mutable_chunks()->mutable_chunks()) {
        absl::StatusOr<ChunkName> n = ChunkNameFromBytes(r.name());
        if (!n.ok()) return absl::DataLossError("the pushing peer sent " + std::string(n.status().message()));
        got.push_back({*n, std::move(*r.mutable_record())});
      }
      ended = up.chunks().batch_end();
    }
    RETURN_IF_ERROR(CheckBatchComplete(layer, asked, got));
    RETURN_IF_ERROR(sink(std::move(got)));
  }
  return absl::OkStatus();
}

}  // namespace layerdisk
