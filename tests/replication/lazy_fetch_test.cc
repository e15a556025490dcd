// Branch cache mode on the store side: a layer committed from its manifest
// alone (LayerExchange::BeginFetchingLayer) whose reads fetch missing chunks
// from a MissingChunkSource, and its completion, with a fake upstream in
// this process; then BranchCache's lazy pull and prefetch end to end.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "replication/branch_cache.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::ScopedTempDir;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBlock = 4096;

std::string Pattern(uint64_t key, uint64_t size) {
  std::string data(size, '\0');
  FillPattern(key, 0, data.data(), size);
  return data;
}

// Upstream as a MissingChunkSource: reads the records from the source
// store and stores them through the branch's exchange, which verifies them.
class FakeUpstream final : public MissingChunkSource {
 public:
  FakeUpstream(LayerExchange* from, LayerExchange* to) : from_(from), to_(to) {}

  absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    for (const ChunkName& n : names) asked.insert(n);
    if (unavailable) return absl::UnavailableError("upstream is down");
    absl::StatusOr<std::vector<std::string>> records = from_->ReadChunkRecords(names);
    if (!records.ok()) return records.status();
    std::vector<ChunkStore::ReceivedRecord> batch;
    for (size_t i = 0; i < names.size(); ++i) {
      if (corrupt) (*records)[i].back() ^= 0x40;
      batch.push_back({names[i], (*records)[i]});
    }
    return to_->IngestChunkRecords(batch);
  }

  absl::Mutex mu_;
  int calls = 0;
  absl::flat_hash_set<ChunkName> asked;
  bool unavailable = false;
  bool corrupt = false;

 private:
  LayerExchange* const from_;
  LayerExchange* const to_;
};

// A ChunkSource over the source store, for BranchCache (no gRPC).
class DirectSource final : public ChunkSource {
 public:
  explicit DirectSource(LayerExchange* from) : from_(from) {}
  absl::StatusOr<LayerManifest> GetManifest(const std::string& layer, bool header_only,
                                            const LayerManifest*) override {
    absl::StatusOr<LayerManifest> m = from_->ExportLayerManifest(layer);
    if (m.ok() && header_only) m->segments.clear();
    return m;
  }
  absl::Status Fetch(const std::string&, absl::Span<const ChunkName> names, size_t batch,
                     const RecordSink& sink) override {
    for (size_t off = 0; off < names.size(); off += batch) {
      absl::Span<const ChunkName> part = names.subspan(off, batch);
      absl::StatusOr<std::vector<std::string>> r = from_->ReadChunkRecords(part);
      if (!r.ok()) return r.status();
      std::vector<ChunkStore::ReceivedRecord> got;
      for (size_t i = 0; i < part.size(); ++i) got.push_back({part[i], (*r)[i]});
      fetched += part.size();
      absl::Status s = sink(std::move(got));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  uint64_t wire_bytes() const override { return 0; }
  std::atomic<uint64_t> fetched{0};

 private:
  LayerExchange* const from_;
};

class LazyFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.background_sealing = false;
    src_ = *Store::Open(dir_.Sub("src"), o);
    dst_ = *Store::Open(dir_.Sub("dst"), o);
    from_ = GetLayerExchange(src_.get());
    to_ = GetLayerExchange(dst_.get());
    image_ = Pattern(1, 4 * kMiB);  // 1024 distinct blocks
    MemDevice image(image_);
    ASSERT_TRUE(src_->ImportLayer("os", image, "test", nullptr).ok());
    manifest_ = *from_->ExportLayerManifest("os");
    upstream_ = std::make_shared<FakeUpstream>(from_.get(), to_.get());
  }

  // Commits the manifest at the branch as fetching, reads served by upstream_.
  void BeginFetching() {
    to_->SetMissingChunkSource(upstream_);
    absl::StatusOr<LayerInfo> begun = to_->BeginFetchingLayer(manifest_, "test");
    ASSERT_TRUE(begun.ok()) << begun.status();
    EXPECT_TRUE(begun->fetching);
  }

