// A damaged chunk, map segment or catalog record must cost only the blocks
// or objects it describes: reads of those fail with DataLoss, the rest of
// the store keeps working, and fsck names the damage.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <memory>

#include "common/coding.h"
#include "engine/catalog.h"
#include "engine/column_families.h"
#include "engine/store.h"
#include "layers/map_segment.h"
#include "rocksdb/db.h"

namespace layerdisk {
namespace {

constexpr uint32_t kBlock = 4096;
constexpr uint64_t kImageBytes = 3 * kSegmentBlocks * uint64_t{kBlock};  // 3 segments

// A read-only in-memory image whose every block is distinct.
class PatternImage final : public BlockDevice {
 public:
  PatternImage() : bytes_(kImageBytes, '\0') {
    for (uint64_t b = 0; b < kImageBytes / kBlock; ++b)
      std::snprintf(&bytes_[b * kBlock], 64, "block %llu", static_cast<unsigned long long>(b));
  }
  uint64_t size() const override { return bytes_.size(); }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Read(uint64_t off, absl::Span<char> out) override {
    std::memcpy(out.data(), bytes_.data() + off, out.size());
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override { return Denied(); }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override { return Denied(); }
  absl::Status Trim(uint64_t, uint64_t, bool) override { return Denied(); }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t off, uint64_t len) override {
    return std::vector<DeviceExtent>{{off, len, false, false}};
  }
  const std::string& bytes() const { return bytes_; }

 private:
  static absl::Status Denied() { return absl::PermissionDeniedError("read-only"); }
  std::string bytes_;
};

// Opens the store's RocksDB directly, with every column family.
class RawDb {
 public:
  explicit RawDb(const std::string& dir) {
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(StoreDbOptions(), dir + "/db",
                                          StoreColumnFamilies(), &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  ~RawDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  }
  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* family(int i) { return handles_[i]; }
  // The first key of a family.
  std::string FirstKey(int family_index) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family(family_index)));
    it->SeekToFirst();
    return it->Valid() ? it->key().ToString() : "";
  }
  void Mutate(int family_index, const std::string& key,
              const std::function<void(std::string*)>& change) {
    std::string value;
    ASSERT_TRUE(db_->Get(rocksdb::ReadOptions(), family(family_index), key, &value).ok());
    change(&value);
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), family(family_index), key, value).ok());
  }

 private:
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

enum Family {
  kCatalog = kCatalogFamily,
  kMaps = kMapsFamily,
  kHeads = kHeadsFamily,
  kChunks = kChunksFamily,
  kRefs = kRefsFamily,
};

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/ld-corrupt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = OpenStore();
    ASSERT_TRUE(store->ImportLayer("os", image_, "pattern", nullptr).ok());
    ASSERT_TRUE(store->CreateVolume("a", {"os"}, std::nullopt).ok());
    ASSERT_TRUE(store->CreateVolume("b", {"os"}, std::nullopt).ok());
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  std::unique_ptr<Store> OpenStore() {
    StoreOptions options;
    options.create_if_missing = true;
    options.chunk_cache_bytes = 1 << 20;
    auto store = Store::Open(dir_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  absl::Status ReadBlock(Store& store, const std::string& volume, uint64_t block,
                         std::string* out) {
    auto dev = store.OpenVolume(volume);
    if (!dev.ok()) return dev.status();
    out->assign(kBlock, '\0');
    return (*dev)->Read(block * kBlock, absl::MakeSpan(*out));
  }
  void ExpectFsckMentions(Store& store, const std::string& needle) {
    auto report = store.Fsck(nullptr);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->ok());
    bool found = false;
    for (const auto& p : report->problems) found |= p.find(needle) != std::string::npos;
    EXPECT_TRUE(found) << "fsck did not mention '" << needle << "'";
  }

  std::string dir_;
  PatternImage image_;
};

