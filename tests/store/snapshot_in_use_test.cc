// A snapshot that a client reads (an NBD export, an open FUSE file) is not
// deleted under it: deleting it, or its volume, is refused unless forced,
// and a forced delete detaches the open device so its reads fail with the
// reason instead of returning data whose chunks may be collected.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "engine/store.h"

namespace layerdisk {
namespace {

class SnapshotInUseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/ld-snapuse-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = Store::Open(dir_, StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->CreateVolume("desk", {}, kSize).ok());
    auto dev = store_->OpenVolume("desk");
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE((*dev)->Write(0, std::string(4096, 'a'), false).ok());
    ASSERT_TRUE(store_->CreateSnapshot("desk", "s1").ok());
  }
  void TearDown() override {
    store_.reset();
    ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }
  static constexpr uint64_t kSize = 1 << 20;
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SnapshotInUseTest, OpensShareOneDevice) {
  auto a = store_->OpenSnapshot("desk", "s1");
  auto b = store_->OpenSnapshot("desk", "s1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
}

TEST_F(SnapshotInUseTest, DeleteOfAnOpenSnapshotIsRefusedThenForced) {
  auto snap = store_->OpenSnapshot("desk", "s1");
  ASSERT_TRUE(snap.ok());
  absl::Status refused = store_->DeleteSnapshot("desk", "s1", false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("desk@s1"), std::string::npos) << refused;
  // Refused means untouched: it is listed and still reads.
  auto list = store_->ListSnapshots("desk");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
  std::string buf(4096, '\0');
  ASSERT_TRUE((*snap)->Read(0, absl::MakeSpan(buf)).ok());
  EXPECT_EQ(buf, std::string(4096, 'a'));
  // The refused delete kept the device registered: a second open shares it.
  auto again = store_->OpenSnapshot("desk", "s1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), snap->get());
  again->reset();

  ASSERT_TRUE(store_->DeleteSnapshot("desk", "s1", true).ok());
  absl::Status read = (*snap)->Read(0, absl::MakeSpan(buf));
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.message().find("deleted"), std::string::npos) << read;
  EXPECT_EQ(store_->OpenSnapshot("desk", "s1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SnapshotInUseTest, ClosedSnapshotDeletesWithoutForce) {
  {
    auto snap = store_->OpenSnapshot("desk", "s1");
    ASSERT_TRUE(snap.ok());
  }
  EXPECT_TRUE(store_->DeleteSnapshot("desk", "s1", false).ok());
}

TEST_F(SnapshotInUseTest, VolumeDeleteIsRefusedWhileASnapshotIsOpen) {
  auto snap = store_->OpenSnapshot("desk", "s1");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(store_->DeleteVolume("desk", false).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->GetVolume("desk").ok());
  ASSERT_TRUE(store_->DeleteVolume("desk", true).ok());
  std::string buf(4096, '\0');
  EXPECT_FALSE((*snap)->Read(0, absl::MakeSpan(buf)).ok());
}

}  // namespace
}  // namespace layerdisk
