// SharedPool on a RADOS pool (dedupe/shared_pool.h; the objects are in
// docs/ceph.md). Compiled only when librados is found.
#ifndef LAYERDISK_DEDUPE_RADOS_SHARED_POOL_H_
#define LAYERDISK_DEDUPE_RADOS_SHARED_POOL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "dedupe/rados_connection.h"
#include "dedupe/shared_pool.h"

namespace layerdisk {

// Registers the store in the pool's record (`layerdisk.pool`), creating the
// record for the first store. FailedPrecondition when the pool's stores
// use another chunk size (their layers could not be shared).
absl::Status JoinRadosPool(RadosConnection& conn, uint32_t chunk_size,
                           const std::string& where);

// FailedPrecondition when the store is not registered in the pool: it was
// forgotten (SharedPool::ForgetStore) and the chunks it referenced may be
// gone.
absl::Status CheckRegisteredInRadosPool(RadosConnection& conn);

std::unique_ptr<SharedPool> NewRadosSharedPool(std::shared_ptr<RadosConnection> conn);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_RADOS_SHARED_POOL_H_
