// ParallelFor on the shared pool: every index runs exactly once, whatever
// the size, and calls made from several threads at once or from inside
// another call (the pool's threads all busy) still finish.
#include "common/parallel.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace layerdisk {
namespace {

// Runs ParallelFor over n items and returns how often each ran.
std::vector<int> RunCounts(size_t n) {
  std::vector<std::atomic<int>> counts(n);
  ParallelFor(n, [&](size_t begin, size_t end) {
    ASSERT_LE(begin, end);
    ASSERT_LE(end, n);
    for (size_t i = begin; i < end; ++i) counts[i].fetch_add(1);
  });
  std::vector<int> out;
  for (auto& c : counts) out.push_back(c.load());
  return out;
}

TEST(ParallelForTest, EveryIndexRunsOnce) {
  for (size_t n : {0, 1, 2, 3, 7, 8, 9, 31, 1000, 1024, 4097}) {
    std::vector<int> counts = RunCounts(n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(counts[i], 1) << "n=" << n << " i=" << i;
  }
}

TEST(ParallelForTest, ConcurrentCallersEachGetTheirWorkDone) {
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&wrong, t] {
      for (int round = 0; round < 50; ++round) {
        std::vector<int> counts = RunCounts(100 + t * 17 + round);
        for (int c : counts)
          if (c != 1) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ParallelForTest, NestedCallsFinish) {
  std::atomic<size_t> inner_items{0};
  ParallelFor(16, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i)
      ParallelFor(64, [&](size_t b, size_t e) { inner_items.fetch_add(e - b); });
  });
  EXPECT_EQ(inner_items.load(), 16u * 64u);
}

}  // namespace
}  // namespace layerdisk