  std::string Read(Store* store, const std::string& layer, uint64_t offset, uint64_t length,
                   absl::Status* status = nullptr) {
    auto dev = *store->OpenLayer(layer);
    std::string out(length, '\0');
    absl::Status s = dev->Read(offset, absl::MakeSpan(out));
    if (status != nullptr) *status = s;
    else EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // The chunk of block `b` of the source layer.
  ChunkName NameOf(uint64_t b) { return manifest_.segments[0].map.NameOf(b); }

  void ExpectFsckClean(Store* store) {
    ASSERT_TRUE(store->WaitForBackgroundWork().ok());
    absl::StatusOr<FsckReport> r = store->Fsck(nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->ok()) << r->problems.front();
  }

  ScopedTempDir dir_{"lazy_fetch"};
  std::unique_ptr<Store> src_, dst_;
  std::unique_ptr<LayerExchange> from_, to_;
  std::string image_;
  LayerManifest manifest_;
  std::shared_ptr<FakeUpstream> upstream_;
};

TEST_F(LazyFetchTest, AFetchingLayerIsVisibleAtOnceAndFsckClean) {
  BeginFetching();
  absl::StatusOr<LayerInfo> info = dst_->GetLayer("os");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->fetching);
  EXPECT_EQ(info->fetch_chunks, 1024u);
  EXPECT_EQ(info->fetched_chunks, 0u);
  EXPECT_EQ(info->size, 4 * kMiB);
  ExpectFsckClean(dst_.get());
  // Not replicable onward, and not completable, while chunks are missing.
  EXPECT_TRUE(absl::IsFailedPrecondition(to_->ExportLayerManifest("os").status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(to_->CompleteFetchingLayer("os").status()));
  EXPECT_EQ(*to_->FetchingLayers(), std::vector<std::string>{"os"});
  EXPECT_EQ(upstream_->calls, 0);
}

TEST_F(LazyFetchTest, AReadFetchesExactlyItsMissingChunksWithReadAheadAndKeepsThem) {
  BeginFetching();
  EXPECT_EQ(Read(dst_.get(), "os", 8 * kBlock, 8 * kBlock), image_.substr(8 * kBlock, 8 * kBlock));
  EXPECT_EQ(upstream_->calls, 1);  // one exchange for the read and its read-ahead
  absl::flat_hash_set<ChunkName> expected;
  for (uint64_t b = 8; b < 8 + 8 + 64; ++b) expected.insert(NameOf(b));
  EXPECT_EQ(upstream_->asked, expected);
  EXPECT_EQ(dst_->GetLayer("os")->fetched_chunks, 72u);
  // Kept: the same blocks, and the read-ahead ones, need no fetch.
  EXPECT_EQ(Read(dst_.get(), "os", 10 * kBlock, 60 * kBlock),
            image_.substr(10 * kBlock, 60 * kBlock));
  EXPECT_EQ(upstream_->calls, 1);
  // A read overlapping what is here asks only for what is not.
  upstream_->asked.clear();
  EXPECT_EQ(Read(dst_.get(), "os", 70 * kBlock, 20 * kBlock),
            image_.substr(70 * kBlock, 20 * kBlock));
  EXPECT_EQ(upstream_->calls, 2);
  for (uint64_t b = 70; b < 80; ++b) EXPECT_FALSE(upstream_->asked.contains(NameOf(b)));
  for (uint64_t b = 80; b < 90; ++b) EXPECT_TRUE(upstream_->asked.contains(NameOf(b)));
  ExpectFsckClean(dst_.get());
}

TEST_F(LazyFetchTest, AVolumeOverAFetchingLayerReadsUpstreamsBytesAndCompletionFlipsTheState) {
  BeginFetching();
  ASSERT_TRUE(dst_->CreateVolume("desk", {"os"}, std::nullopt).ok());
  {
    auto vol = *dst_->OpenVolume("desk");
    std::string all(4 * kMiB, '\0');
    ASSERT_TRUE(vol->Read(0, absl::MakeSpan(all)).ok());
    EXPECT_EQ(all, image_);
    std::string ones(kBlock, '\1');
    ASSERT_TRUE(vol->Write(0, absl::MakeConstSpan(ones), /*fua=*/false).ok());  // to the head
    ASSERT_TRUE(vol->Flush().ok());
  }
  EXPECT_TRUE(to_->MissingChunks("os")->empty());
  ExpectFsckClean(dst_.get());
  absl::StatusOr<LayerInfo> done = to_->CompleteFetchingLayer("os");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->fetching);
  EXPECT_FALSE(dst_->GetLayer("os")->fetching);
  EXPECT_TRUE(to_->FetchingLayers()->empty());
  ExpectFsckClean(dst_.get());
  // Complete: replicable onward, with upstream's identity.
  EXPECT_EQ(to_->ExportLayerManifest("os")->identity, manifest_.identity);
  // The references are real now: GC keeps every chunk.
  ASSERT_TRUE(dst_->Gc().ok());
  EXPECT_EQ(Read(dst_.get(), "os", 0, 4 * kMiB), image_);
  ExpectFsckClean(dst_.get());
}