TEST_F(CorruptionTest, CleanStorePassesFsck) {
  auto store = OpenStore();
  auto report = store->Fsck(nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  EXPECT_EQ(report->chunks_checked, kImageBytes / kBlock);
}

TEST_F(CorruptionTest, DamagedChunkLosesOnlyItsBlock) {
  std::string victim;
  {
    RawDb raw(dir_);
    victim = raw.FirstKey(kChunks);
    raw.Mutate(kChunks, victim, [](std::string* v) { v->back() ^= 0x5a; });
  }
  auto store = OpenStore();
  int lost = 0;
  std::string got;
  for (uint64_t b = 0; b < kImageBytes / kBlock; ++b) {
    absl::Status s = ReadBlock(*store, "a", b, &got);
    if (s.ok()) {
      EXPECT_EQ(got, image_.bytes().substr(b * kBlock, kBlock)) << "block " << b;
    } else {
      EXPECT_TRUE(absl::IsDataLoss(s)) << s;
      ++lost;
    }
  }
  EXPECT_EQ(lost, 1);
  ExpectFsckMentions(*store, "checksum");
}

TEST_F(CorruptionTest, TruncatedAndMissingChunksAreDataLoss) {
  {
    RawDb raw(dir_);
    std::string first = raw.FirstKey(kChunks);
    raw.Mutate(kChunks, first, [](std::string* v) { v->resize(5); });
    std::unique_ptr<rocksdb::Iterator> it(raw.db()->NewIterator(rocksdb::ReadOptions(), raw.family(kChunks)));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    it->Next();
    ASSERT_TRUE(it->Valid());
    std::string second = it->key().ToString();
    it.reset();
    ASSERT_TRUE(raw.db()->Delete(rocksdb::WriteOptions(), raw.family(kChunks), second).ok());
  }
  auto store = OpenStore();
  int lost = 0;
  std::string got;
  for (uint64_t b = 0; b < kImageBytes / kBlock; ++b) {
    absl::Status s = ReadBlock(*store, "b", b, &got);
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(s)) << s;
      ++lost;
    }
  }
  EXPECT_EQ(lost, 2);
  ExpectFsckMentions(*store, "truncated");
  ExpectFsckMentions(*store, "missing");
}

TEST_F(CorruptionTest, DamagedMapSegmentLosesOnlyItsBlocks) {
  {
    RawDb raw(dir_);
    std::string key = raw.FirstKey(kMaps);  // segment 0 of layer "os"
    raw.Mutate(kMaps, key, [](std::string* v) { (*v)[300] ^= 1; });
  }
  auto store = OpenStore();
  std::string got;
  absl::Status s = ReadBlock(*store, "a", 5, &got);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  // Blocks of the next segments are untouched.
  ASSERT_TRUE(ReadBlock(*store, "a", kSegmentBlocks + 5, &got).ok());
  EXPECT_EQ(got, image_.bytes().substr((kSegmentBlocks + 5) * kBlock, kBlock));
  ExpectFsckMentions(*store, "bad checksum");
}

// A map rewritten so that two blocks trade places, its checksum made good:
// every record decodes and every count matches, yet the layer no longer
// reads as the image it was imported from. The content digest catches it.
TEST_F(CorruptionTest, SwappedMapEntriesFailTheContentDigest) {
  {
    RawDb raw(dir_);
    std::string key = raw.FirstKey(kMaps);  // segment 0 of layer "os"
    uint64_t layer, segment;
    ASSERT_TRUE(ParseMapKey(key, &layer, &segment));
    raw.Mutate(kMaps, key, [&](std::string* v) {
      absl::StatusOr<MapSegment> map = DecodeMapSegment(layer, segment, *v);
      ASSERT_TRUE(map.ok()) << map.status();
      ASSERT_GE(map->names.size(), 2u);
      ASSERT_FALSE(map->names[0] == map->names[1]);
      std::swap(map->names[0], map->names[1]);
      *v = EncodeMapSegment(layer, segment, *map);
    });
  }
  auto store = OpenStore();
  std::string got;
  ASSERT_TRUE(ReadBlock(*store, "a", 0, &got).ok());
  EXPECT_EQ(got, image_.bytes().substr(kBlock, kBlock)) << "the swap did not take";
  ExpectFsckMentions(*store, "does not read as the image it was imported from");
}

