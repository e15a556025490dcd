// The manifest of a layer published in a shared RADOS pool (engine/
// manifest_codec.h): it round-trips with its identity intact, and bytes
// from the pool that are cut short or damaged are DataLoss, never a crash
// or a manifest that validates.
#include "engine/manifest_codec.h"

#include <memory>
#include <string>

#include "engine/layer_exchange.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::MemDevice;
using testing_util::ScopedTempDir;

class ManifestCodecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.background_sealing = false;
    store_ = *Store::Open(dir_.Sub("store"), o);
    // 3 MiB of patterned data with a hole, so the map has data and zero runs.
    std::string data(3 << 20, '\0');
    testing_util::FillPattern(7, 0, data.data(), 1 << 20);
    testing_util::FillPattern(8, 2 << 20, data.data() + (2 << 20), 1 << 20);
    MemDevice image(data);
    ASSERT_TRUE(store_->ImportLayer("os", image, "test", nullptr).ok());
    manifest_ = *GetLayerExchange(store_.get())->ExportLayerManifest("os");
  }

  ScopedTempDir dir_{"manifest-codec"};
  std::unique_ptr<Store> store_;
  LayerManifest manifest_;
};

TEST_F(ManifestCodecTest, RoundTripKeepsEveryFieldAndTheIdentity) {
  manifest_.description = "gold image";
  manifest_.content_sha256 = std::string(64, 'e');
  absl::StatusOr<LayerManifest> back = DecodeManifest(EncodeManifest(manifest_));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "os");
  EXPECT_EQ(back->size, manifest_.size);
  EXPECT_EQ(back->block_size, manifest_.block_size);
  EXPECT_EQ(back->data_blocks, manifest_.data_blocks);
  EXPECT_EQ(back->identity, manifest_.identity);
  EXPECT_EQ(back->description, "gold image");
  EXPECT_EQ(back->content_sha256, manifest_.content_sha256);
  EXPECT_EQ(back->content_digest, manifest_.content_digest);
  EXPECT_FALSE(back->content_digest.empty());  // an imported layer's digest
  ASSERT_EQ(back->segments.size(), manifest_.segments.size());
  EXPECT_TRUE(ValidateManifest(*back).ok());
  // The identity recomputed from the decoded map is the published one.
  EXPECT_EQ(ManifestIdentity(*back, ""), manifest_.identity);
}

// Manifests published before content digests (version 1: no digest field)
// still decode, with an empty digest.
TEST_F(ManifestCodecTest, VersionOneDecodesWithoutADigest) {
  manifest_.content_sha256 = std::string(64, 'e');
  manifest_.content_digest = "";
  std::string bytes = EncodeManifest(manifest_);
  // Version 2 spells the empty digest as one zero length byte right after
  // the SHA-256; version 1 has neither it nor the new magic.
  const size_t sha = bytes.find(manifest_.content_sha256);
  ASSERT_NE(sha, std::string::npos);
  ASSERT_EQ(bytes[sha + 64], '\0');
  bytes.erase(sha + 64, 1);
  const size_t magic = bytes.find("layerdisk manifest 2");
  ASSERT_NE(magic, std::string::npos);
  bytes[magic + std::string("layerdisk manifest ").size()] = '1';
  absl::StatusOr<LayerManifest> back = DecodeManifest(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->content_sha256, manifest_.content_sha256);
  EXPECT_TRUE(back->content_digest.empty());
  EXPECT_EQ(back->segments.size(), manifest_.segments.size());
  EXPECT_EQ(ManifestIdentity(*back, ""), manifest_.identity);
}

TEST_F(ManifestCodecTest, EveryTruncationIsDataLoss) {
  const std::string bytes = EncodeManifest(manifest_);
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 64) {
    absl::StatusOr<LayerManifest> m = DecodeManifest(bytes.substr(0, n));
    EXPECT_TRUE(absl::IsDataLoss(m.status())) << "cut at " << n << ": " << m.status();
  }
}

TEST_F(ManifestCodecTest, DamagedBytesNeverGiveTheSameLayer) {
  const std::string bytes = EncodeManifest(manifest_);
  for (size_t i = 0; i < bytes.size(); i += 1 + i / 32) {
    std::string damaged = bytes;
    damaged[i] ^= 0x20;
    absl::StatusOr<LayerManifest> m = DecodeManifest(damaged);
    if (!m.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(m.status())) << m.status();
      continue;
    }
    // What still decodes (a flipped name or identity byte) must not pass as
    // the layer: a different name or identity, or a map that fails its
    // identity check when committed.
    EXPECT_TRUE(m->name != "os" || m->identity != manifest_.identity ||
                !ValidateManifest(*m).ok() || ManifestIdentity(*m, "") != m->identity)
        << "byte " << i;
  }
}

TEST_F(ManifestCodecTest, HostileCountsAreRefused) {
  std::string bytes = EncodeManifest(manifest_);
  bytes += std::string(8, '\xff');  // trailing garbage
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest(bytes).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest("not a manifest").status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeManifest("").status()));
}

TEST(ChunkNameTest, HexRoundTripsAndRejectsOtherText) {
  ChunkName n = NameChunk("some chunk");
  ASSERT_TRUE(ChunkName::FromHex(n.Hex()).has_value());
  EXPECT_EQ(*ChunkName::FromHex(n.Hex()), n);
  EXPECT_FALSE(ChunkName::FromHex("layerdisk.pool").has_value());
  std::string upper = n.Hex();
  upper[0] = 'G';
  EXPECT_FALSE(ChunkName::FromHex(upper).has_value());
  EXPECT_FALSE(ChunkName::FromHex(n.Hex().substr(1)).has_value());
}

}  // namespace
}  // namespace layerdisk
