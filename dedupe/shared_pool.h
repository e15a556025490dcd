// SharedPool: what the stores sharing one RADOS pool share besides chunk
// records: whose references each chunk object carries, a catalog of
// published layers, and the pool's usage (docs/ceph.md).
//
// A chunk object carries one omap key per store that holds the chunk
// (`ref.<store id>`), set in the same atomic operation that writes the
// record. A store removes its key only when its own count is zero, and an
// object is removed only when no key is left, by an operation that asserts
// the object's version: a key added meanwhile by any store changes the
// version and the removal fails. So no store deletes a chunk another holds,
// with no locks and no clocks.
//
// Thread-safe.
#ifndef LAYERDISK_DEDUPE_SHARED_POOL_H_
#define LAYERDISK_DEDUPE_SHARED_POOL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dedupe/chunk_name.h"

namespace layerdisk {

// A layer published in the pool's catalog.
struct PoolLayer {
  std::string name;
  std::string identity;      // the manifest's content identity (hex)
  std::string published_by;  // "host:directory" of the store that published it
};

// A store registered in the pool.
struct PoolStore {
  std::string id;     // its store id (the `ref.<id>` keys it puts on chunks)
  std::string where;  // "host:directory" it registered from
  bool self = false;  // the store asking
};

// What forgetting a store took from the pool.
struct PoolForgetResult {
  bool was_registered = false;
  uint64_t references_dropped = 0;  // its keys removed from chunk objects
  uint64_t chunks_removed = 0;      // objects left with no store's key
};

struct PoolUsage {
  uint64_t objects = 0;
  uint64_t bytes = 0;
  uint64_t stores = 0;  // stores registered in the pool
};

class SharedPool {
 public:
  virtual ~SharedPool() = default;

  // --- references ---
  // Adds this store's reference to records other stores put in the pool,
  // returning each one's stored length. NotFound naming the first chunk no
  // longer in the pool (then some of the others may carry the reference:
  // the store's sweep removes what it does not hold).
  virtual absl::StatusOr<std::vector<uint32_t>> Claim(absl::Span<const ChunkName> names) = 0;
  // Removes this store's reference from each chunk, then each chunk left
  // with no reference (a missing one is no error). Returns how many objects
  // were removed.
  virtual absl::StatusOr<uint64_t> Release(absl::Span<const ChunkName> names) = 0;
  // Calls `fn` with every chunk object of the pool that carries this
  // store's reference or none at all, in batches: the store releases the
  // ones it does not hold (a crash between a write to the pool and the
  // local commit leaves such references behind).
  virtual absl::Status ForEachSweepCandidate(
      const std::function<absl::Status(absl::Span<const ChunkName>)>& fn) = 0;

  // --- the catalog of published layers ---
  // Publishes `manifest` (an encoded layer manifest) under `name`. Done
  // when the name already holds the same identity; AlreadyExists naming
  // the publisher when it holds another.
  virtual absl::Status PublishLayer(const std::string& name, const std::string& identity,
                                    std::string_view manifest) = 0;
  // The encoded manifest published under `name` (NotFound: none).
  virtual absl::StatusOr<std::string> ReadLayer(const std::string& name) = 0;
  // Every published layer, by name.
  virtual absl::StatusOr<std::vector<PoolLayer>> ListLayers() = 0;
  // Removes `name` from the catalog if it still holds `identity`.
  virtual absl::Status UnpublishLayer(const std::string& name, const std::string& identity) = 0;

  // --- the stores sharing the pool ---
  virtual absl::StatusOr<std::vector<PoolStore>> ListStores() = 0;
  // For a store that is gone for good (its host decommissioned, its
  // directory lost): unregisters it, so that it refuses to open should it
  // come back, then drops its reference from every chunk object and
  // removes the objects no store references any more. Idempotent: an
  // interrupted call is finished by another. FailedPrecondition for the
  // store asking. A store still running when forgotten loses chunks.
  virtual absl::StatusOr<PoolForgetResult> ForgetStore(const std::string& store_id) = 0;

  virtual absl::StatusOr<PoolUsage> Usage() = 0;
  // The pool's name, for messages.
  virtual const std::string& pool_name() const = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_SHARED_POOL_H_
