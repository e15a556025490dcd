// Delta layers (Store::ImportImage with a parent): what an imported
// differencing VHD/VHDX child or qcow2 overlay becomes. The layer maps only
// what the source does not report as holes, zero blocks as zero markers, and
// shows its parent everywhere else; the parent is recorded and protected.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "engine/catalog.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using absl::StatusCode;
using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::ScopedTempDir;

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSize = 16 * kBlock;

// A composed image (child over parent) with the child's own allocation.
class DeltaSource final : public BlockDevice {
 public:
  DeltaSource(std::string composed, std::vector<DeviceExtent> map)
      : composed_(std::move(composed)), map_(std::move(map)) {}
  uint64_t size() const override { return composed_.size(); }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    std::memcpy(out.data(), composed_.data() + offset, out.size());
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override { return Denied(); }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override { return Denied(); }
  absl::Status Trim(uint64_t, uint64_t, bool) override { return Denied(); }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t, uint64_t) override { return map_; }

 private:
  static absl::Status Denied() { return absl::PermissionDeniedError("read-only"); }
  std::string composed_;
  std::vector<DeviceExtent> map_;
};

std::string ReadAll(BlockDevice& dev) {
  std::string out(dev.size(), '\0');
  EXPECT_TRUE(dev.Read(0, absl::MakeSpan(out)).ok());
  return out;
}

class DeltaImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.background_sealing = false;
    auto store = Store::Open(dir_.path() + "/store", options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    parent_.assign(kSize, '\0');
    FillPattern(1, 0, parent_.data(), kSize);
    MemDevice base(parent_);
    ASSERT_TRUE(store_->ImportLayer("base", base, "base.img", nullptr).ok());
    // The child: block 1 rewritten, sectors 1-2 of block 2 rewritten (the
    // rest of that block is the parent's), block 3 zeroed, the rest left.
    composed_ = parent_;
    FillPattern(2, kBlock, composed_.data() + kBlock, kBlock);
    FillPattern(3, 2 * kBlock + 512, composed_.data() + 2 * kBlock + 512, 1024);
    std::memset(composed_.data() + 3 * kBlock, 0, kBlock);
    map_ = {{0, kBlock, true, false},
            {kBlock, kBlock, false, false},
            {2 * kBlock, 512, true, false},
            {2 * kBlock + 512, 1024, false, false},
            {2 * kBlock + 1536, kBlock - 1536, true, false},
            {3 * kBlock, kBlock, false, true},
            {4 * kBlock, kSize - 4 * kBlock, true, false}};
  }

  ScopedTempDir dir_{"delta_import"};
  std::unique_ptr<Store> store_;
  std::string parent_, composed_;
  std::vector<DeviceExtent> map_;
};

TEST_F(DeltaImportTest, StackComposesToTheChildAndTheDeltaHoldsOnlyItsBlocks) {
  DeltaSource child(composed_, map_);
  auto imported = store_->ImportImage("child", child, {"child.vhd", "base", "id-1", ""}, nullptr);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->layer.parent, "base");
  EXPECT_EQ(imported->layer.image_id, "id-1");
  // Blocks 1 and 2 are data; block 3 a zero marker; nothing else.
  EXPECT_EQ(imported->layer.logical_bytes, 2 * kBlock);

  ASSERT_TRUE(store_->CreateVolume("v", {"base", "child"}, std::nullopt).ok());
  auto volume = store_->OpenVolume("v");
  ASSERT_TRUE(volume.ok());
  std::string got = ReadAll(**volume);
  ASSERT_EQ(got.size(), composed_.size());
  EXPECT_TRUE(got == composed_) << testing_util::FirstDifference(composed_.data(), got.data(),
                                                                  got.size(), 0);
  // Alone, the delta is not a whole disk: what it leaves to its parent reads
  // as holes (zero), its own blocks as themselves.
  auto alone = store_->OpenLayer("child");
  ASSERT_TRUE(alone.ok());
  std::string own = ReadAll(**alone);
  EXPECT_EQ(own.substr(kBlock, kBlock), composed_.substr(kBlock, kBlock));
  EXPECT_EQ(own.substr(0, kBlock), std::string(kBlock, '\0'));

  auto info = store_->GetLayer("child");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->parent, "base");
}

