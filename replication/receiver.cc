#include "replication/receiver.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace layerdisk {

absl::Status CheckBatchComplete(const std::string& layer, absl::Span<const ChunkName> asked,
                                const std::vector<ChunkStore::ReceivedRecord>& got) {
  absl::flat_hash_set<ChunkName> pending(asked.begin(), asked.end());
  for (const ChunkStore::ReceivedRecord& r : got)
    if (pending.erase(r.name) == 0)
      return absl::DataLossError(absl::StrFormat(
          "the peer sent chunk %s of layer '%s', which was not asked for", r.name.Hex(), layer));
  if (!pending.empty())
    return absl::DataLossError(absl::StrFormat(
        "the peer left out chunk %s of layer '%s' (and %d more): truncated stream?",
        pending.begin()->Hex(), layer, pending.size() - 1));
  return absl::OkStatus();
}

namespace {

std::string ShortHex(const std::string& identity) {
  return ChunkName::FromBytes(identity).Hex().substr(0, 16);
}

class Receiver {
 public:
  Receiver(ChunkSource& source, LayerExchange& local, const ReplicateOptions& options)
      : source_(source), local_(local), options_(options) {}

  absl::StatusOr<ReplicateResult> Run(const std::string& layer);

 private:
  // The chain of layers to copy, `layer` first, down to (not including) the
  // first one the store already holds with the same content.
  absl::StatusOr<std::vector<LayerManifest>> MissingChain(const std::string& layer);
  absl::Status CopyLayer(const LayerManifest& header);
  // A local layer the peer may send `header`'s map relative to: of the same
  // size, with the longest name prefix in common (os-v1 for os-v2). The
  // peer uses it only if it holds the same content under that name.
  std::optional<LayerManifest> ChooseBase(const LayerManifest& header);
  // Commits `m` as a fetching layer (branch cache mode). The store checks
  // the identity over the local parent, fetching or not.
  absl::Status BeginLazy(const LayerManifest& m) {
    RETURN_IF_ERROR(local_.BeginFetchingLayer(m, options_.origin).status());
    result_.layers_created.push_back(m.name);
    result_.logical_bytes += m.data_blocks * m.block_size;
    return absl::OkStatus();
  }
  // Fetches and stores the chunks of `names` the store lacks.
  absl::Status FetchLacking(const LayerManifest& m, const std::vector<ChunkName>& names);

  // Sleeps until the bytes moved so far fit under the rate limit.
  void Throttle() const {
    if (options_.max_bytes_per_second == 0) return;
    auto due = start_ + std::chrono::duration<double>(
                            static_cast<double>(source_.wire_bytes()) /
                            static_cast<double>(options_.max_bytes_per_second));
    std::this_thread::sleep_until(due);
  }
  size_t BatchChunks(uint32_t block_size) const {
    if (options_.batch_chunks != 0) return options_.batch_chunks;
    return std::max<size_t>(1, kBatchBytes / block_size);
  }
  // About 1 MiB of blocks per request: large enough to keep the stream
  // busy, small enough that a killed transfer loses little.
  static constexpr size_t kBatchBytes = 1 << 20;

