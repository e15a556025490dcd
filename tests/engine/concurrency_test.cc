// Concurrent I/O on one volume (BlockDevice is thread-safe): writers that
// share 4 KiB blocks but never a sector must not lose each other's bytes to
// read-modify-write, while readers, flushes and snapshots run beside them.
//
// Replay with LAYERDISK_TEST_SEED=<seed>.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::AnnounceSeed;
using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::Mix;
using testing_util::Rng;
using testing_util::ScopedTempDir;

constexpr uint64_t kSector = 512;
constexpr int kWriters = 4;

// Sector s belongs to writer s % kWriters, so every 4 KiB block has sectors
// of every writer and each partial write is a read-modify-write of a block
// the others are writing too.
void RunConcurrent(uint64_t seed, uint32_t chunk_size) {
  AnnounceSeed(seed);
  ScopedTempDir dir("concurrent");
  StoreOptions options;
  options.chunk_size = chunk_size;
  auto store_or = Store::Open(dir.path(), options);
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  auto store = std::move(store_or).value();
  const uint64_t size = 512 << 10, sectors = size / kSector;
  std::string base(size, '\0');
  FillPattern(seed, 0, base.data(), size);
  MemDevice base_dev(base);
  ASSERT_TRUE(store->ImportLayer("base", base_dev, "m", nullptr).ok());
  ASSERT_TRUE(store->CreateVolume("vol", {"base"}, std::nullopt).ok());
  auto dev_or = store->OpenVolume("vol");
  ASSERT_TRUE(dev_or.ok()) << dev_or.status();
  std::shared_ptr<BlockDevice> dev = std::move(dev_or).value();

  // last[s]: key of the last write to sector s (0: base content).
  std::vector<uint64_t> last(sectors, 0);
  std::atomic<bool> failed{false};
  std::vector<std::string> errors(kWriters + 2);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      Rng rng(Mix(seed, t));
      std::string buf(kSector, '\0');
      for (int i = 0; i < 1500 && !failed; ++i) {
        uint64_t s = rng.Uniform(sectors / kWriters) * kWriters + t;
        uint64_t key = Mix(Mix(seed, t), i + 1);
        absl::Status st;
        if (rng.OneIn(10)) {
          st = dev->WriteZeroes(s * kSector, kSector, false);
          key = ~0ull;
        } else {
          FillPattern(key, s * kSector, buf.data(), kSector);
          st = dev->Write(s * kSector, buf, rng.OneIn(20));
        }
        if (st.ok() && rng.OneIn(50)) st = dev->Flush();
        if (!st.ok()) {
          errors[t] = absl::StrCat("writer ", t, " op ", i, ": ", st.ToString());
          failed = true;
          return;
        }
        last[s] = key;
      }
    });
  }
  std::atomic<bool> stop{false};
  threads.emplace_back([&] {  // a reader
    std::string buf(64 << 10, '\0');
    Rng rng(Mix(seed, 100));
    while (!stop && !failed) {
      uint64_t off = rng.Uniform(size - buf.size() + 1);
      absl::Status st = dev->Read(off, absl::MakeSpan(buf));
      if (!st.ok()) {
        errors[kWriters] = "reader: " + st.ToString();
        failed = true;
      }
    }
  });
  threads.emplace_back([&] {  // snapshots under load
    for (int i = 0; i < 5 && !stop && !failed; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      auto snap = store->CreateSnapshot("vol", absl::StrCat("s", i));
      if (!snap.ok()) {
        errors[kWriters + 1] = "snapshot: " + snap.status().ToString();
        failed = true;
      }
    }
  });
  for (int t = 0; t < kWriters; ++t) threads[t].join();
  stop = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  for (const auto& e : errors) EXPECT_TRUE(e.empty()) << e;
  ASSERT_FALSE(failed);

  auto check = [&](BlockDevice& d, const char* when) {
    std::string image(size, '\0');
    ASSERT_TRUE(d.Read(0, absl::MakeSpan(image)).ok());
    std::string want(kSector, '\0');
    int bad = 0;
    uint64_t first = 0;
    for (uint64_t s = 0; s < sectors; ++s) {
      if (last[s] == 0) {
        std::memcpy(want.data(), base.data() + s * kSector, kSector);
      } else if (last[s] == ~0ull) {
        std::memset(want.data(), 0, kSector);
      } else {
        FillPattern(last[s], s * kSector, want.data(), kSector);
      }
      if (std::memcmp(want.data(), image.data() + s * kSector, kSector) != 0)
        if (bad++ == 0) first = s;
    }
    EXPECT_EQ(bad, 0) << when << ": " << bad
                      << " sectors lost a concurrent write; first: sector "
                      << first << " (writer " << first % kWriters
                      << ", 4K block " << first / 8 << "), seed " << seed;
  };
  check(*dev, "after the writers");
  LD_ASSERT_OK(dev->Flush());
  dev.reset();
  LD_ASSERT_OK(store->WaitForBackgroundWork());
  store.reset();
  store_or = Store::Open(dir.path(), options);
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  store = std::move(store_or).value();
  auto again = store->OpenVolume("vol");
  ASSERT_TRUE(again.ok()) << again.status();
  check(**again, "after reopen");
  auto report = store->Fsck(nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
}

TEST(ConcurrencyTest, SectorWritersSharingBlocks4K) {
  for (uint64_t seed : testing_util::TestSeeds({41, 42}))
    RunConcurrent(seed, 4096);
}

TEST(ConcurrencyTest, SectorWritersSharingBlocks64K) {
  for (uint64_t seed : testing_util::TestSeeds({43})) RunConcurrent(seed, 65536);
}

}  // namespace
}  // namespace layerdisk