TEST_F(LazyFetchTest, ACorruptChunkFailsThatReadOnlyAndStoresNothing) {
  BeginFetching();
  EXPECT_EQ(Read(dst_.get(), "os", 0, kBlock), image_.substr(0, kBlock));
  upstream_->corrupt = true;
  absl::Status s;
  Read(dst_.get(), "os", 500 * kBlock, 4 * kBlock, &s);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  std::vector<ChunkName> bad = {NameOf(500), NameOf(501), NameOf(503), NameOf(600)};
  std::vector<bool> stored = *to_->HasChunks(bad);
  for (bool have : stored) EXPECT_FALSE(have);
  // What is here still reads.
  EXPECT_EQ(Read(dst_.get(), "os", 0, kBlock), image_.substr(0, kBlock));
  ExpectFsckClean(dst_.get());
  // A later read retries.
  upstream_->corrupt = false;
  EXPECT_EQ(Read(dst_.get(), "os", 500 * kBlock, 4 * kBlock),
            image_.substr(500 * kBlock, 4 * kBlock));
}

TEST_F(LazyFetchTest, UnreachableUpstreamFailsReadsOfMissingBlocksOnly) {
  BeginFetching();
  EXPECT_EQ(Read(dst_.get(), "os", 0, kBlock), image_.substr(0, kBlock));
  upstream_->unavailable = true;
  absl::Status s;
  Read(dst_.get(), "os", 700 * kBlock, kBlock, &s);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(Read(dst_.get(), "os", 0, 65 * kBlock), image_.substr(0, 65 * kBlock));
  upstream_->unavailable = false;
  EXPECT_EQ(Read(dst_.get(), "os", 700 * kBlock, kBlock), image_.substr(700 * kBlock, kBlock));
}

TEST_F(LazyFetchTest, WithoutASourceReadsOfMissingChunksAreUnavailable) {
  ASSERT_TRUE(to_->BeginFetchingLayer(manifest_, "test").ok());
  absl::Status s;
  Read(dst_.get(), "os", 0, kBlock, &s);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

TEST_F(LazyFetchTest, DeletingAFetchingLayerAndGcLeaveTheStoreClean) {
  BeginFetching();
  Read(dst_.get(), "os", 0, 100 * kBlock);
  ASSERT_TRUE(dst_->DeleteLayer("os").ok());
  ExpectFsckClean(dst_.get());
  ASSERT_TRUE(dst_->Gc().ok());
  ExpectFsckClean(dst_.get());
  EXPECT_TRUE(dst_->ListLayers()->empty());
  // The fetched chunks had no references: GC removed them.
  std::vector<ChunkName> fetched = {NameOf(0), NameOf(99)};
  std::vector<bool> stored = *to_->HasChunks(fetched);
  for (bool have : stored) EXPECT_FALSE(have);
}

TEST_F(LazyFetchTest, GcWhileFetchingKeepsWhatWasFetched) {
  BeginFetching();
  Read(dst_.get(), "os", 0, 100 * kBlock);
  const size_t missing = to_->MissingChunks("os")->size();
  // The fetched chunks have no references yet: gc keeps them, and says why.
  absl::StatusOr<GcResult> gc = dst_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->fetching_layers, 1u);
  EXPECT_EQ(gc->chunks_removed, 0u);
  EXPECT_EQ(to_->MissingChunks("os")->size(), missing);
  ExpectFsckClean(dst_.get());
  EXPECT_EQ(Read(dst_.get(), "os", 0, 4 * kMiB), image_);
  ASSERT_TRUE(to_->CompleteFetchingLayer("os").ok());
  ExpectFsckClean(dst_.get());
}