TEST_F(CorruptionTest, DamagedHeadPageLosesOnlyItsBlocks) {
  const std::string mine(kBlock, 'u');
  {
    auto store = OpenStore();
    auto dev = store->OpenVolume("a");
    ASSERT_TRUE(dev.ok()) << dev.status();
    ASSERT_TRUE((*dev)->Write(5 * kBlock, mine, false).ok());                   // page 0
    ASSERT_TRUE((*dev)->Write((kSegmentBlocks + 5) * kBlock, mine, false).ok());  // page 1
    ASSERT_TRUE((*dev)->Flush().ok());
  }
  {
    RawDb raw(dir_);
    std::string key = raw.FirstKey(kHeads);  // page 0 of volume a's head
    ASSERT_FALSE(key.empty());
    raw.Mutate(kHeads, key, [](std::string* v) { (*v)[v->size() / 2] ^= 1; });
  }
  auto store = OpenStore();
  std::string got;
  // Every block of the damaged page is lost, not shown from the OS layer.
  EXPECT_TRUE(absl::IsDataLoss(ReadBlock(*store, "a", 5, &got)));
  EXPECT_TRUE(absl::IsDataLoss(ReadBlock(*store, "a", 6, &got)));
  ASSERT_TRUE(ReadBlock(*store, "a", kSegmentBlocks + 5, &got).ok());
  EXPECT_EQ(got, mine);
  ASSERT_TRUE(ReadBlock(*store, "a", 2 * kSegmentBlocks + 1, &got).ok());
  EXPECT_EQ(got, image_.bytes().substr((2 * kSegmentBlocks + 1) * kBlock, kBlock));
  auto dev = store->OpenVolume("a");
  ASSERT_TRUE(dev.ok()) << dev.status();
  // Writes to the damaged page are refused (committing the page would
  // record its lost blocks as absent); elsewhere they work.
  EXPECT_TRUE(absl::IsDataLoss((*dev)->Write(7 * kBlock, mine, false)));
  EXPECT_TRUE(absl::IsDataLoss((*dev)->WriteZeroes(7 * kBlock, kBlock, false)));
  EXPECT_TRUE((*dev)->Write(2 * kSegmentBlocks * kBlock, mine, false).ok());
  EXPECT_TRUE((*dev)->Flush().ok());
  ASSERT_TRUE(ReadBlock(*store, "b", 5, &got).ok());
  EXPECT_EQ(got, image_.bytes().substr(5 * kBlock, kBlock));
  ExpectFsckMentions(*store, "bad checksum");
}

TEST_F(CorruptionTest, DamagedVolumeRecordCostsThatVolumeOnly) {
  {
    RawDb raw(dir_);
    raw.Mutate(kCatalog, VolumeKey("a"), [](std::string* v) { (*v)[3] ^= 0x10; });
  }
  auto store = OpenStore();
  std::string got;
  EXPECT_TRUE(absl::IsDataLoss(ReadBlock(*store, "a", 0, &got)));
  ASSERT_TRUE(ReadBlock(*store, "b", 0, &got).ok());
  EXPECT_EQ(got, image_.bytes().substr(0, kBlock));
  ExpectFsckMentions(*store, "bad checksum");
}

TEST_F(CorruptionTest, WrongReferenceCountIsReported) {
  {
    RawDb raw(dir_);
    std::string key = raw.FirstKey(kRefs);
    std::string value;
    PutFixed64(&value, 7);
    PutFixed32(&value, kBlock);
    PutFixed32(&value, 100);
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), raw.family(kRefs), key, value).ok());
  }
  auto store = OpenStore();
  ExpectFsckMentions(*store, "reference count 7");
}

TEST_F(CorruptionTest, NewerFormatVersionIsRefused) {
  {
    RawDb raw(dir_);
    FormatRecord f;
    f.format_version = kStoreFormatVersion + 1;
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), kFormatKey, EncodeFormat(f)).ok());
  }
  StoreOptions options;
  auto store = Store::Open(dir_, options);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
  EXPECT_NE(store.status().message().find("format version"), std::string::npos);
}

TEST_F(CorruptionTest, SecondOpenOfAStoreIsRefused) {
  auto store = OpenStore();
  StoreOptions options;
  auto second = Store::Open(dir_, options);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
}

}  // namespace
}  // namespace layerdisk
