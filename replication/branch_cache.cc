#include "replication/branch_cache.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace layerdisk {

namespace {
// Chunks per prefetch request: about 1 MiB of 4 KiB blocks, as a pull's.
constexpr size_t kPrefetchBatch = 256;
// A read's own fetch is one request, however large the read.
constexpr size_t kReadBatch = 1 << 16;
// How long the prefetch waits after upstream failed before trying again.
constexpr absl::Duration kRetryDelay = absl::Seconds(2);
}  // namespace

BranchCache::BranchCache(LayerExchange* local, ChunkSource* source, ChunkSource* reads,
                         std::string upstream, uint64_t max_bytes_per_second)
    : local_(local),
      source_(source),
      reads_(reads),
      upstream_(std::move(upstream)),
      max_bytes_per_second_(max_bytes_per_second) {}

BranchCache::~BranchCache() { Stop(); }

void BranchCache::Start() {
  absl::MutexLock lock(&mu_);
  if (prefetcher_.joinable()) return;
  stopping_ = false;
  wake_ = true;  // resume what a previous run left fetching
  prefetcher_ = std::thread([this] { PrefetchLoop(); });
}

void BranchCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (prefetcher_.joinable()) prefetcher_.join();
}

absl::Status BranchCache::Store(std::vector<ChunkStore::ReceivedRecord> batch) {
  absl::Status stored = local_->IngestChunkRecords(batch);
  if (absl::IsDataLoss(stored))
    return absl::DataLossError(
        absl::StrFormat("rejected a chunk from %s: %s", upstream_, stored.message()));
  return stored;
}

absl::Status BranchCache::Fetch(const std::string& layer, absl::Span<const ChunkName> names) {
  return reads_->Fetch(layer, names, kReadBatch,
                        [this](std::vector<ChunkStore::ReceivedRecord> batch) {
                          return Store(std::move(batch));
                        });
}

absl::StatusOr<ReplicateResult> BranchCache::Pull(const std::string& layer,
                                                  uint64_t max_bytes_per_second) {
  ReplicateOptions options;
  options.origin = upstream_ + "/" + layer;
  options.lazy = true;
  ASSIGN_OR_RETURN(ReplicateResult result, ReplicateLayer(*source_, *local_, layer, options));
  absl::MutexLock lock(&mu_);
  if (max_bytes_per_second != 0) max_bytes_per_second_ = max_bytes_per_second;
  wake_ = true;
  return result;
}

bool BranchCache::Throttle(uint64_t bytes, std::chrono::steady_clock::time_point start) {
  absl::MutexLock lock(&mu_);
  if (max_bytes_per_second_ != 0) {
    auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(bytes) /
                                                         max_bytes_per_second_));
    auto wait = due - std::chrono::steady_clock::now();
    if (wait.count() > 0)
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(wait));
  }
  return !stopping_;
}

absl::Status BranchCache::PrefetchLayer(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<ChunkName> missing, local_->MissingChunks(name));
  const auto start = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  for (size_t i = 0; i < missing.size(); i += kPrefetchBatch) {
    absl::Span<const ChunkName> part = absl::MakeConstSpan(missing).subspan(i, kPrefetchBatch);
    // A read may have fetched some meanwhile: ask only for what is still missing.
    ASSIGN_OR_RETURN(std::vector<bool> have, local_->HasChunks(part));
    std::vector<ChunkName> lacking;
    for (size_t j = 0; j < part.size(); ++j)
      if (!have[j]) lacking.push_back(part[j]);
    if (!lacking.empty())
      RETURN_IF_ERROR(source_->Fetch(name, lacking, kPrefetchBatch,
                                     [&](std::vector<ChunkStore::ReceivedRecord> batch) {
                                       for (const auto& r : batch) bytes += r.record.size();
                                       return Store(std::move(batch));
                                     }));
    if (!Throttle(bytes, start)) return absl::CancelledError("the server is stopping");
  }
  absl::StatusOr<LayerInfo> done = local_->CompleteFetchingLayer(name);
  // A GC between fetching and completing removed unreferenced chunks: the
  // next round fetches them again.
  if (!done.ok()) return done.status();
  std::fprintf(stderr, "layerdisk: layer %s is complete (fetched from %s)\n", name.c_str(),
               upstream_.c_str());
  return absl::OkStatus();
}

void BranchCache::PrefetchLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stopping_; };
      mu_.Await(absl::Condition(&woken));
      if (stopping_) return;
      wake_ = false;
    }
    absl::StatusOr<std::vector<std::string>> fetching = local_->FetchingLayers();
    absl::Status round = fetching.status();
    if (fetching.ok())
      for (const std::string& name : *fetching) {
        round = PrefetchLayer(name);
        if (!round.ok()) break;
      }
    if (round.ok()) continue;
    if (absl::IsCancelled(round)) return;
    std::fprintf(stderr, "layerdisk: prefetch from %s: %s; retrying\n", upstream_.c_str(),
                 std::string(round.message()).c_str());
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), kRetryDelay);
    if (stopping_) return;
    wake_ = true;
  }
}

}  // namespace layerdisk
