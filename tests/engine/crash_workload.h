// The deterministic workload crash_writer performs and kill9_test replays:
// every write is a function of (seed, iteration), so the test can recompute
// what each sector may hold from the writer's log alone.
#ifndef LAYERDISK_TESTS_ENGINE_CRASH_WORKLOAD_H_
#define LAYERDISK_TESTS_ENGINE_CRASH_WORKLOAD_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "tests/engine/test_util.h"

namespace layerdisk::crash_workload {

inline constexpr uint64_t kSector = 512;
inline constexpr uint64_t kVolumeSize = 32ull << 20;
inline constexpr uint64_t kSectors = kVolumeSize / kSector;
inline constexpr char kVolume[] = "vol";

struct WriteOp {
  bool zero = false;  // WriteZeroes/Trim instead of data
  bool trim = false;
  bool fua = false;
  uint64_t first = 0;  // sector
  uint64_t count = 0;  // sectors
  bool flush_after = false;
  bool snapshot_after = false;  // in snapshot mode
};

inline WriteOp OpFor(uint64_t seed, uint64_t iteration) {
  testing_util::Rng r(testing_util::Mix(seed, iteration));
  WriteOp op;
  op.zero = r.OneIn(10);
  op.trim = op.zero && r.OneIn(2);
  op.fua = r.OneIn(16);
  op.count = r.OneIn(2) ? r.Range(1, 8) : r.Range(1, 256);
  if (r.OneIn(3)) op.count = 8 * r.Range(1, 32);  // whole 4K blocks
  op.first = r.Uniform(kSectors - op.count + 1);
  if (r.OneIn(2)) op.first &= ~uint64_t{7};
  op.flush_after = r.OneIn(6);
  op.snapshot_after = r.OneIn(25);
  return op;
}

// Key for the bytes of a data write; sector s holds
// FillPattern(DataKey(seed, i), s * kSector, ...).
inline uint64_t DataKey(uint64_t seed, uint64_t iteration) {
  return testing_util::Mix(seed ^ 0x5eedull, iteration);
}

inline std::string SnapshotName(int round, uint64_t iteration) {
  return absl::StrFormat("r%d-i%d", round, iteration);
}

// Import mode: layer "imp-<round>-<n>" holds ImportImage(seed, n).
inline constexpr uint64_t kImportSize = 8ull << 20;
inline std::string ImportImage(uint64_t seed, uint64_t n) {
  std::string data(kImportSize, '\0');
  testing_util::Rng r(testing_util::Mix(seed, n + 1000000));
  uint64_t key = r.Next();
  for (uint64_t off = 0; off < kImportSize; off += 4096) {
    uint64_t k = r.Uniform(8);
    if (k == 0) continue;  // zero block
    // k == 1: a block shared across imports (dedup)
    testing_util::FillPattern(k == 1 ? 42 : key, off, data.data() + off, 4096);
  }
  return data;
}

}  // namespace layerdisk::crash_workload

#endif  // LAYERDISK_TESTS_ENGINE_CRASH_WORKLOAD_H_
