// Volumes as their snapshots (engine/volume_exchange.h,
// replication/volume_receiver.h) between two stores in one process, without
// gRPC: a ChunkSource reading straight from the sender's VolumeLayerExchange.
#include <memory>
#include <string>

#include "engine/store.h"
#include "engine/volume_exchange.h"
#include "gtest/gtest.h"
#include "replication/volume_layers.h"
#include "replication/volume_receiver.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::ScopedTempDir;

constexpr uint64_t kMiB = 1 << 20;

std::string Pattern(uint64_t key, uint64_t size) {
  std::string data(size, '\0');
  FillPattern(key, 0, data.data(), size);
  return data;
}

// Serves a volume export the way a sending peer does, counting chunks.
class ExportSource final : public ChunkSource {
 public:
  explicit ExportSource(VolumeLayerExchange* from) : from_(from) {}
  absl::StatusOr<LayerManifest> GetManifest(const std::string& layer, bool header_only,
                                            const LayerManifest*) override {
    absl::StatusOr<LayerManifest> m = from_->ExportLayerManifest(layer);
    if (m.ok() && header_only) m->segments.clear();
    return m;
  }
  absl::Status Fetch(const std::string&, absl::Span<const ChunkName> names, size_t,
                     const RecordSink& sink) override {
    absl::StatusOr<std::vector<std::string>> r = from_->ReadChunkRecords(names);
    if (!r.ok()) return r.status();
    std::vector<ChunkStore::ReceivedRecord> got;
    for (size_t i = 0; i < names.size(); ++i) got.push_back({names[i], (*r)[i]});
    fetched += names.size();
    return sink(std::move(got));
  }
  uint64_t wire_bytes() const override { return 0; }
  uint64_t fetched = 0;

 private:
  VolumeLayerExchange* const from_;
};

class VolumeExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = *Store::Open(dir_.Sub("src"), {});
    dst_ = *Store::Open(dir_.Sub("dst"), {});
    src_layers_ = GetLayerExchange(src_.get());
    dst_layers_ = GetLayerExchange(dst_.get());
    src_volumes_ = GetVolumeExchange(src_.get());
    dst_volumes_ = GetVolumeExchange(dst_.get());
    MemDevice image(Pattern(1, 4 * kMiB));
    ASSERT_TRUE(src_->ImportLayer("os", image, "test", nullptr).ok());
    ASSERT_TRUE(src_->CreateVolume("desk", {"os"}, std::nullopt).ok());
  }

  void WriteAndSnapshot(Store* store, uint64_t key, uint64_t offset, const std::string& snap) {
    auto dev = *store->OpenVolume("desk");
    std::string data = Pattern(key, kMiB);
    ASSERT_TRUE(dev->Write(offset, data, false).ok());
    ASSERT_TRUE(dev->Flush().ok());
    dev.reset();
    ASSERT_TRUE(store->CreateSnapshot("desk", snap).ok());
    ASSERT_TRUE(store->WaitForBackgroundWork().ok());
  }

  absl::StatusOr<VolumeReceiveResult> Send(Store* from, const std::string& as,
                                           const std::function<void(VolumeExport*)>& lie = {},
                                           uint64_t* fetched = nullptr) {
    std::unique_ptr<LayerExchange> layers = GetLayerExchange(from);
    absl::StatusOr<VolumeExport> x = GetVolumeExchange(from)->ExportVolume("desk");
    if (!x.ok()) return x.status();
    if (lie) lie(&*x);
    VolumeManifest m = x->volume;
    auto served = *VolumeLayerExchange::Create(layers.get(), *std::move(x));
    ExportSource source(served.get());
    ReplicateOptions options;
    options.origin = "test";
    absl::StatusOr<VolumeReceiveResult> r =
        ReceiveVolume(source, *dst_layers_, *dst_volumes_, m, as, options);
    if (fetched != nullptr) *fetched = source.fetched;
    return r;
  }

  std::string ReadSnapshot(Store* store, const std::string& volume, const std::string& snap) {
    auto dev = snap.empty() ? *store->OpenVolume(volume) : *store->OpenSnapshot(volume, snap);
    std::string out(dev->size(), '\0');
    EXPECT_TRUE(dev->Read(0, absl::MakeSpan(out)).ok());
    return out;
  }

  void ExpectNoVolumeAndFsckClean() {
    EXPECT_TRUE(dst_->ListVolumes()->empty());
    ASSERT_TRUE(dst_->WaitForBackgroundWork().ok());
    absl::StatusOr<FsckReport> r = dst_->Fsck(nullptr);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok()) << r->problems.front();
  }

  ScopedTempDir dir_{"volume-exchange"};
  std::unique_ptr<Store> src_, dst_;
  std::unique_ptr<LayerExchange> src_layers_, dst_layers_;
  std::unique_ptr<VolumeExchange> src_volumes_, dst_volumes_;
};

