// Unit tests of the FUSE frontend below libfuse: the Status -> errno edge,
// the tree's names and inode numbers over a changing catalog, and the file
// operations (clipping, fixed size, read-only, fallocate, SEEK_DATA/HOLE)
// over an in-memory device.
#include <cerrno>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fuse-frontend/fuse_errno.h"
#include "fuse-frontend/image_fs.h"
#include "gtest/gtest.h"

namespace layerdisk {
namespace {

// A writable device in memory whose 4 KiB blocks are data or holes; a trim
// or write-zeroes of whole blocks makes holes, as the engine's head does.
class SparseMemDevice final : public BlockDevice {
 public:
  static constexpr uint64_t kBlock = 4096;
  SparseMemDevice(uint64_t size, bool read_only) : data_(size, '\0'), read_only_(read_only) {}

  uint64_t size() const override { return data_.size(); }
  bool read_only() const override { return read_only_; }
  uint32_t block_size() const override { return kBlock; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    if (offset + out.size() > data_.size()) return absl::InvalidArgumentError("read range");
    std::memcpy(out.data(), data_.data() + offset, out.size());
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t offset, absl::Span<const char> in, bool fua) override {
    if (read_only_) return absl::PermissionDeniedError("read-only");
    if (offset + in.size() > data_.size()) return absl::InvalidArgumentError("write range");
    std::memcpy(data_.data() + offset, in.data(), in.size());
    for (uint64_t b = offset / kBlock; b * kBlock < offset + in.size(); ++b) data_blocks_.insert(b);
    last_fua_ = fua;
    return absl::OkStatus();
  }
  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool) override {
    return Zero(offset, length);
  }
  absl::Status Trim(uint64_t offset, uint64_t length, bool) override {
    ++trims_;
    return Zero(offset, length);
  }
  absl::Status Flush() override {
    ++flushes_;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset, uint64_t length) override {
    if (offset + length > data_.size()) return absl::InvalidArgumentError("map range");
    std::vector<DeviceExtent> out;
    for (uint64_t pos = offset; pos < offset + length;) {
      uint64_t next = std::min(offset + length, (pos / kBlock + 1) * kBlock);
      bool hole = !data_blocks_.count(pos / kBlock);
      if (!out.empty() && out.back().hole == hole)
        out.back().length += next - pos;
      else
        out.push_back({pos, next - pos, hole, hole});
      pos = next;
    }
    return out;
  }

  int trims_ = 0, flushes_ = 0;
  bool last_fua_ = false;

 private:
  absl::Status Zero(uint64_t offset, uint64_t length) {
    if (read_only_) return absl::PermissionDeniedError("read-only");
    std::memset(data_.data() + offset, 0, length);
    for (uint64_t b = (offset + kBlock - 1) / kBlock; (b + 1) * kBlock <= offset + length; ++b)
      data_blocks_.erase(b);
    return absl::OkStatus();
  }
  std::string data_;
  const bool read_only_;
  std::set<uint64_t> data_blocks_;
};

class FakeCatalog final : public ImageCatalog {
 public:
  void Add(ImageEntry e, std::shared_ptr<SparseMemDevice> dev) {
    absl::MutexLock lock(&mu_);
    devices_[e.device_name] = std::move(dev);
    entries_[e.device_name] = std::move(e);
  }
  void Remove(const std::string& device_name) {
    absl::MutexLock lock(&mu_);
    entries_.erase(device_name);
    devices_.erase(device_name);
  }
  absl::StatusOr<std::vector<ImageEntry>> ListImages() override {
    absl::MutexLock lock(&mu_);
    std::vector<ImageEntry> out;
    for (auto& [name, e] : entries_) out.push_back(e);
    return out;
  }
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenImage(const std::string& name) override {
    absl::MutexLock lock(&mu_);
    auto it = devices_.find(name);
    if (it == devices_.end()) return absl::NotFoundError(name);
    return it->second;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, ImageEntry> entries_;
  std::map<std::string, std::shared_ptr<SparseMemDevice>> devices_;
};

ImageEntry Volume(const std::string& name, uint64_t size, uint64_t created = 1) {
  return {ImageKind::kVolume, name, name, name, size, created, false};
}
ImageEntry Snapshot(const std::string& vol, const std::string& name, uint64_t size) {
  return {ImageKind::kSnapshot, vol, name, vol + "@" + name, size, 2, true};
}
ImageEntry Layer(const std::string& name, uint64_t size) {
  return {ImageKind::kLayer, "", name, "layer:" + name, size, 3, true};
}

TEST(FuseErrno, MapsEveryCodeAFileProgramActsOn) {
  EXPECT_EQ(ErrnoFromStatus(absl::OkStatus()), 0);
  EXPECT_EQ(ErrnoFromStatus(absl::NotFoundError("")), ENOENT);
  EXPECT_EQ(ErrnoFromStatus(absl::PermissionDeniedError("")), EROFS);
  EXPECT_EQ(ErrnoFromStatus(absl::ResourceExhaustedError("")), ENOSPC);
  EXPECT_EQ(ErrnoFromStatus(absl::InvalidArgumentError("")), EINVAL);
  EXPECT_EQ(ErrnoFromStatus(absl::FailedPreconditionError("")), EBUSY);
  EXPECT_EQ(ErrnoFromStatus(absl::AbortedError("")), ESTALE);
  EXPECT_EQ(ErrnoFromStatus(absl::DataLossError("")), EIO);
  EXPECT_EQ(ErrnoFromStatus(absl::InternalError("")), EIO);
  EXPECT_EQ(ErrnoFromStatus(absl::UnavailableError("")), EIO);
}

class ImageFsTest : public ::testing::Test {
 protected:
  ImageFsTest() : fs_(&catalog_, absl::ZeroDuration(), nullptr) {
    vol_ = std::make_shared<SparseMemDevice>(1 << 20, false);
    catalog_.Add(Volume("desk", 1 << 20), vol_);
    catalog_.Add(Snapshot("desk", "good", 1 << 20), std::make_shared<SparseMemDevice>(1 << 20, true));
    catalog_.Add(Layer("os", 1 << 20), std::make_shared<SparseMemDevice>(1 << 20, true));
  }
  uint64_t Find(std::initializer_list<std::string> path) {
    uint64_t ino = kRootInode;
    for (const std::string& name : path) {
      absl::StatusOr<TreeNode> node = fs_.tree().Lookup(ino, name);
      EXPECT_TRUE(node.ok()) << node.status();
      if (!node.ok()) return 0;
      ino = node->inode;
    }
    return ino;
  }
  std::vector<std::string> Names(uint64_t dir) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<DirEntry>> entries = fs_.tree().ReadDir(dir);
    EXPECT_TRUE(entries.ok()) << entries.status();
    if (entries.ok())
      for (const DirEntry& e : *entries) out.push_back(e.name);
    return out;
  }

