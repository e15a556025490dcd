// The engine side of replication (engine/layer_exchange.h) and the receiver
// (replication/receiver.h) in one process, without gRPC: two stores, a
// ChunkSource reading straight from the first one's LayerExchange.
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "dedupe/chunk_codec.h"
#include "dedupe/content_digest.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "replication/receiver.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::ScopedTempDir;

constexpr uint64_t kMiB = 1 << 20;

// Reads from a local exchange; `after_batch` runs after each batch is sunk.
class DirectSource final : public ChunkSource {
 public:
  explicit DirectSource(LayerExchange* from) : from_(from) {}
  absl::StatusOr<LayerManifest> GetManifest(const std::string& layer, bool header_only,
                                            const LayerManifest* base) override {
    absl::StatusOr<LayerManifest> m = from_->ExportLayerManifest(layer);
    if (m.ok() && header_only) m->segments.clear();
    return m;
  }
  absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names,
                     size_t batch, const RecordSink& sink) override {
    for (size_t off = 0; off < names.size(); off += batch) {
      std::vector<ChunkStore::ReceivedRecord> got;
      absl::Span<const ChunkName> part = names.subspan(off, batch);
      absl::StatusOr<std::vector<std::string>> r = from_->ReadChunkRecords(part);
      if (!r.ok()) return r.status();
      for (size_t i = 0; i < part.size(); ++i) got.push_back({part[i], (*r)[i]});
      fetched += part.size();
      absl::Status s = sink(std::move(got));
      if (!s.ok()) return s;
      if (after_batch) after_batch();
    }
    return absl::OkStatus();
  }
  uint64_t wire_bytes() const override { return 0; }

  std::function<void()> after_batch;
  uint64_t fetched = 0;

 private:
  LayerExchange* const from_;
};

std::string Pattern(uint64_t key, uint64_t size) {
  std::string data(size, '\0');
  FillPattern(key, 0, data.data(), size);
  return data;
}

class ExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.background_sealing = false;
    src_ = *Store::Open(dir_.Sub("src"), o);
    dst_ = *Store::Open(dir_.Sub("dst"), o);
    from_ = GetLayerExchange(src_.get());
    to_ = GetLayerExchange(dst_.get());
    MemDevice image(Pattern(1, 4 * kMiB));
    ASSERT_TRUE(src_->ImportLayer("os", image, "test", nullptr).ok());
  }

  std::string ReadAll(Store* store, const std::string& layer) {
    auto dev = *store->OpenLayer(layer);
    std::string out(dev->size(), '\0');
    EXPECT_TRUE(dev->Read(0, absl::MakeSpan(out)).ok());
    return out;
  }

  std::string Record(const ChunkName& n) {
    std::vector<ChunkName> one = {n};
    return (*from_->ReadChunkRecords(one))[0];
  }

  void ExpectNoLayersAndFsckClean() {
    EXPECT_TRUE(dst_->ListLayers()->empty());
    ASSERT_TRUE(dst_->WaitForBackgroundWork().ok());
    absl::StatusOr<FsckReport> r = dst_->Fsck(nullptr);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok()) << r->problems.front();
  }

  ScopedTempDir dir_{"exchange"};
  std::unique_ptr<Store> src_, dst_;
  std::unique_ptr<LayerExchange> from_, to_;
};

TEST_F(ExchangeTest, ReplicatesAndIdentityMatches) {
  DirectSource source(from_.get());
  absl::StatusOr<ReplicateResult> r = ReplicateLayer(source, *to_, "os", {"test"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadAll(src_.get(), "os"), ReadAll(dst_.get(), "os"));
  EXPECT_EQ(from_->ExportLayerManifest("os")->identity, to_->ExportLayerManifest("os")->identity);
  EXPECT_EQ(dst_->GetLayer("os")->source, "replicate:test");
  // Again: nothing to fetch.
  source.fetched = 0;
  r = ReplicateLayer(source, *to_, "os", {"test"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->up_to_date);
  EXPECT_EQ(source.fetched, 0u);
}

// The layer's metadata travels with it, outside the identity; a peer's
// metadata that breaks the store's own rules is refused.
TEST_F(ExchangeTest, MetadataTravelsAndIsChecked) {
  ASSERT_TRUE(src_->SetLayerDescription("os", "gold image, patched in March").ok());
  DirectSource source(from_.get());
  ASSERT_TRUE(ReplicateLayer(source, *to_, "os", {"test"}).ok());
  absl::StatusOr<LayerInfo> got = dst_->GetLayer("os");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->description, "gold image, patched in March");
  EXPECT_EQ(got->content_sha256, src_->GetLayer("os")->content_sha256);
  EXPECT_EQ(got->content_digest, src_->GetLayer("os")->content_digest);
  EXPECT_TRUE(IsContentDigestText(got->content_digest)) << got->content_digest;

  LayerManifest m = *from_->ExportLayerManifest("os");
  m.name = "os2";
  m.description = "two\nlines";
  EXPECT_TRUE(absl::IsInvalidArgument(to_->CommitLayerManifest(m, "test").status()));
  m.description = "";
  m.content_sha256 = "not hex";
  EXPECT_TRUE(absl::IsInvalidArgument(to_->CommitLayerManifest(m, "test").status()));
  m.content_sha256 = "";
  m.content_digest = "blocks-4096:not hex";
  EXPECT_TRUE(absl::IsInvalidArgument(to_->CommitLayerManifest(m, "test").status()));
  // Well spelled, but not what the map spells: a layer claiming to be an
  // image it is not.
  m.content_digest = "blocks-4096:" + std::string(64, 'e');
  EXPECT_TRUE(absl::IsInvalidArgument(to_->CommitLayerManifest(m, "test").status()));
  EXPECT_TRUE(absl::IsNotFound(dst_->GetLayer("os2").status()));
}

TEST_F(ExchangeTest, CommitWithAChunkNeverSentIsDataLossAndLeavesNothing) {
  LayerManifest m = *from_->ExportLayerManifest("os");
  // Ingest every chunk but the first.
  absl::flat_hash_set<ChunkName> seen;
  std::vector<ChunkStore::ReceivedRecord> records;
  for (const ManifestSegment& s : m.segments)
    for (const ChunkName& n : s.map.names)
      if (seen.insert(n).second) records.push_back({n, Record(n)});
  records.erase(records.begin());
  ASSERT_TRUE(to_->IngestChunkRecords(records).ok());
  absl::StatusOr<LayerInfo> c = to_->CommitLayerManifest(m, "test");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss) << c.status();
  ExpectNoLayersAndFsckClean();
}

