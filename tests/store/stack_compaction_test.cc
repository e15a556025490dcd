// Snapshots add a layer each; compaction must keep a volume's stack short
// when old snapshots are deleted, without changing what anything reads.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <random>

#include "engine/store.h"

namespace layerdisk {
namespace {

class StackCompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/ld-compact-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    StoreOptions options;
    options.background_sealing = false;  // seal and compact when we say
    auto store = Store::Open(dir_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StackCompactionTest, RollingSnapshotsKeepTheStackShort) {
  constexpr uint64_t kSize = 8 << 20;
  ASSERT_TRUE(store_->CreateVolume("desk", {}, kSize).ok());
  auto dev = store_->OpenVolume("desk");
  ASSERT_TRUE(dev.ok());
  std::string model(kSize, '\0');
  std::mt19937_64 rng(7);
  std::vector<std::pair<std::string, std::string>> kept;  // name, image
  // Far more snapshots than a stack may hold layers (255), keeping 3.
  for (int i = 0; i < 300; ++i) {
    uint64_t off = (rng() % (kSize / 4096)) * 4096;
    std::string data(4096, static_cast<char>('a' + i % 26));
    ASSERT_TRUE((*dev)->Write(off, data, false).ok());
    model.replace(off, data.size(), data);
    std::string name = "s" + std::to_string(i);
    auto snap = store_->CreateSnapshot("desk", name);
    ASSERT_TRUE(snap.ok()) << "snapshot " << i << ": " << snap.status();
    kept.emplace_back(name, model);
    if (kept.size() > 3) {
      ASSERT_TRUE(store_->DeleteSnapshot("desk", kept.front().first, false).ok());
      kept.erase(kept.begin());
    }
    if (i % 10 == 9) ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
  }
  ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
  auto info = store_->GetVolume("desk");
  ASSERT_TRUE(info.ok());
  EXPECT_LE(info->depth, 8u) << "the stack was not compacted";
  // What the volume and every kept snapshot read is unchanged.
  std::string got(kSize, '\0');
  ASSERT_TRUE((*dev)->Read(0, absl::MakeSpan(got)).ok());
  EXPECT_TRUE(got == model);
  for (const auto& [name, image] : kept) {
    auto snap = store_->OpenSnapshot("desk", name);
    ASSERT_TRUE(snap.ok());
    ASSERT_TRUE((*snap)->Read(0, absl::MakeSpan(got)).ok());
    EXPECT_TRUE(got == image) << "snapshot " << name;
  }
  auto gc = store_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  auto report = store_->Fsck(nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
}

}  // namespace
}  // namespace layerdisk
