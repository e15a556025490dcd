// A replication peer that lies, for tests only: it serves a real store's
// layers through the real ReplicationService, but damages what it sends.
//
//   fake_peer STORE MODE   prints "port N" and serves until stdin closes
//
// MODE forge:    each chunk record is re-encoded from bytes with one bit
//                flipped: a valid record whose content does not match its
//                name (SHA-256).
//      corrupt:  a payload byte of each record is flipped (bad checksum).
//      manifest: the first chunk name of the manifest is altered, the
//                identity left as it was (a volume's anonymous layers too).
//      volume:   a volume's description gains a snapshot over a layer that
//                the peer never sends.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "dedupe/chunk_codec.h"
#include "engine/layer_exchange.h"
#include "engine/volume_exchange.h"
#include "replication/replication_service.h"

namespace layerdisk {
namespace {

class LyingExchange final : public LayerExchange {
 public:
  LyingExchange(std::unique_ptr<LayerExchange> real, std::string mode)
      : real_(std::move(real)), mode_(std::move(mode)) {}

  uint32_t chunk_size() const override { return real_->chunk_size(); }
  absl::StatusOr<LayerManifest> ExportLayerManifest(const std::string& name) override {
    absl::StatusOr<LayerManifest> m = real_->ExportLayerManifest(name);
    if (m.ok() && mode_ == "manifest" && !m->segments.empty() &&
        !m->segments[0].map.names.empty())
      m->segments[0].map.names[0].bytes[0] ^= 1;
    return m;
  }
  absl::StatusOr<std::vector<LayerInfo>> ListLayers() override { return real_->ListLayers(); }
  absl::StatusOr<std::vector<std::string>> ReadChunkRecords(
      absl::Span<const ChunkName> names) override {
    absl::StatusOr<std::vector<std::string>> records = real_->ReadChunkRecords(names);
    if (!records.ok()) return records;
    for (std::string& record : *records) {
      if (mode_ == "corrupt") {
        record[record.size() - 1] ^= 0x40;
      } else if (mode_ == "forge") {
        std::string raw(ChunkRawLength(record), '\0');
        if (!DecodeChunk(record, absl::MakeSpan(raw)).ok()) continue;
        raw[0] ^= 1;
        EncodeChunk(raw, &record);
      }
    }
    return records;
  }
  absl::StatusOr<std::vector<bool>> HasChunks(absl::Span<const ChunkName> names) override {
    return real_->HasChunks(names);
  }
  absl::Status IngestChunkRecords(
      absl::Span<const ChunkStore::ReceivedRecord> records) override {
    return real_->IngestChunkRecords(records);
  }
  absl::StatusOr<LayerInfo> CommitLayerManifest(const LayerManifest& m,
                                                const std::string& origin) override {
    return real_->CommitLayerManifest(m, origin);
  }
  absl::StatusOr<LayerInfo> BeginFetchingLayer(const LayerManifest& m,
                                               const std::string& origin) override {
    return real_->BeginFetchingLayer(m, origin);
  }
  absl::StatusOr<std::vector<ChunkName>> MissingChunks(const std::string& name) override {
    return real_->MissingChunks(name);
  }
  absl::StatusOr<LayerInfo> CompleteFetchingLayer(const std::string& name) override {
    return real_->CompleteFetchingLayer(name);
  }
  absl::StatusOr<std::vector<std::string>> FetchingLayers() override {
    return real_->FetchingLayers();
  }
  void SetMissingChunkSource(std::shared_ptr<MissingChunkSource> source) override {
    real_->SetMissingChunkSource(std::move(source));
  }

 private:
  std::unique_ptr<LayerExchange> real_;
  const std::string mode_;
};

class LyingVolumes final : public VolumeExchange {
 public:
  LyingVolumes(std::unique_ptr<VolumeExchange> real, std::string mode)
      : real_(std::move(real)), mode_(std::move(mode)) {}

  absl::StatusOr<VolumeExport> ExportVolume(const std::string& volume) override {
    absl::StatusOr<VolumeExport> x = real_->ExportVolume(volume);
    if (!x.ok()) return x;
    if (mode_ == "manifest") {
      for (LayerManifest& m : x->layers) {
        if (m.segments.empty() || m.segments[0].map.names.empty()) continue;
        m.segments[0].map.names[0].bytes[0] ^= 1;
        break;
      }
    } else if (mode_ == "volume") {
      VolumeSnapshotManifest extra = x->volume.snapshots.back();
      extra.name += "-more";
      extra.layers.push_back(AnonymousLayerName(std::string(32, '\x5a')));
      x->volume.snapshots.push_back(extra);
    }
    return x;
  }
  absl::StatusOr<VolumePlan> PlanVolume(const std::string& as,
                                        const VolumeManifest& m) override {
    return real_->PlanVolume(as, m);
  }
  absl::StatusOr<VolumeCommitResult> CommitVolume(const std::string& as,
                                                  const VolumeManifest& m,
                                                  const std::vector<LayerManifest>& layers,
                                                  const std::string& origin) override {
    return real_->CommitVolume(as, m, layers, origin);
  }

 private:
  std::unique_ptr<VolumeExchange> real_;
  const std::string mode_;
};

int Run(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fake_peer STORE forge|corrupt|manifest|volume\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(argv[1], StoreOptions());
  if (!store.ok()) {
    std::fprintf(stderr, "fake_peer: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  LyingExchange exchange(GetLayerExchange(store->get()), argv[2]);
  LyingVolumes volumes(GetVolumeExchange(store->get()), argv[2]);
  ReplicationServiceOptions options;
  options.volumes = &volumes;
  ReplicationService service(&exchange, options);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return 1;
  std::printf("port %d\n", port);
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace layerdisk

int main(int argc, char** argv) { return layerdisk::Run(argc, argv); }
