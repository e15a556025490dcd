#include "replication/chain_reader.h"

#include <optional>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "replication/manifest_proto.h"

namespace layerdisk {
namespace {

// A reply message is sent once it holds about this many record bytes.
constexpr size_t kReplyBytes = 1 << 20;

absl::Status PeerLeft() { return absl::CancelledError("the peer left"); }

}  // namespace

absl::StatusOr<LayerManifest> ChainReader::Readable(const std::string& layer) {
  RETURN_IF_ERROR(ValidateName("layer", layer));
  if (may_read_ && !may_read_(layer))
    return absl::NotFoundError(absl::StrFormat("layer '%s' does not exist", layer));
  return exchange_->ExportLayerManifest(layer);
}

absl::Status ChainReader::Open(const std::string& layer) {
  top_ = layer;
  std::string name = layer;
  while (!name.empty() && !chain_.contains(name)) {
    ASSIGN_OR_RETURN(LayerManifest m, Readable(name));
    chain_.insert(name);
    for (const ManifestSegment& s : m.segments)
      allowed_.insert(s.map.names.begin(), s.map.names.end());
    name = m.parent;
  }
  return absl::OkStatus();
}

absl::Status ChainReader::SendManifest(const replication::ManifestRequest& req,
                                       const ManifestWriter& write) {
  const std::string& layer = req.layer();
  if (!top_.empty() && !chain_.contains(layer))
    return absl::PermissionDeniedError(
        absl::StrFormat("layer '%s' is not below layer '%s'", layer, top_));
  ASSIGN_OR_RETURN(LayerManifest m, Readable(layer));
  std::optional<LayerManifest> base;
  if (!req.header_only() && !req.base().empty()) {
    // Any failure here only means a full manifest.
    absl::StatusOr<LayerManifest> b = Readable(req.base());
    if (b.ok() && b->identity == req.base_identity()) base = *std::move(b);
  }
  replication::ManifestPart part;
  *part.mutable_header() = HeaderToProto(m);
  part.mutable_header()->set_relative_to_base(base.has_value());
  if (!write(part)) return PeerLeft();
  if (req.header_only()) return absl::OkStatus();
  SegmentLookup base_segments(base ? &*base : nullptr);
  for (const ManifestSegment& s : m.segments) {
    *part.mutable_segment() = SegmentToProto(s, base ? base_segments.Find(s.index) : nullptr);
    if (!write(part)) return PeerLeft();
  }
  return absl::OkStatus();
}

absl::Status ChainReader::SendChunks(
    const google::protobuf::RepeatedPtrField<std::string>& names, const ReplyWriter& write) {
  std::vector<ChunkName> wanted;
  wanted.reserve(names.size());
  for (const std::string& raw : names) {
    ASSIGN_OR_RETURN(ChunkName n, ChunkNameFromBytes(raw));
    if (!allowed_.contains(n))
      return absl::PermissionDeniedError(
          absl::StrFormat("chunk %s is not part of layer '%s'", n.Hex(), top_));
    wanted.push_back(n);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> records, exchange_->ReadChunkRecords(wanted));
  replication::FetchReply reply;
  size_t bytes = 0;
  for (size_t i = 0; i < wanted.size(); ++i) {
    bytes += records[i].size();
    replication::ChunkRecord* r = reply.add_chunks();
    r->set_name(std::string(wanted[i].view()));
    r->set_record(std::move(records[i]));
    if (bytes >= kReplyBytes) {
      if (!write(reply)) return PeerLeft();
      reply.Clear();
      bytes = 0;
    }
  }
  reply.set_batch_end(true);
  if (!write(reply)) return PeerLeft();
  return absl::OkStatus();
}

}  // namespace layerdisk