  FakeCatalog catalog_;
  std::shared_ptr<SparseMemDevice> vol_;
  ImageFs fs_;
};

TEST_F(ImageFsTest, LaysOutVolumesSnapshotsAndLayers) {
  EXPECT_EQ(Names(kRootInode), (std::vector<std::string>{"volumes", "snapshots", "layers"}));
  EXPECT_EQ(Names(Find({"volumes"})), std::vector<std::string>{"desk.raw"});
  EXPECT_EQ(Names(Find({"snapshots"})), std::vector<std::string>{"desk"});
  EXPECT_EQ(Names(Find({"snapshots", "desk"})), std::vector<std::string>{"good.raw"});
  EXPECT_EQ(Names(Find({"layers"})), std::vector<std::string>{"os.raw"});
  EXPECT_EQ(ImageTree::PathOf(*fs_.tree().Get(Find({"snapshots", "desk", "good.raw"}))),
            "snapshots/desk/good.raw");
  EXPECT_EQ(fs_.tree().Lookup(Find({"volumes"}), "desk").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ImageFsTest, InodesAreStableAndNeverReusedForARecreatedObject) {
  const uint64_t first = Find({"volumes", "desk.raw"});
  EXPECT_EQ(Find({"volumes", "desk.raw"}), first);
  catalog_.Remove("desk");
  EXPECT_FALSE(fs_.tree().Lookup(Find({"volumes"}), "desk.raw").ok());
  // The old node still answers (a file may still be open).
  EXPECT_TRUE(fs_.tree().Get(first).ok());
  catalog_.Add(Volume("desk", 1 << 19, /*created=*/99), std::make_shared<SparseMemDevice>(1 << 19, false));
  const uint64_t second = Find({"volumes", "desk.raw"});
  EXPECT_NE(second, first);
  EXPECT_EQ(fs_.GetAttr(second)->size, uint64_t{1} << 19);
}

TEST_F(ImageFsTest, ReadOnlyFilesRefuseWritableOpens) {
  for (auto path : {std::initializer_list<std::string>{"snapshots", "desk", "good.raw"},
                    std::initializer_list<std::string>{"layers", "os.raw"}}) {
    uint64_t ino = Find(path);
    EXPECT_EQ(fs_.Open(ino, /*writable=*/true, false).status().code(),
              absl::StatusCode::kPermissionDenied);
    absl::StatusOr<OpenImage*> ro = fs_.Open(ino, false, false);
    ASSERT_TRUE(ro.ok());
    EXPECT_EQ(fs_.PunchHole(*ro, 0, 4096).code(), absl::StatusCode::kPermissionDenied);
    fs_.Release(*ro);
  }
}

TEST_F(ImageFsTest, SizeIsFixed) {
  const uint64_t ino = Find({"volumes", "desk.raw"});
  EXPECT_TRUE(fs_.Resize(ino, 1 << 20).ok());
  EXPECT_EQ(fs_.Resize(ino, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fs_.Resize(ino, 2 << 20).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fs_.Open(ino, true, /*truncate=*/true).status().code(),
            absl::StatusCode::kInvalidArgument);
  OpenImage* f = *fs_.Open(ino, true, false);
  // Past the end: clipped with keep_size, refused without it.
  EXPECT_TRUE(fs_.ZeroRange(f, (1 << 20) - 4096, 8192, /*keep_size=*/true).ok());
  EXPECT_EQ(fs_.ZeroRange(f, (1 << 20) - 4096, 8192, false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs_.Reserve(f, 0, 1 << 20, false).ok());
  fs_.Release(f);
}

TEST_F(ImageFsTest, ReadsAndWritesStopAtTheEnd) {
  OpenImage* f = *fs_.Open(Find({"volumes", "desk.raw"}), true, false);
  std::string data(8192, 'x');
  EXPECT_EQ(*fs_.Write(f, (1 << 20) - 100, data, /*fua=*/true), 100u);
  EXPECT_TRUE(vol_->last_fua_);
  EXPECT_EQ(fs_.Write(f, 1 << 20, data, false).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::string buf(8192, '\0');
  EXPECT_EQ(*fs_.Read(f, (1 << 20) - 100, absl::MakeSpan(buf)), 100u);
  EXPECT_EQ(buf.substr(0, 100), std::string(100, 'x'));
  EXPECT_EQ(*fs_.Read(f, 1 << 20, absl::MakeSpan(buf)), 0u);
  EXPECT_EQ(*fs_.Read(f, 5 << 20, absl::MakeSpan(buf)), 0u);
  fs_.Release(f);
}

TEST_F(ImageFsTest, LargeReadsSplitAcrossCoresReadEveryByte) {
  OpenImage* f = *fs_.Open(Find({"volumes", "desk.raw"}), true, false);
  std::string pattern(1 << 20, '\0');
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_EQ(*fs_.Write(f, 0, pattern, false), pattern.size());
  for (uint64_t offset : {uint64_t{0}, uint64_t{12345}, uint64_t{(1 << 20) - 300000}}) {
    std::string buf(1 << 20, 'x');
    absl::StatusOr<size_t> n = fs_.Read(f, offset, absl::MakeSpan(buf));
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, (1u << 20) - offset);
    EXPECT_TRUE(buf.compare(0, *n, pattern, offset, *n) == 0) << "at offset " << offset;
  }
  fs_.Release(f);
}

TEST_F(ImageFsTest, SeekDataAndHoleFollowTheMapAndPunchMakesHoles) {
  OpenImage* f = *fs_.Open(Find({"volumes", "desk.raw"}), true, false);
  std::string block(4096, 'd');
  ASSERT_TRUE(fs_.Write(f, 8192, block, false).ok());   // data at [8K, 12K)
  ASSERT_TRUE(fs_.Write(f, 65536, block, false).ok());  // data at [64K, 68K)
  EXPECT_EQ(**fs_.SeekData(f, 0), 8192u);
  EXPECT_EQ(**fs_.SeekData(f, 10000), 10000u);
  EXPECT_EQ(**fs_.SeekHole(f, 8192), 12288u);
  EXPECT_EQ(**fs_.SeekData(f, 12288), 65536u);
  EXPECT_EQ(**fs_.SeekHole(f, 70000), 70000u);
  EXPECT_FALSE(fs_.SeekData(f, 69632)->has_value());          // nothing after: ENXIO
  EXPECT_FALSE(fs_.SeekData(f, 1 << 20)->has_value());        // at EOF: ENXIO
  EXPECT_FALSE(fs_.SeekHole(f, 1 << 20)->has_value());
  EXPECT_EQ(fs_.GetAttr(f->node.inode)->allocated_bytes, 8192u);

  ASSERT_TRUE(fs_.PunchHole(f, 8192, 4096).ok());
  EXPECT_EQ(vol_->trims_, 1);
  EXPECT_EQ(**fs_.SeekData(f, 0), 65536u);
  std::string buf(4096, 'x');
  ASSERT_TRUE(fs_.Read(f, 8192, absl::MakeSpan(buf)).ok());
  EXPECT_EQ(buf, std::string(4096, '\0'));
  fs_.Release(f);
}

TEST_F(ImageFsTest, OpensShareOneDeviceAndFlushAllFlushesWrittenOnes) {
  const uint64_t ino = Find({"volumes", "desk.raw"});
  OpenImage* a = *fs_.Open(ino, true, false);
  OpenImage* b = *fs_.Open(ino, false, false);
  EXPECT_EQ(a, b);
  fs_.FlushAll();
  EXPECT_EQ(vol_->flushes_, 0);  // nothing written yet
  ASSERT_TRUE(fs_.Write(a, 0, std::string(512, 'w'), false).ok());
  fs_.FlushAll();
  EXPECT_EQ(vol_->flushes_, 1);
  fs_.Release(a);
  fs_.Release(b);
  // Released on the last close: the catalog's reference is the only one.
  EXPECT_EQ(vol_.use_count(), 2);
}

}  // namespace
}  // namespace layerdisk
