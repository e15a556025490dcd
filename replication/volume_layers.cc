#include "replication/volume_layers.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace layerdisk {

replication::VolumeManifest VolumeManifestToProto(const VolumeManifest& m) {
  replication::VolumeManifest p;
  p.set_name(m.name);
  p.set_size(m.size);
  for (const std::string& l : m.base_layers) p.add_base_layers(l);
  for (const std::string& id : m.base_identities) p.add_base_identities(id);
  for (const VolumeSnapshotManifest& s : m.snapshots) {
    replication::VolumeSnapshot* ps = p.add_snapshots();
    ps->set_name(s.name);
    ps->set_created_unix_ms(s.created_unix_ms);
    ps->set_changed_bytes(s.changed_bytes);
    ps->set_scheduled(s.scheduled);
    for (const std::string& l : s.layers) ps->add_layers(l);
  }
  return p;
}

VolumeManifest VolumeManifestFromProto(const replication::VolumeManifest& p) {
  VolumeManifest m;
  m.name = p.name();
  m.size = p.size();
  m.base_layers.assign(p.base_layers().begin(), p.base_layers().end());
  m.base_identities.assign(p.base_identities().begin(), p.base_identities().end());
  for (const replication::VolumeSnapshot& ps : p.snapshots())
    m.snapshots.push_back({ps.name(), ps.created_unix_ms(), ps.changed_bytes(), ps.scheduled(),
                           {ps.layers().begin(), ps.layers().end()}});
  return m;
}

absl::StatusOr<std::unique_ptr<VolumeLayerExchange>> VolumeLayerExchange::Create(
    LayerExchange* local, VolumeExport volume) {
  std::unique_ptr<VolumeLayerExchange> x(new VolumeLayerExchange(local, std::move(volume)));
  for (const std::string& base : x->volume_.volume.base_layers) {
    for (std::string name = base; !name.empty() && !x->named_.count(name);) {
      ASSIGN_OR_RETURN(LayerManifest m, local->ExportLayerManifest(name));
      x->named_.insert(name);
      name = m.parent;
    }
  }
  return x;
}

absl::StatusOr<LayerManifest> VolumeLayerExchange::ExportLayerManifest(const std::string& name) {
  for (const LayerManifest& m : volume_.layers)
    if (m.name == name) return m;
  if (!named_.count(name))
    return absl::NotFoundError(absl::StrFormat(
        "layer '%s' is not part of volume '%s'", name, volume_.volume.name));
  return local_->ExportLayerManifest(name);
}

absl::Status VolumeLayerExchange::IngestChunkRecords(
    absl::Span<const ChunkStore::ReceivedRecord>) {
  return absl::FailedPreconditionError("a volume's sender does not receive chunks");
}

absl::StatusOr<LayerInfo> VolumeLayerExchange::CommitLayerManifest(const LayerManifest&,
                                                                   const std::string&) {
  return absl::FailedPreconditionError("a volume's sender does not receive layers");
}

absl::StatusOr<LayerInfo> VolumeLayerExchange::BeginFetchingLayer(const LayerManifest&,
                                                                  const std::string&) {
  return absl::FailedPreconditionError("a volume's sender does not receive layers");
}

absl::StatusOr<LayerInfo> VolumeLayerExchange::CompleteFetchingLayer(const std::string&) {
  return absl::FailedPreconditionError("a volume's sender does not receive layers");
}

}  // namespace layerdisk