TEST_F(DeltaImportTest, ParentIsProtectedAndMustExistAndFit) {
  DeltaSource child(composed_, map_);
  EXPECT_EQ(store_->ImportImage("c", child, {"c", "nosuch", "", ""}, nullptr).status().code(),
            StatusCode::kNotFound);
  DeltaSource small(composed_.substr(0, 4 * kBlock), {{0, 4 * kBlock, true, false}});
  EXPECT_EQ(store_->ImportImage("s", small, {"s", "base", "", ""}, nullptr).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->ImportImage("child", child, {"c", "base", "", ""}, nullptr).ok());
  absl::Status refused = store_->DeleteLayer("base");
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("parent of delta layer 'child'"), std::string::npos) << refused;
  ASSERT_TRUE(store_->DeleteLayer("child").ok());
  EXPECT_TRUE(store_->DeleteLayer("base").ok());
  auto layers = store_->ListLayers();
  ASSERT_TRUE(layers.ok());
  EXPECT_TRUE(layers->empty());
}

TEST(LayerRecordTest, RecordsWithoutTheTrailingFieldsStillDecode) {
  LayerRecord rec;
  rec.id = 7;
  rec.name = "old";
  rec.size = 4096;
  rec.source = "import:x";
  rec.opaque = true;
  std::string encoded = EncodeLayer(rec);
  // `encoded` less its last `drop` bytes before the checksum, re-checksummed.
  auto truncated = [&encoded](size_t drop) {
    std::string body = encoded.substr(0, encoded.size() - 8 - drop);
    uint64_t sum = Checksum64(body, kCatalogSeed + static_cast<uint8_t>('L'));
    for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>(sum >> (8 * i)));
    return body;
  };
  // A record as written before content digests: no digest (1 byte, empty).
  auto before_digest = DecodeLayer(truncated(1));
  ASSERT_TRUE(before_digest.ok()) << before_digest.status();
  EXPECT_TRUE(before_digest->content_digest.empty());
  // One written before layer metadata: no description, hash (1 byte each,
  // empty) or base (1 byte, no ids) either.
  auto before_metadata = DecodeLayer(truncated(1 + 3));
  ASSERT_TRUE(before_metadata.ok()) << before_metadata.status();
  EXPECT_EQ(before_metadata->name, "old");
  EXPECT_TRUE(before_metadata->description.empty());
  EXPECT_TRUE(before_metadata->base.empty());
  // A record as written before delta layers: no parent varint (1 byte, 0),
  // no image_id (1 byte, empty), no fetching flag (1 byte) either.
  // One written before lazy replication: parent and image_id, no flag.
  auto before_fetching = DecodeLayer(truncated(1 + 3 + 1));
  ASSERT_TRUE(before_fetching.ok()) << before_fetching.status();
  EXPECT_FALSE(before_fetching->fetching);
  auto decoded = DecodeLayer(truncated(1 + 3 + 3));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->name, "old");
  EXPECT_EQ(decoded->parent, 0u);
  EXPECT_TRUE(decoded->image_id.empty());
  EXPECT_TRUE(decoded->opaque);

  rec.parent = 3;
  rec.image_id = "abc";
  rec.description = "gold";
  rec.content_sha256 = std::string(64, 'f');
  rec.base = {1, 2};
  rec.content_digest = "blocks-4096:" + std::string(64, 'e');
  auto round = DecodeLayer(EncodeLayer(rec));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->parent, 3u);
  EXPECT_EQ(round->image_id, "abc");
  EXPECT_FALSE(round->fetching);
  rec.fetching = true;
  EXPECT_TRUE(DecodeLayer(EncodeLayer(rec))->fetching);
  EXPECT_EQ(round->description, "gold");
  EXPECT_EQ(round->content_sha256, std::string(64, 'f'));
  EXPECT_EQ(round->base, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(round->content_digest, rec.content_digest);
}

}  // namespace
}  // namespace layerdisk
