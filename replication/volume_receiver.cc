#include "replication/volume_receiver.h"

#include <chrono>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

class VolumeReceiver {
 public:
  VolumeReceiver(ChunkSource& source, LayerExchange& local, VolumeExchange& volumes,
                 const ReplicateOptions& options)
      : source_(source), local_(local), volumes_(volumes), options_(options) {}

  absl::StatusOr<VolumeReceiveResult> Run(const VolumeManifest& m, const std::string& as);

 private:
  // The manifest of anonymous layer `name`, checked against the identity
  // its name claims over the layer `below` (empty: the base).
  absl::StatusOr<LayerManifest> FetchManifest(const VolumeManifest& m, const std::string& name,
                                              const std::string& below);
  // Fetches and stores the chunks of `layers` the store lacks.
  absl::Status FetchLacking(const std::vector<LayerManifest>& layers);

  ChunkSource& source_;
  LayerExchange& local_;
  VolumeExchange& volumes_;
  const ReplicateOptions& options_;
  VolumeReceiveResult result_;
  uint64_t fetch_done_ = 0, fetch_total_ = 0;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

absl::StatusOr<LayerManifest> VolumeReceiver::FetchManifest(const VolumeManifest& m,
                                                            const std::string& name,
                                                            const std::string& below) {
  ASSIGN_OR_RETURN(std::string claimed, IdentityOfAnonymousLayer(name));
  std::string below_identity = VolumeBaseIdentity(m);
  if (!below.empty()) {
    ASSIGN_OR_RETURN(below_identity, IdentityOfAnonymousLayer(below));
  }
  ASSIGN_OR_RETURN(LayerManifest lm, source_.GetManifest(name, /*header_only=*/false, nullptr));
  if (lm.name != name || lm.parent != below)
    return absl::DataLossError(absl::StrFormat(
        "asked the peer for layer %s of volume '%s' (over %s), it answered with %s over %s",
        name, m.name, below.empty() ? "the base" : below, lm.name,
        lm.parent.empty() ? "the base" : lm.parent));
  if (lm.block_size != local_.chunk_size())
    return absl::FailedPreconditionError(absl::StrFormat(
        "volume '%s' has %d-byte blocks but this store's chunk size is %d", m.name,
        lm.block_size, local_.chunk_size()));
  RETURN_IF_ERROR(ValidateManifest(lm));
  if (lm.identity != claimed || ManifestIdentity(lm, below_identity) != claimed)
    return absl::DataLossError(absl::StrFormat(
        "the peer's manifest of layer %s of volume '%s' does not match its identity (damaged "
        "or forged)",
        name, m.name));
  return lm;
}

absl::Status VolumeReceiver::FetchLacking(const std::vector<LayerManifest>& layers) {
  absl::flat_hash_set<ChunkName> seen;
  for (const LayerManifest& lm : layers) {
    std::vector<ChunkName> names;
    for (const ManifestSegment& s : lm.segments)
      for (const ChunkName& n : s.map.names)
        if (seen.insert(n).second) names.push_back(n);
    ASSIGN_OR_RETURN(std::vector<bool> have, local_.HasChunks(names));
    std::vector<ChunkName> lacking;
    for (size_t i = 0; i < names.size(); ++i)
      if (!have[i]) lacking.push_back(names[i]);
    if (lacking.empty()) continue;
    const size_t batch = std::max<size_t>(1, options_.batch_chunks != 0
                                                 ? options_.batch_chunks
                                                 : (size_t{1} << 20) / lm.block_size);
    RETURN_IF_ERROR(source_.Fetch(
        lm.name, lacking, batch,
        [&](std::vector<ChunkStore::ReceivedRecord> got) -> absl::Status {
          absl::Status stored = local_.IngestChunkRecords(got);
          if (absl::IsDataLoss(stored))
            return absl::DataLossError(absl::StrFormat("rejected a chunk from %s: %s",
                                                       options_.origin, stored.message()));
          RETURN_IF_ERROR(stored);
          result_.transfer.chunks_fetched += got.size();
          for (const auto& r : got) result_.transfer.record_bytes += r.record.size();
          fetch_done_ += got.size() * lm.block_size;
          if (options_.progress) options_.progress(fetch_done_, fetch_total_);
          return absl::OkStatus();
        }));
  }
  return absl::OkStatus();
}

absl::StatusOr<VolumeReceiveResult> VolumeReceiver::Run(const VolumeManifest& m,
                                                        const std::string& as) {
  RETURN_IF_ERROR(ValidateVolumeManifest(m));
  ASSIGN_OR_RETURN(VolumePlan plan, volumes_.PlanVolume(as, m));
  if (!plan.up_to_date) {
    for (const std::string& base : m.base_layers) {
      ASSIGN_OR_RETURN(ReplicateResult r, ReplicateLayer(source_, local_, base, options_));
      for (const std::string& l : r.layers_created) result_.transfer.layers_created.push_back(l);
      result_.transfer.logical_bytes += r.logical_bytes;
      result_.transfer.chunks_fetched += r.chunks_fetched;
      result_.transfer.record_bytes += r.record_bytes;
    }
    // The layers the store lacks, each after the one below it.
    std::set<std::string> known(plan.held.begin(), plan.held.end());
    std::vector<LayerManifest> layers;
    for (const VolumeSnapshotManifest& s : m.snapshots) {
      std::string below;
      for (const std::string& name : s.layers) {
        if (known.insert(name).second) {
          ASSIGN_OR_RETURN(LayerManifest lm, FetchManifest(m, name, below));
          fetch_total_ += lm.data_blocks * lm.block_size;
          layers.push_back(std::move(lm));
        }
        below = name;
      }
    }
    RETURN_IF_ERROR(FetchLacking(layers));
    absl::StatusOr<VolumeCommitResult> committed =
        volumes_.CommitVolume(as, m, layers, options_.origin);
    if (absl::IsDataLoss(committed.status())) {
      // A GC may have removed received chunks before the commit referenced
      // them (they had no references yet): fetch what is missing once more.
      RETURN_IF_ERROR(FetchLacking(layers));
      committed = volumes_.CommitVolume(as, m, layers, options_.origin);
    }
    RETURN_IF_ERROR(committed.status());
    result_.snapshots_created = committed->snapshots_created;
    result_.anonymous_layers_created = layers.size();
    for (const LayerManifest& lm : layers)
      result_.transfer.logical_bytes += lm.data_blocks * lm.block_size;
  }
  result_.transfer.up_to_date = plan.up_to_date;
  if (options_.progress) options_.progress(fetch_total_, fetch_total_);
  result_.transfer.wire_bytes = source_.wire_bytes();
  result_.transfer.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return result_;
}

}  // namespace

absl::StatusOr<VolumeReceiveResult> ReceiveVolume(ChunkSource& source, LayerExchange& local,
                                                  VolumeExchange& volumes,
                                                  const VolumeManifest& m,
                                                  const std::string& as,
                                                  const ReplicateOptions& options) {
  VolumeReceiver receiver(source, local, volumes, options);
  return receiver.Run(m, as.empty() ? m.name : as);
}

}  // namespace layerdisk