TEST_F(VolumeExchangeTest, SnapshotsReadTheSameAndOnlyNewOnesTravel) {
  WriteAndSnapshot(src_.get(), 2, 0, "s1");
  WriteAndSnapshot(src_.get(), 3, 2 * kMiB, "s2");
  absl::StatusOr<VolumeReceiveResult> r = Send(src_.get(), "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->snapshots_created, (std::vector<std::string>{"s1", "s2"}));
  for (const char* s : {"s1", "s2"})
    EXPECT_EQ(ReadSnapshot(src_.get(), "desk", s), ReadSnapshot(dst_.get(), "desk", s)) << s;
  EXPECT_EQ(ReadSnapshot(dst_.get(), "desk", ""), ReadSnapshot(src_.get(), "desk", "s2"));

  // Again: nothing moves. One more snapshot: only its 256 new chunks.
  uint64_t fetched = 1;
  r = Send(src_.get(), "", {}, &fetched);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->transfer.up_to_date);
  EXPECT_EQ(fetched, 0u);
  WriteAndSnapshot(src_.get(), 4, kMiB, "s3");
  r = Send(src_.get(), "", {}, &fetched);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->snapshots_created, std::vector<std::string>{"s3"});
  EXPECT_EQ(fetched, kMiB / 4096);
  EXPECT_EQ(ReadSnapshot(src_.get(), "desk", "s3"), ReadSnapshot(dst_.get(), "desk", "s3"));
  EXPECT_EQ(ReadSnapshot(dst_.get(), "desk", ""), ReadSnapshot(src_.get(), "desk", "s3"));
  EXPECT_EQ(dst_->ListSnapshots("desk")->size(), 3u);
}

TEST_F(VolumeExchangeTest, AForgedLayerIsDataLossAndNothingIsVisible) {
  WriteAndSnapshot(src_.get(), 2, 0, "s1");
  absl::StatusOr<VolumeReceiveResult> r = Send(src_.get(), "", [](VolumeExport* x) {
    x->layers[0].segments[0].map.names[0].bytes[0] ^= 1;  // identity left as it was
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectNoVolumeAndFsckClean();
  // An honest sender then succeeds.
  r = Send(src_.get(), "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadSnapshot(src_.get(), "desk", "s1"), ReadSnapshot(dst_.get(), "desk", "s1"));
}

TEST_F(VolumeExchangeTest, ASnapshotOverALayerNeverSentIsRefused) {
  WriteAndSnapshot(src_.get(), 2, 0, "s1");
  absl::StatusOr<VolumeExport> x = src_volumes_->ExportVolume("desk");
  ASSERT_TRUE(x.ok()) << x.status();
  // The base layer arrives; the commit names the snapshot's layer without it.
  MemDevice image(Pattern(1, 4 * kMiB));
  ASSERT_TRUE(dst_->ImportLayer("os", image, "test", nullptr).ok());
  absl::StatusOr<VolumeCommitResult> c = dst_volumes_->CommitVolume("desk", x->volume, {}, "t");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_NE(c.status().message().find("never sent"), std::string::npos) << c.status();
  // A layer over one never sent.
  LayerManifest orphan = x->layers[0];
  orphan.parent = AnonymousLayerName(std::string(32, 'x'));
  c = dst_volumes_->CommitVolume("desk", x->volume, {orphan}, "t");
  EXPECT_FALSE(c.ok());
  ExpectNoVolumeAndFsckClean();
}

TEST_F(VolumeExchangeTest, ADivergedVolumeIsRefusedAndUnchanged) {
  WriteAndSnapshot(src_.get(), 2, 0, "s1");
  ASSERT_TRUE(Send(src_.get(), "").ok());
  // Another store's desk over the same OS layer, with another s1.
  ScopedTempDir other_dir("volume-exchange-other");
  std::unique_ptr<Store> other = *Store::Open(other_dir.Sub("o"), {});
  MemDevice image(Pattern(1, 4 * kMiB));
  ASSERT_TRUE(other->ImportLayer("os", image, "test", nullptr).ok());
  ASSERT_TRUE(other->CreateVolume("desk", {"os"}, std::nullopt).ok());
  WriteAndSnapshot(other.get(), 9, 0, "s1");
  WriteAndSnapshot(other.get(), 10, 0, "s2");
  absl::StatusOr<VolumeReceiveResult> r = Send(other.get(), "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("diverged"), std::string::npos) << r.status();
  EXPECT_EQ(dst_->ListSnapshots("desk")->size(), 1u);
  EXPECT_EQ(ReadSnapshot(src_.get(), "desk", "s1"), ReadSnapshot(dst_.get(), "desk", "s1"));
  // Under another name it is a volume of its own.
  r = Send(other.get(), "desk-other");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadSnapshot(other.get(), "desk", "s2"), ReadSnapshot(dst_.get(), "desk-other", "s2"));
}

TEST_F(VolumeExchangeTest, AReceivingVolumeWrittenSinceItsLastSnapshotIsRefused) {
  WriteAndSnapshot(src_.get(), 2, 0, "s1");
  ASSERT_TRUE(Send(src_.get(), "").ok());
  {
    auto dev = *dst_->OpenVolume("desk");
    ASSERT_TRUE(dev->Write(0, Pattern(7, 4096), false).ok());
    ASSERT_TRUE(dev->Flush().ok());
  }
  WriteAndSnapshot(src_.get(), 3, kMiB, "s2");
  absl::StatusOr<VolumeReceiveResult> r = Send(src_.get(), "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("written to"), std::string::npos) << r.status();
  EXPECT_EQ(dst_->ListSnapshots("desk")->size(), 1u);
}

}  // namespace
}  // namespace layerdisk
