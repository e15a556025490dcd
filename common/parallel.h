// ParallelFor: runs fn over [0, n) in contiguous pieces on the calling
// thread and a process-wide pool of one thread per other core. For CPU-bound
// batches such as hashing and compressing the chunks of an import buffer.
//
// The pool's threads live as long as the process, so what they set up once
// per thread (compression and hashing contexts, malloc arenas) is reused
// instead of rebuilt for every batch. Pieces are claimed one at a time, so a
// core that another stage keeps busy takes fewer of them. The caller claims
// pieces too until none are left: a call finishes even when every pool
// thread is busy elsewhere, so calls may nest or run from many threads.
#ifndef LAYERDISK_COMMON_PARALLEL_H_
#define LAYERDISK_COMMON_PARALLEL_H_

#include <cstddef>
#include <functional>

namespace layerdisk {

void ParallelFor(size_t n, const std::function<void(size_t begin, size_t end)>& fn);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_PARALLEL_H_
