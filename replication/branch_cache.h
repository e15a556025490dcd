// BranchCache: branch cache mode (`layerdisk serve --upstream HOST:PORT`,
// docs/replication.md). A pull commits the manifests of the layers the
// store lacks at once, marked fetching; volumes over them are served at
// once; a read that needs a chunk not yet here fetches it from upstream
// (this is the store's MissingChunkSource), and a background prefetch
// completes each layer, which then becomes an ordinary complete layer. On
// start the prefetch resumes every layer still fetching.
//
// Every chunk, read-through or prefetched, is verified exactly as a pull
// verifies it (ChunkStore::IngestRecords) before it is stored or served.
// Thread-safe.
#ifndef LAYERDISK_REPLICATION_BRANCH_CACHE_H_
#define LAYERDISK_REPLICATION_BRANCH_CACHE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "engine/layer_exchange.h"
#include "layers/missing_chunk_source.h"
#include "replication/chunk_source.h"
#include "replication/receiver.h"

namespace layerdisk {

class BranchCache final : public MissingChunkSource {
 public:
  // `local` and the sources must outlive the cache; `upstream` names it in
  // messages and layer sources. Pulls and the prefetch use `source`; reads
  // that wait for missing chunks use `reads` (the same upstream, with a
  // deadline per call). `max_bytes_per_second` (0: none) limits the
  // prefetch's average rate until a pull sets another.
  BranchCache(LayerExchange* local, ChunkSource* source, ChunkSource* reads,
              std::string upstream, uint64_t max_bytes_per_second);
  ~BranchCache() override;

  // Starts the background prefetch (resuming layers still fetching).
  void Start();
  // Stops it; a batch under way is finished or abandoned, never half stored.
  void Stop();

  // Commits the layers of `layer`'s chain that the store lacks as fetching
  // and wakes the prefetch; returns at once. `max_bytes_per_second`, unless
  // 0, becomes the prefetch's rate limit from now on (0 keeps the current).
  absl::StatusOr<ReplicateResult> Pull(const std::string& layer,
                                       uint64_t max_bytes_per_second);

  // MissingChunkSource: a read's missing chunks, in one FetchChunks exchange.
  absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names) override;

 private:
  void PrefetchLoop();
  // Fetches every missing chunk of `name`, then completes it.
  absl::Status PrefetchLayer(const std::string& name);
  // Verifies and stores one batch from upstream.
  absl::Status Store(std::vector<ChunkStore::ReceivedRecord> batch);
  // Sleeps until the prefetch's bytes so far fit under the rate limit; false
  // when stopping.
  bool Throttle(uint64_t bytes, std::chrono::steady_clock::time_point start);

  LayerExchange* const local_;
  ChunkSource* const source_;
  ChunkSource* const reads_;
  const std::string upstream_;
  absl::Mutex mu_;
  uint64_t max_bytes_per_second_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread prefetcher_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_BRANCH_CACHE_H_