TEST_F(LazyFetchTest, AFetchingLayerSurvivesAReopen) {
  BeginFetching();
  Read(dst_.get(), "os", 0, 10 * kBlock);
  to_.reset();
  dst_.reset();
  StoreOptions o;
  o.background_sealing = false;
  dst_ = *Store::Open(dir_.Sub("dst"), o);
  to_ = GetLayerExchange(dst_.get());
  EXPECT_TRUE(dst_->GetLayer("os")->fetching);
  EXPECT_EQ(*to_->FetchingLayers(), std::vector<std::string>{"os"});
  EXPECT_EQ(to_->MissingChunks("os")->size(), 1024u - 74u);
  ExpectFsckClean(dst_.get());
}

TEST_F(LazyFetchTest, AManifestThatDoesNotMatchItsIdentityIsRefused) {
  manifest_.segments[0].map.names[0].bytes[0] ^= 1;
  absl::StatusOr<LayerInfo> begun = to_->BeginFetchingLayer(manifest_, "test");
  EXPECT_TRUE(absl::IsDataLoss(begun.status())) << begun.status();
  EXPECT_TRUE(dst_->ListLayers()->empty());
  ExpectFsckClean(dst_.get());
}

TEST_F(LazyFetchTest, BranchCachePullsAtOnceAndItsPrefetchCompletesTheChain) {
  MemDevice delta_image(Pattern(2, 4 * kMiB));
  ImportOptions delta;
  delta.parent = "os";
  ASSERT_TRUE(src_->ImportImage("os-v2", delta_image, delta, nullptr).ok());
  DirectSource source(from_.get());
  auto cache = std::make_shared<BranchCache>(to_.get(), &source, &source, "test", 0);
  to_->SetMissingChunkSource(cache);
  absl::StatusOr<ReplicateResult> pulled = cache->Pull("os-v2", 0);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->layers_created, (std::vector<std::string>{"os", "os-v2"}));
  EXPECT_EQ(source.fetched, 0u);  // manifests only
  EXPECT_TRUE(dst_->GetLayer("os-v2")->fetching);
  // Served at once, through the cache's read path.
  EXPECT_EQ(Read(dst_.get(), "os-v2", 0, 4 * kMiB), Read(src_.get(), "os-v2", 0, 4 * kMiB));
  // Pulling again: already here (fetching), nothing new.
  EXPECT_TRUE(cache->Pull("os-v2", 0)->layers_created.empty());
  cache->Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((dst_->GetLayer("os")->fetching || dst_->GetLayer("os-v2")->fetching) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cache->Stop();
  EXPECT_FALSE(dst_->GetLayer("os")->fetching);
  EXPECT_FALSE(dst_->GetLayer("os-v2")->fetching);
  EXPECT_EQ(to_->ExportLayerManifest("os-v2")->identity,
            from_->ExportLayerManifest("os-v2")->identity);
  ExpectFsckClean(dst_.get());
  to_->SetMissingChunkSource(nullptr);
}

}  // namespace
}  // namespace layerdisk
