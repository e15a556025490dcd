// A volume's snapshots on the wire (docs/replication.md, "Volumes"): the
// conversions of VolumeManifest to and from the protocol, and
// VolumeLayerExchange, which lets the layer senders (ChainReader) serve a
// volume's anonymous layers under their "anon-" wire names.
#ifndef LAYERDISK_REPLICATION_VOLUME_LAYERS_H_
#define LAYERDISK_REPLICATION_VOLUME_LAYERS_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/layer_exchange.h"
#include "engine/volume_exchange.h"
#include "proto/replication.pb.h"

namespace layerdisk {

replication::VolumeManifest VolumeManifestToProto(const VolumeManifest& m);
// Shape only; ValidateVolumeManifest judges the content.
VolumeManifest VolumeManifestFromProto(const replication::VolumeManifest& p);

// `local`'s layers as a volume's sender shows them: the volume's anonymous
// layers under their wire names, its base layers and the layers below
// them; any other layer is NotFound. It receives nothing (those calls are
// FailedPrecondition); everything else goes to `local`.
class VolumeLayerExchange final : public LayerExchange {
 public:
  // `local` must outlive this.
  static absl::StatusOr<std::unique_ptr<VolumeLayerExchange>> Create(LayerExchange* local,
                                                                     VolumeExport volume);

  const VolumeExport& volume() const { return volume_; }

  uint32_t chunk_size() const override { return local_->chunk_size(); }
  absl::StatusOr<LayerManifest> ExportLayerManifest(const std::string& name) override;
  absl::StatusOr<std::vector<LayerInfo>> ListLayers() override { return local_->ListLayers(); }
  absl::StatusOr<std::vector<std::string>> ReadChunkRecords(
      absl::Span<const ChunkName> names) override {
    return local_->ReadChunkRecords(names);
  }
  absl::StatusOr<std::vector<bool>> HasChunks(absl::Span<const ChunkName> names) override {
    return local_->HasChunks(names);
  }
  absl::Status IngestChunkRecords(
      absl::Span<const ChunkStore::ReceivedRecord> records) override;
  absl::StatusOr<LayerInfo> CommitLayerManifest(const LayerManifest& m,
                                                const std::string& origin) override;
  absl::StatusOr<LayerInfo> BeginFetchingLayer(const LayerManifest& m,
                                               const std::string& origin) override;
  absl::StatusOr<std::vector<ChunkName>> MissingChunks(const std::string& name) override {
    return local_->MissingChunks(name);
  }
  absl::StatusOr<LayerInfo> CompleteFetchingLayer(const std::string& name) override;
  absl::StatusOr<std::vector<std::string>> FetchingLayers() override {
    return local_->FetchingLayers();
  }
  void SetMissingChunkSource(std::shared_ptr<MissingChunkSource> source) override {
    local_->SetMissingChunkSource(std::move(source));
  }

 private:
  VolumeLayerExchange(LayerExchange* local, VolumeExport volume)
      : local_(local), volume_(std::move(volume)) {}

  LayerExchange* const local_;
  const VolumeExport volume_;
  std::set<std::string> named_;  // base layers and the layers below them
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_VOLUME_LAYERS_H_
