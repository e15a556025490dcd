// ParallelFor: splits [0, n) into one contiguous range per core and runs fn
// on each, the caller's thread taking the first. For CPU-bound batches such
// as hashing and compressing the chunks of an import buffer.
#ifndef LAYERDISK_COMMON_PARALLEL_H_
#define LAYERDISK_COMMON_PARALLEL_H_

#include <algorithm>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace layerdisk {

inline void ParallelFor(size_t n, const std::function<void(size_t begin, size_t end)>& fn) {
  size_t workers = std::max<size_t>(1, std::thread::hardware_concurrency());
  workers = std::min(workers, n);
  if (workers <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  std::vector<std::thread> threads;
  size_t per = (n + workers - 1) / workers;
  for (size_t begin = per; begin < n; begin += per)
    threads.emplace_back(fn, begin, std::min(n, begin + per));
  fn(0, std::min(n, per));
  for (std::thread& t : threads) t.join();
}

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_PARALLEL_H_
