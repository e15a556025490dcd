// PoolCatalog: a store's side of the layer catalog shared by the stores on
// one RADOS pool (docs/ceph.md). Sealed named layers made here (import,
// seal, merge, flatten) are published as manifests; a layer published by
// another store is adopted on first use: this store references its chunks
// in the pool (no chunk bytes move) and commits its map locally, exactly as
// replication commits a received layer. From then on the layer is this
// store's own, kept alive by its own references even if the publisher
// deletes it.
//
// Thread-safe; calls into the store, so never called under its lock.
#ifndef LAYERDISK_ENGINE_POOL_CATALOG_H_
#define LAYERDISK_ENGINE_POOL_CATALOG_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dedupe/chunk_store.h"
#include "dedupe/shared_pool.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"

namespace layerdisk {

// The source recorded for layers adopted from the pool (LayerInfo::source
// is "replicate:" + this): they are never published again from here.
inline constexpr char kPoolOrigin[] = "pool";

class PoolCatalog {
 public:
  PoolCatalog(Store* store, ChunkStore* chunks);

  // Publishes the local layer `name`. AlreadyExists when the pool holds
  // that name with other content.
  absl::Status Publish(const std::string& name);
  // Publishes every sealed named layer made here that the pool lacks (after
  // a crash or an unreachable pool). Names other stores took are skipped.
  absl::Status PublishAll();
  // FailedPrecondition-free check before making a layer: AlreadyExists
  // when the pool holds `name` (made elsewhere).
  absl::Status CheckNameFree(const std::string& name);
  // Makes the pool's layer `name` (and its parent, first) local. NotFound
  // when the pool has no such layer.
  absl::Status Adopt(const std::string& name);
  // For each name not a local layer, adopts it when the pool has it.
  absl::Status AdoptMissing(const std::vector<std::string>& names);
  // The content identity of the local layer `name`, taken before a delete.
  absl::StatusOr<std::string> Identity(const std::string& name);
  // Removes `name` from the pool's catalog if it still holds `identity`.
  absl::Status Unpublish(const std::string& name, const std::string& identity);
  absl::StatusOr<std::vector<PoolLayer>> List();

 private:
  absl::Status AdoptChain(const std::string& name, int depth);

  Store* const store_;
  ChunkStore* const chunks_;
  SharedPool* const pool_;
  const std::unique_ptr<LayerExchange> exchange_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_POOL_CATALOG_H_