TEST_F(ExchangeTest, ForgedRecordIsRejectedAndNothingOfTheBatchStored) {
  LayerManifest m = *from_->ExportLayerManifest("os");
  const ChunkName a = m.segments[0].map.names[0];
  const ChunkName b = m.segments[0].map.names[1];
  std::string good = Record(a);
  std::string raw(dst_->chunk_size(), '\0');
  ASSERT_TRUE(DecodeChunk(Record(b), absl::MakeSpan(raw)).ok());
  raw[7] ^= 1;
  std::string forged;
  EncodeChunk(raw, &forged);
  std::vector<ChunkStore::ReceivedRecord> batch = {{a, good}, {b, forged}};
  absl::Status s = to_->IngestChunkRecords(batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("do not match its name"), std::string::npos) << s;
  std::vector<ChunkName> names = {a, b};
  EXPECT_EQ(*to_->HasChunks(names), std::vector<bool>({false, false}));
}

TEST_F(ExchangeTest, TamperedManifestDoesNotMatchItsIdentity) {
  LayerManifest m = *from_->ExportLayerManifest("os");
  m.segments[0].map.names[5].bytes[0] ^= 1;  // well formed, other content
  absl::StatusOr<LayerInfo> c = to_->CommitLayerManifest(m, "test");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  ExpectNoLayersAndFsckClean();
}

TEST_F(ExchangeTest, MalformedManifestsAreInvalid) {
  LayerManifest m = *from_->ExportLayerManifest("os");
  LayerManifest extra_name = m;
  extra_name.segments[0].map.names.push_back(extra_name.segments[0].map.names[0]);
  EXPECT_EQ(ValidateManifest(extra_name).code(), absl::StatusCode::kInvalidArgument);
  LayerManifest past_end = m;
  past_end.size = 4096;
  EXPECT_EQ(ValidateManifest(past_end).code(), absl::StatusCode::kInvalidArgument);
  LayerManifest wrong_count = m;
  wrong_count.data_blocks += 1;
  EXPECT_EQ(ValidateManifest(wrong_count).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateManifest(m).ok());
}

// Received chunks have no references until the layer commits, so a GC
// between the two removes them; the commit then finds them missing and the
// receiver fetches them again.
TEST_F(ExchangeTest, GcBeforeTheCommitCostsARefetchNotTheLayer) {
  DirectSource source(from_.get());
  bool collected = false;
  source.after_batch = [&] {
    if (collected) return;
    collected = true;
    absl::StatusOr<GcResult> gc = dst_->Gc();
    ASSERT_TRUE(gc.ok());
    EXPECT_GT(gc->chunks_removed, 0u);
  };
  absl::StatusOr<ReplicateResult> r =
      ReplicateLayer(source, *to_, "os", {"test", nullptr, 64});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadAll(src_.get(), "os"), ReadAll(dst_.get(), "os"));
  absl::StatusOr<FsckReport> f = dst_->Fsck(nullptr);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->ok());
}

TEST_F(ExchangeTest, SameNameOtherContentIsRefused) {
  MemDevice other(Pattern(2, 4 * kMiB));
  ASSERT_TRUE(dst_->ImportLayer("os", other, "test", nullptr).ok());
  DirectSource source(from_.get());
  absl::StatusOr<ReplicateResult> r = ReplicateLayer(source, *to_, "os", {"test"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
  EXPECT_NE(r.status().message().find("other content"), std::string::npos);
}

TEST_F(ExchangeTest, StoresOfAnotherChunkSizeAreRefusedBeforeAnyFetch) {
  StoreOptions o;
  o.chunk_size = 8192;
  std::unique_ptr<Store> big = *Store::Open(dir_.Sub("big"), o);
  std::unique_ptr<LayerExchange> to_big = GetLayerExchange(big.get());
  DirectSource source(from_.get());
  absl::StatusOr<ReplicateResult> r = ReplicateLayer(source, *to_big, "os", {"test"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_NE(r.status().message().find("chunk size"), std::string::npos);
  EXPECT_EQ(source.fetched, 0u);
}

}  // namespace
}  // namespace layerdisk