  ChunkSource& source_;
  LayerExchange& local_;
  const ReplicateOptions& options_;
  ReplicateResult result_;
  uint64_t fetch_done_ = 0, fetch_total_ = 0;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

absl::StatusOr<std::vector<LayerManifest>> Receiver::MissingChain(const std::string& layer) {
  std::vector<LayerManifest> chain;
  std::string name = layer;
  while (!name.empty()) {
    ASSIGN_OR_RETURN(LayerManifest header,
                     source_.GetManifest(name, /*header_only=*/true, nullptr));
    if (header.name != name)
      return absl::DataLossError(absl::StrFormat(
          "asked the peer for layer '%s', it answered with '%s'", name, header.name));
    if (header.block_size != local_.chunk_size())
      return absl::FailedPreconditionError(absl::StrFormat(
          "layer '%s' has %d-byte blocks but this store's chunk size is %d: layers travel "
          "only between stores of the same chunk size",
          name, header.block_size, local_.chunk_size()));
    absl::StatusOr<LayerManifest> here = local_.ExportLayerManifest(name);
    if (here.ok()) {
      if (here->identity == header.identity) break;  // this and all below are here
      return absl::AlreadyExistsError(absl::StrFormat(
          "layer '%s' exists here with other content than the peer's (identity %s here, %s "
          "there); delete or rename it to replicate",
          name, ShortHex(here->identity), ShortHex(header.identity)));
    }
    if (options_.lazy && absl::IsFailedPrecondition(here.status())) {
      // Already being fetched here (its prefetch completes it).
      ASSIGN_OR_RETURN(std::vector<std::string> fetching, local_.FetchingLayers());
      if (std::count(fetching.begin(), fetching.end(), name)) break;
    }
    if (!absl::IsNotFound(here.status())) return here.status();
    for (const LayerManifest& seen : chain)
      if (seen.name == header.parent)
        return absl::DataLossError("the peer's layer chain is a cycle at '" + seen.name + "'");
    chain.push_back(header);
    name = header.parent;
  }
  return chain;
}

absl::Status Receiver::FetchLacking(const LayerManifest& m,
                                    const std::vector<ChunkName>& names) {
  ASSIGN_OR_RETURN(std::vector<bool> have, local_.HasChunks(names));
  std::vector<ChunkName> lacking;
  for (size_t i = 0; i < names.size(); ++i)
    if (!have[i]) lacking.push_back(names[i]);
  if (lacking.empty()) return absl::OkStatus();
  return source_.Fetch(
      m.name, lacking, BatchChunks(m.block_size),
      [&](std::vector<ChunkStore::ReceivedRecord> batch) -> absl::Status {
        absl::Status stored = local_.IngestChunkRecords(batch);
        if (!stored.ok() && absl::IsDataLoss(stored))
          return absl::DataLossError(absl::StrFormat("rejected a chunk from %s: %s",
                                                     options_.origin, stored.message()));
        RETURN_IF_ERROR(stored);
        result_.chunks_fetched += batch.size();
        for (const auto& r : batch) result_.record_bytes += r.record.size();
        fetch_done_ += batch.size() * m.block_size;
        if (options_.progress) options_.progress(fetch_done_, fetch_total_);
        Throttle();
        return absl::OkStatus();
      });
}

std::optional<LayerManifest> Receiver::ChooseBase(const LayerManifest& header) {
  absl::StatusOr<std::vector<LayerInfo>> layers = local_.ListLayers();
  if (!layers.ok()) return std::nullopt;
  const LayerInfo* best = nullptr;
  size_t best_prefix = 0;
  for (const LayerInfo& l : *layers) {
    if (l.size != header.size || !l.sealed) continue;
    size_t prefix = 0;
    while (prefix < l.name.size() && prefix < header.name.size() &&
           l.name[prefix] == header.name[prefix])
      ++prefix;
    if (best == nullptr || prefix > best_prefix || (prefix == best_prefix && l.id > best->id)) {
      best = &l;
      best_prefix = prefix;
    }
  }
  if (best == nullptr) return std::nullopt;
  absl::StatusOr<LayerManifest> m = local_.ExportLayerManifest(best->name);
  if (!m.ok()) return std::nullopt;
  return *std::move(m);
}

absl::Status Receiver::CopyLayer(const LayerManifest& header) {
  std::optional<LayerManifest> base = ChooseBase(header);
  ASSIGN_OR_RETURN(LayerManifest m, source_.GetManifest(header.name, /*header_only=*/false,
                                                        base ? &*base : nullptr));
  base.reset();
  if (m.identity != header.identity)
    return absl::AbortedError(absl::StrFormat(
        "layer '%s' changed at the peer during the transfer; run again", header.name));
  RETURN_IF_ERROR(ValidateManifest(m));
  std::string parent_identity;
  if (!m.parent.empty()) {
    absl::StatusOr<LayerManifest> parent = local_.ExportLayerManifest(m.parent);
    if (options_.lazy && absl::IsFailedPrecondition(parent.status()))
      return BeginLazy(m);  // over a parent still fetching: the commit checks
    RETURN_IF_ERROR(parent.status());
    parent_identity = parent->identity;
  }
  if (ManifestIdentity(m, parent_identity) != m.identity)
    return absl::DataLossError(absl::StrFormat(
        "the peer's manifest of layer '%s' does not match its identity (damaged or forged)",
        m.name));
  if (options_.lazy) return BeginLazy(m);
  absl::flat_hash_set<ChunkName> unique;
  std::vector<ChunkName> names;
  for (const ManifestSegment& s : m.segments)
    for (const ChunkName& n : s.map.names)
      if (unique.insert(n).second) names.push_back(n);
  unique.clear();
  RETURN_IF_ERROR(FetchLacking(m, names));
  absl::StatusOr<LayerInfo> committed = local_.CommitLayerManifest(m, options_.origin);
  if (absl::IsDataLoss(committed.status())) {
    // A GC may have removed received chunks before the commit referenced
    // them (they had no references yet): fetch what is missing once more.
    RETURN_IF_ERROR(FetchLacking(m, names));
    committed = local_.CommitLayerManifest(m, options_.origin);
  }
  RETURN_IF_ERROR(committed.status());
  result_.layers_created.push_back(m.name);
  result_.logical_bytes += m.data_blocks * m.block_size;
  return absl::OkStatus();
}

absl::StatusOr<ReplicateResult> Receiver::Run(const std::string& layer) {
  ASSIGN_OR_RETURN(std::vector<LayerManifest> chain, MissingChain(layer));
  result_.up_to_date = chain.empty();
  for (const LayerManifest& h : chain) fetch_total_ += h.data_blocks * h.block_size;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) RETURN_IF_ERROR(CopyLayer(*it));
  if (options_.progress) options_.progress(fetch_total_, fetch_total_);
  result_.wire_bytes = source_.wire_bytes();
  result_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return result_;
}

}  // namespace

absl::StatusOr<ReplicateResult> ReplicateLayer(ChunkSource& source, LayerExchange& local,
                                               const std::string& layer,
                                               const ReplicateOptions& options) {
  RETURN_IF_ERROR(ValidateName("layer", layer));
  Receiver receiver(source, local, options);
  return receiver.Run(layer);
}

}  // namespace layerdisk
