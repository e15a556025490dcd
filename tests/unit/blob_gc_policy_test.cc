#include "dedupe/blob_gc_policy.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace layerdisk {
namespace {

TEST(BlobGcPolicy, NoGarbageRewritesNothing) {
  EXPECT_EQ(OldestBlobFilesToRewrite({}), 0u);
  std::vector<BlobFileUsage> files = {{100, 0}, {100, 0}};
  EXPECT_EQ(OldestBlobFilesToRewrite(files), 0u);
}

TEST(BlobGcPolicy, GarbageBelowAQuarterStays) {
  std::vector<BlobFileUsage> files = {{100, 20}, {100, 24}};
  EXPECT_EQ(OldestBlobFilesToRewrite(files), 0u);
}

TEST(BlobGcPolicy, TakesTheLongestOldestRunAtLeastAQuarterGarbage) {
  // Prefix ratios: 0.5, 0.25, 0.1667, 0.25, 0.2.
  std::vector<BlobFileUsage> files = {{100, 50}, {100, 0}, {100, 0}, {100, 50}, {100, 0}};
  EXPECT_EQ(OldestBlobFilesToRewrite(files), 4u);
}

TEST(BlobGcPolicy, GarbageInTheNewestFilesAloneWaits) {
  // A recently deleted layer's leftovers beside much live old data.
  std::vector<BlobFileUsage> files = {{1000, 0}, {1000, 0}, {100, 60}};
  EXPECT_EQ(OldestBlobFilesToRewrite(files), 0u);
  files.push_back({100, 100});
  files.push_back({1000, 700});  // now 860 of 3200: over a quarter
  EXPECT_EQ(OldestBlobFilesToRewrite(files), 5u);
}

TEST(BlobGcPolicy, ThresholdIsAParameter) {
  std::vector<BlobFileUsage> files = {{100, 10}, {100, 0}};
  EXPECT_EQ(OldestBlobFilesToRewrite(files, 0.1), 1u);
  EXPECT_EQ(OldestBlobFilesToRewrite(files, 0.05), 2u);
}

// RocksDB rewrites the floor(cutoff * total) oldest files.
TEST(BlobGcPolicy, CutoffSelectsExactlyThatManyFiles) {
  for (size_t total = 1; total <= 300; ++total) {
    for (size_t rewrite = 1; rewrite <= total; ++rewrite) {
      double cutoff = BlobGcAgeCutoff(rewrite, total);
      ASSERT_LE(cutoff, 1.0);
      size_t selected = static_cast<size_t>(cutoff * static_cast<double>(total));
      ASSERT_EQ(std::min(selected, total), rewrite) << rewrite << " of " << total;
    }
  }
}

}  // namespace
}  // namespace layerdisk
