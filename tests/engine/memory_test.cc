// Memory bound for thin volumes: a 1 TiB volume with 2 GiB written across it
// must not need memory in proportion to its virtual size or to the data
// written. Asserts peak RSS (VmHWM), not time.
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_format.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::Rng;
using testing_util::ScopedTempDir;

constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30, kTiB = 1ull << 40;

// Peak resident set size of this process, in bytes.
uint64_t PeakRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "VmHWM: %llu kB", &kb) == 1) return kb * 1024;
  }
  ADD_FAILURE() << "no VmHWM in /proc/self/status";
  return 0;
}

TEST(MemoryTest, TerabyteThinVolumeWithTwoGigabytesWritten) {
  const uint64_t seed = 31;
  testing_util::AnnounceSeed(seed);
  const uint64_t before = PeakRss();
  ScopedTempDir dir("memory");

  const uint64_t kWrites = 2048, kWriteSize = 1 * kMiB;
  const uint64_t spacing = kTiB / kWrites;  // 512 MiB between writes
  Rng rng(seed);
  std::vector<uint64_t> offsets(kWrites);
  for (uint64_t i = 0; i < kWrites; ++i)
    offsets[i] = i * spacing + 4096 * rng.Uniform((spacing - kWriteSize) / 4096);
  std::string layer_data(4 * kMiB, '\0');
  FillPattern(seed, 0, layer_data.data(), layer_data.size());

  {
    auto store_or = Store::Open(dir.path(), StoreOptions{});
    ASSERT_TRUE(store_or.ok()) << store_or.status();
    auto store = std::move(store_or).value();
    MemDevice layer(layer_data);
    ASSERT_TRUE(store->ImportLayer("small", layer, "memory", nullptr).ok());
    auto info = store->CreateVolume("big", {"small"}, kTiB);
    ASSERT_TRUE(info.ok()) << info.status();
    ASSERT_EQ(info->size, kTiB);
    auto dev_or = store->OpenVolume("big");
    ASSERT_TRUE(dev_or.ok()) << dev_or.status();
    auto dev = std::move(dev_or).value();
    ASSERT_EQ(dev->size(), kTiB);
    std::string buf(kWriteSize, '\0');
    for (uint64_t i = 0; i < kWrites; ++i) {
      FillPattern(seed + 1, offsets[i], buf.data(), buf.size());
      absl::Status st = dev->Write(offsets[i], buf, false);
      ASSERT_TRUE(st.ok()) << "write " << i << " at " << offsets[i] << ": "
                           << st;
      if (i % 256 == 255) LD_ASSERT_OK(dev->Flush());
    }
    LD_ASSERT_OK(dev->Flush());
    std::cout << absl::StrFormat("peak RSS after writing 2 GiB: %d MiB",
                                 PeakRss() / kMiB)
              << std::endl;
  }

  auto store_or = Store::Open(dir.path(), StoreOptions{});
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  auto store = std::move(store_or).value();
  auto dev_or = store->OpenVolume("big");
  ASSERT_TRUE(dev_or.ok()) << dev_or.status();
  auto dev = std::move(dev_or).value();
  ASSERT_EQ(dev->size(), kTiB);
  std::string got(kWriteSize, '\0'), want(kWriteSize, '\0');
  for (int k = 0; k < 64; ++k) {
    uint64_t i = rng.Uniform(kWrites);
    LD_ASSERT_OK(dev->Read(offsets[i], absl::MakeSpan(got)));
    FillPattern(seed + 1, offsets[i], want.data(), want.size());
    ASSERT_TRUE(got == want) << "write " << i << " at " << offsets[i] << ": "
                             << testing_util::FirstDifference(
                                    want.data(), got.data(), got.size(),
                                    offsets[i]);
  }
  // The small layer shows where nothing was written over it; the far end of
  // the volume is a hole.
  std::string head(kMiB, '\0');
  const uint64_t probe = offsets[0] >= kMiB ? 0 : 2 * kMiB;
  LD_ASSERT_OK(dev->Read(probe, absl::MakeSpan(head)));
  EXPECT_TRUE(head == layer_data.substr(probe, kMiB))
      << "the base layer does not show through at " << probe;
  std::string tail(kMiB, '\x55');
  LD_ASSERT_OK(dev->Read(kTiB - kMiB, absl::MakeSpan(tail)));
  if (offsets.back() + kWriteSize <= kTiB - kMiB)
    EXPECT_EQ(tail, std::string(kMiB, '\0'));
  auto map = dev->Map(kTiB - 64 * kMiB, 64 * kMiB);
  ASSERT_TRUE(map.ok()) << map.status();

  // Sealing a big head (hash, dedup, compress) must not hold it in memory
  // either. Three quarters are trimmed first to keep the test short: 512 MiB
  // of data and 1.5 GiB of zero markers are sealed.
  std::cout << absl::StrFormat("peak RSS before sealing: %d MiB",
                               PeakRss() / kMiB)
            << std::endl;
  auto kept = [](uint64_t i) { return i % 4 == 0; };
  for (uint64_t i = 0; i < kWrites; ++i)
    if (!kept(i)) LD_ASSERT_OK(dev->Trim(offsets[i], kWriteSize, false));
  auto snap = store->CreateSnapshot("big", "s1");
  ASSERT_TRUE(snap.ok()) << snap.status();
  LD_ASSERT_OK(store->WaitForBackgroundWork());
  auto snap_dev = store->OpenSnapshot("big", "s1");
  ASSERT_TRUE(snap_dev.ok()) << snap_dev.status();
  for (int k = 0; k < 32; ++k) {
    uint64_t i = rng.Range(1, kWrites - 1);
    LD_ASSERT_OK((*snap_dev)->Read(offsets[i], absl::MakeSpan(got)));
    if (kept(i)) {
      FillPattern(seed + 1, offsets[i], want.data(), want.size());
    } else {
      std::memset(want.data(), 0, want.size());
    }
    ASSERT_TRUE(got == want) << "sealed write " << i << " at " << offsets[i]
                             << (kept(i) ? "" : " (trimmed)");
  }

  const uint64_t after = PeakRss();
  std::cout << absl::StrFormat("peak RSS: %d MiB before, %d MiB after",
                               before / kMiB, after / kMiB)
            << std::endl;
  RecordProperty("peak_rss_mib", std::to_string(after / kMiB));
  EXPECT_LT(after, 1 * kGiB) << "peak RSS " << after / kMiB << " MiB";
}

}  // namespace
}  // namespace layerdisk
