// Layer operations against reference models: rebase (every block of the
// rebased volume, its snapshot and the conflict report), merge and flatten
// (composed bytes unchanged, stored bytes unchanged, reference counts right),
// layer metadata, and bad input that must change nothing.
//
// Replay a failure with LAYERDISK_TEST_SEED=<seed> (printed as "[ seed ] N");
// LAYERDISK_KEEP_TEST_DIRS=1 keeps the store directory.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "dedupe/chunk_name.h"
#include "dedupe/content_digest.h"
#include "engine/catalog.h"
#include "engine/image_digest.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::AnnounceSeed;
using testing_util::FillPattern;
using testing_util::FirstDifference;
using testing_util::MemDevice;
using testing_util::Rng;
using testing_util::ScopedTempDir;
using testing_util::TestSeeds;

constexpr uint32_t kBs = 4096;
constexpr uint64_t kBlocks = 1024;  // 4 MiB volumes: every block is checked
constexpr uint64_t kSize = kBlocks * kBs;

std::string PatternBlock(uint64_t key, uint64_t block) {
  std::string out(kBs, '\0');
  FillPattern(key, block * kBs, out.data(), kBs);
  return out;
}

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  StoreOptions options;
  options.background_sealing = false;  // sealing happens when tests say
  auto store = Store::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(store).value() : nullptr;
}

// The expected bytes of a whole device, block by block.
using Image = std::vector<std::string>;

void ExpectReads(BlockDevice& dev, const Image& want, const std::string& what) {
  std::string got(kSize, '\0');
  LD_ASSERT_OK(dev.Read(0, absl::MakeSpan(got)));
  for (uint64_t b = 0; b < kBlocks; ++b) {
    if (got.compare(b * kBs, kBs, want[b]) != 0) {
      ADD_FAILURE() << what << ": block " << b << " differs: "
                    << FirstDifference(want[b].data(), got.data() + b * kBs, kBs, b * kBs);
      return;
    }
  }
}

void ExpectReads(Store& store, const std::string& device, const Image& want) {
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev;
  if (size_t at = device.find('@'); at != std::string::npos) {
    dev = store.OpenSnapshot(device.substr(0, at), device.substr(at + 1));
  } else if (device.rfind("layer:", 0) == 0) {
    dev = store.OpenLayer(device.substr(6));
  } else {
    dev = store.OpenVolume(device);
  }
  ASSERT_TRUE(dev.ok()) << device << ": " << dev.status();
  ExpectReads(**dev, want, device);
}

// OS v1 and v2 images (v2 changes, adds and removes blocks of v1), an
// application layer sealed over v1, and a user's writes over both, with a
// snapshot between two rounds of them.
struct Scenario {
  std::string os1, os2;
  std::map<uint64_t, std::string> app;
  std::map<uint64_t, std::string> user;     // what the user's writes define
  std::map<uint64_t, std::string> at_snap;  // ... at snapshot s1

  std::string Os(bool v2, uint64_t b) const {
    return (v2 ? os2 : os1).substr(b * kBs, kBs);
  }
  Image Compose(const std::map<uint64_t, std::string>& own, bool v2) const {
    Image out;
    for (uint64_t b = 0; b < kBlocks; ++b) {
      if (auto it = own.find(b); it != own.end()) {
        out.push_back(it->second);
      } else if (auto a = app.find(b); a != app.end()) {
        out.push_back(a->second);
      } else {
        out.push_back(Os(v2, b));
      }
    }
    return out;
  }
  // The user's blocks whose base content differs between v1 and v2, merged.
  std::vector<ByteRange> Conflicts() const {
    std::vector<ByteRange> out;
    for (const auto& [b, bytes] : user) {
      if (app.count(b) || Os(false, b) == Os(true, b)) continue;
      if (!out.empty() && out.back().offset + out.back().length == b * kBs) {
        out.back().length += kBs;
      } else {
        out.push_back({b * kBs, kBs});
      }
    }
    return out;
  }
};

void Build(Store& store, uint64_t seed, Scenario* s) {
  Rng rng(seed);
  std::string os1(kSize, '\0');
  FillPattern(seed * 16 + 1, 0, os1.data(), os1.size());
  MemDevice os1_dev(os1);
  for (uint64_t b = 0; b < kBlocks; ++b)
    if (rng.OneIn(5)) os1_dev.SetHole(b);
  s->os1 = os1_dev.data();
  std::string os2 = s->os1;
  std::set<uint64_t> removed;
  for (uint64_t b = 0; b < kBlocks; ++b) {
    if (rng.OneIn(6)) {
      std::string fresh = PatternBlock(seed * 16 + 2, b);
      os2.replace(b * kBs, kBs, fresh);
    } else if (rng.OneIn(20)) {
      removed.insert(b);
    }
  }
  MemDevice os2_dev(os2);
  for (uint64_t b : removed) os2_dev.SetHole(b);
  s->os2 = os2_dev.data();
  LD_ASSERT_OK(store.ImportImage("os1", os1_dev, {"os1.img", {}, {}, "OS v1"}, nullptr).status());
  LD_ASSERT_OK(store.ImportLayer("os2", os2_dev, "os2.img", nullptr).status());

  // The application: written over os1 in a scratch volume, sealed.
  LD_ASSERT_OK(store.CreateVolume("scratch", {"os1"}, std::nullopt).status());
  {
    LD_ASSERT_OK_AND_ASSIGN(auto dev, store.OpenVolume("scratch"));
    for (uint64_t b = 0; b < kBlocks; ++b) {
      if (!rng.OneIn(8)) continue;
      s->app[b] = PatternBlock(seed * 16 + 3, b);
      LD_ASSERT_OK(dev->Write(b * kBs, s->app[b], false));
    }
    LD_ASSERT_OK(dev->Flush());
  }
  LD_ASSERT_OK(store.SealVolume("scratch", "app", "the application").status());

  // The user's desktop: zeroes (where a layer below has the block, so they
  // mask it), data, a snapshot, more data.
  LD_ASSERT_OK(store.CreateVolume("v", {"os1", "app"}, std::nullopt).status());
  LD_ASSERT_OK_AND_ASSIGN(auto dev, store.OpenVolume("v"));
  for (uint64_t b = 0; b < kBlocks; ++b) {
    bool below = s->app.count(b) || s->Os(false, b) != std::string(kBs, '\0');
    if (!below || !rng.OneIn(30)) continue;
    LD_ASSERT_OK(dev->WriteZeroes(b * kBs, kBs, false));
    s->user[b] = std::string(kBs, '\0');
  }
  for (int round = 0; round < 2; ++round) {
    for (uint64_t b = 0; b < kBlocks; ++b) {
      if (!rng.OneIn(7) || (round == 0 && s->user.count(b))) continue;
      s->user[b] = PatternBlock(seed * 16 + 4 + round, b);
      LD_ASSERT_OK(dev->Write(b * kBs, s->user[b], false));
    }
    LD_ASSERT_OK(dev->Flush());
    if (round == 0) {
      LD_ASSERT_OK(store.CreateSnapshot("v", "s1").status());
      s->at_snap = s->user;
    }
  }
}

TEST(RebaseTest, KeepsTheHeadReadsTheNewBaseAndReportsExactConflicts) {
  for (uint64_t seed : TestSeeds({1, 2, 3})) {
    AnnounceSeed(seed);
    ScopedTempDir dir("rebase");
    Scenario s;
    {
      auto store = OpenStore(dir.path());
      ASSERT_TRUE(store);
      Build(*store, seed, &s);
      if (HasFatalFailure()) return;
      LD_ASSERT_OK(store->WaitForBackgroundWork());  // s1's layer sealed
      const Image before = s.Compose(s.user, false);
      const std::vector<ByteRange> want = s.Conflicts();
      ASSERT_FALSE(want.empty()) << "the scenario must produce conflicts";

      // Dry run: the report, and nothing else.
      LD_ASSERT_OK_AND_ASSIGN(std::shared_ptr<BlockDevice> open, store->OpenVolume("v"));
      LD_ASSERT_OK_AND_ASSIGN(RebaseReport dry, store->RebaseVolume("v", {"os2", "app"}, true));
      EXPECT_FALSE(dry.applied);
      EXPECT_EQ(dry.old_layers, (std::vector<std::string>{"os1", "app"}));
      EXPECT_EQ(dry.new_layers, (std::vector<std::string>{"os2", "app"}));
      EXPECT_TRUE(dry.conflicts == want) << dry.conflicts.size() << " ranges, want " << want.size();
      ExpectReads(*open, before, "v after a dry run");

      // The rebase: the open handle reads the new stack at once.
      LD_ASSERT_OK_AND_ASSIGN(RebaseReport done, store->RebaseVolume("v", {"os2", "app"}, false));
      EXPECT_TRUE(done.applied);
      EXPECT_TRUE(done.conflicts == want);
      ExpectReads(*open, s.Compose(s.user, true), "open v after the rebase");
      LD_ASSERT_OK_AND_ASSIGN(VolumeInfo info, store->GetVolume("v"));
      EXPECT_EQ(info.layers, (std::vector<std::string>{"os2", "app"}));
      // A snapshot is a frozen point: it reads what it read.
      ExpectReads(*store, "v@s1", s.Compose(s.at_snap, false));
      // The volume stays writable on its new base.
      std::string late = PatternBlock(seed * 16 + 9, 5);
      LD_ASSERT_OK(open->Write(5 * kBs, late, true));
      s.user[5] = late;
    }
    // Reopened: the catalog holds the new stack.
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store);
    ExpectReads(*store, "v", s.Compose(s.user, true));
    ExpectReads(*store, "v@s1", s.Compose(s.at_snap, false));
    // Rolling back to a snapshot from before the rebase brings its base back.
    LD_ASSERT_OK(store->RollbackSnapshot("v", "s1", false));
    ExpectReads(*store, "v", s.Compose(s.at_snap, false));
    LD_ASSERT_OK_AND_ASSIGN(VolumeInfo info, store->GetVolume("v"));
    EXPECT_EQ(info.layers, (std::vector<std::string>{"os1", "app"}));
    LD_ASSERT_OK_AND_ASSIGN(VolumeInfo clone, store->CloneVolume("v", "s1", "c"));
    EXPECT_EQ(clone.layers, (std::vector<std::string>{"os1", "app"}));
    LD_ASSERT_OK(store->WaitForBackgroundWork());
    LD_ASSERT_OK_AND_ASSIGN(FsckReport fsck, store->Fsck(nullptr));
    EXPECT_TRUE(fsck.ok()) << fsck.problems.front();
  }
}

TEST(RebaseTest, AllVolumesOnALayer) {
  ScopedTempDir dir("rebase-all");
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  Scenario s;
  Build(*store, 7, &s);
  if (HasFatalFailure()) return;
  LD_ASSERT_OK(store->CreateVolume("w", {"os1"}, std::nullopt).status());
  LD_ASSERT_OK(store->CreateVolume("other", {"os2"}, std::nullopt).status());
  LD_ASSERT_OK_AND_ASSIGN(auto dry, store->RebaseAll("os1", "os2", true));
  ASSERT_EQ(dry.size(), 3u);  // scratch, v, w; not "other"
  LD_ASSERT_OK_AND_ASSIGN(VolumeInfo v, store->GetVolume("v"));
  EXPECT_EQ(v.layers, (std::vector<std::string>{"os1", "app"})) << "a dry run changed v";
  LD_ASSERT_OK_AND_ASSIGN(auto done, store->RebaseAll("os1", "os2", false));
  ASSERT_EQ(done.size(), 3u);
  for (const RebaseReport& r : done) {
    EXPECT_TRUE(r.applied);
    if (r.volume == "v") {
      EXPECT_TRUE(r.conflicts == s.Conflicts());
    } else if (r.volume == "w") {
      EXPECT_TRUE(r.conflicts.empty());
    }
  }
  ExpectReads(*store, "v", s.Compose(s.user, true));
  LD_ASSERT_OK_AND_ASSIGN(VolumeInfo w, store->GetVolume("w"));
  EXPECT_EQ(w.layers, (std::vector<std::string>{"os2"}));
  LD_ASSERT_OK_AND_ASSIGN(auto none, store->RebaseAll("os1", "os2", false));
  EXPECT_TRUE(none.empty());
}

TEST(RebaseTest, BadInputChangesNothing) {
  ScopedTempDir dir("rebase-bad");
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::string small(kSize / 2, 'x');
  MemDevice small_dev(small);
  LD_ASSERT_OK(store->ImportLayer("small", small_dev, "small.img", nullptr).status());
  Scenario s;
  Build(*store, 11, &s);
  if (HasFatalFailure()) return;
  LD_ASSERT_OK(store->CreateVolume("onsmall", {"small"}, std::nullopt).status());
  const Image before = s.Compose(s.user, false);
  auto expect = [&](absl::Status status, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_NE(status.message().find(text), std::string::npos) << status;
  };
  expect(store->RebaseVolume("v", {"small"}, false).status(),
         absl::StatusCode::kInvalidArgument, "virtual size");
  expect(store->RebaseVolume("v", {"os2", "os2"}, false).status(),
         absl::StatusCode::kInvalidArgument, "twice");
  expect(store->RebaseVolume("v", {"nosuch"}, false).status(), absl::StatusCode::kNotFound,
         "nosuch");
  expect(store->RebaseVolume("nosuch", {"os2"}, false).status(), absl::StatusCode::kNotFound,
         "nosuch");
  expect(store->RebaseVolume("v", {}, false).status(), absl::StatusCode::kInvalidArgument,
         "at least one");
  // onsmall cannot take os1's place of size: nothing is rebased, not even v.
  expect(store->RebaseAll("small", "os1", false).status(), absl::StatusCode::kInvalidArgument,
         "onsmall");
  expect(store->RebaseAll("os1", "os1", false).status(), absl::StatusCode::kInvalidArgument,
         "itself");
  // v would hold app twice.
  expect(store->RebaseAll("os1", "app", false).status(), absl::StatusCode::kInvalidArgument,
         "twice");
  LD_ASSERT_OK_AND_ASSIGN(VolumeInfo v, store->GetVolume("v"));
  EXPECT_EQ(v.layers, (std::vector<std::string>{"os1", "app"}));
  ExpectReads(*store, "v", before);
}

// Merged and flattened layers read as the stacks they came from, and cost
// no stored bytes: their maps name the chunks already there.
TEST(MergeTest, ComposedBytesUnchangedAndNoDataStored) {
  for (uint64_t seed : TestSeeds({21, 22})) {
    AnnounceSeed(seed);
    ScopedTempDir dir("merge");
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store);
    Scenario s;
    Build(*store, seed, &s);
    if (HasFatalFailure()) return;
    // A second application over the first, so a merge of the two is a
    // delta that must still show os1 below it.
    LD_ASSERT_OK(store->CreateVolume("scratch2", {"os1", "app"}, std::nullopt).status());
    std::map<uint64_t, std::string> app2;
    {
      LD_ASSERT_OK_AND_ASSIGN(auto dev, store->OpenVolume("scratch2"));
      Rng rng(seed);
      for (uint64_t b = 0; b < kBlocks; ++b) {
        if (!rng.OneIn(9)) continue;
        app2[b] = PatternBlock(seed * 16 + 8, b);
        LD_ASSERT_OK(dev->Write(b * kBs, app2[b], false));
      }
      LD_ASSERT_OK(dev->Flush());
    }
    LD_ASSERT_OK(store->SealVolume("scratch2", "app2").status());
    LD_ASSERT_OK(store->CreateSnapshot("v", "s2").status());
    LD_ASSERT_OK(store->WaitForBackgroundWork());

    LD_ASSERT_OK_AND_ASSIGN(StoreStats before, store->Stats());
    // Whole stack: os1 + app.
    LD_ASSERT_OK(store->MergeLayers("os-app", {"os1", "app"}, "merged").status());
    LD_ASSERT_OK(store->CreateVolume("m1", {"os-app"}, std::nullopt).status());
    ExpectReads(*store, "m1", s.Compose({}, false));
    // Two deltas merged, used over os1.
    LD_ASSERT_OK_AND_ASSIGN(LayerInfo apps, store->MergeLayers("apps", {"app", "app2"}, ""));
    EXPECT_EQ(apps.base, (std::vector<std::string>{"os1"}));
    LD_ASSERT_OK(store->CreateVolume("m2", {"os1", "apps"}, std::nullopt).status());
    std::map<uint64_t, std::string> with_app2 = app2;
    ExpectReads(*store, "m2", s.Compose(with_app2, false));
    // A snapshot flattened: sealed heads and all, only names again.
    LD_ASSERT_OK_AND_ASSIGN(LayerInfo flat, store->FlattenVolume("flat", "v", "s2", "desk"));
    EXPECT_EQ(flat.source, "flatten:v@s2");
    ExpectReads(*store, "layer:flat", s.Compose(s.user, false));
    LD_ASSERT_OK_AND_ASSIGN(StoreStats after, store->Stats());
    EXPECT_EQ(after.chunks, before.chunks);
    EXPECT_EQ(after.store.stored_bytes, before.store.stored_bytes);
    EXPECT_EQ(after.store.unique_bytes, before.store.unique_bytes);

    // A volume re-pointed at the merged layer keeps its head.
    LD_ASSERT_OK(store->RebaseVolume("v", {"os-app"}, false).status());
    ExpectReads(*store, "v", s.Compose(s.user, false));

    // A live head's blocks are chunked once, like a seal's.
    LD_ASSERT_OK_AND_ASSIGN(auto dev, store->OpenVolume("v"));
    std::string fresh = PatternBlock(seed * 16 + 10, 3);
    LD_ASSERT_OK(dev->Write(3 * kBs, fresh, true));
    s.user[3] = fresh;
    LD_ASSERT_OK(store->FlattenVolume("flat2", "v", std::nullopt, "").status());
    ExpectReads(*store, "layer:flat2", s.Compose(s.user, false));
    ExpectReads(*dev, s.Compose(s.user, false), "v after flattening it");
    LD_ASSERT_OK_AND_ASSIGN(StoreStats last, store->Stats());
    EXPECT_EQ(last.chunks, after.chunks + 1);

    // Deleting the sources leaves the merged layers whole (their own refs).
    LD_ASSERT_OK(store->DeleteVolume("scratch2", false));
    LD_ASSERT_OK(store->DeleteLayer("app2"));
    LD_ASSERT_OK(store->WaitForBackgroundWork());
    LD_ASSERT_OK(store->Gc().status());
    ExpectReads(*store, "m2", s.Compose(with_app2, false));
    LD_ASSERT_OK_AND_ASSIGN(FsckReport fsck, store->Fsck(nullptr));
    EXPECT_TRUE(fsck.ok()) << fsck.problems.front();
  }
}

TEST(MergeTest, BadInputMakesNoLayer) {
  ScopedTempDir dir("merge-bad");
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::string a(kSize, 'a'), b(kSize / 2 + 512, 'b');
  MemDevice a_dev(a), b_dev(b);
  LD_ASSERT_OK(store->ImportLayer("a", a_dev, "a.img", nullptr).status());
  LD_ASSERT_OK(store->ImportLayer("b", b_dev, "b.img", nullptr).status());
  LD_ASSERT_OK(store->CreateVolume("v", {"a"}, std::nullopt).status());
  auto code = [](const auto& result) { return result.status().code(); };
  EXPECT_EQ(code(store->MergeLayers("m", {"a", "a"}, "")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->MergeLayers("m", {"a", "nosuch"}, "")), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(store->MergeLayers("m", {}, "")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->MergeLayers("a", {"b"}, "")), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(code(store->MergeLayers("bad name", {"a"}, "")), absl::StatusCode::kInvalidArgument);
  // b ends inside a chunk, a does not: one map cannot say that.
  auto mixed = store->MergeLayers("m", {"a", "b"}, "");
  EXPECT_EQ(code(mixed), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(mixed.status().message().find("chunk boundary"), std::string::npos) << mixed.status();
  EXPECT_EQ(code(store->MergeLayers("m", {"a"}, "two\nlines")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(store->FlattenVolume("m", "nosuch", std::nullopt, "")), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(store->FlattenVolume("m", "v", "nosnap", "")), absl::StatusCode::kNotFound);
  EXPECT_EQ(code(store->FlattenVolume("a", "v", std::nullopt, "")), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(code(store->SetLayerDescription("nosuch", "x")), absl::StatusCode::kNotFound);
  LD_ASSERT_OK_AND_ASSIGN(auto layers, store->ListLayers());
  EXPECT_EQ(layers.size(), 2u);
  LD_ASSERT_OK_AND_ASSIGN(VolumeInfo v, store->GetVolume("v"));
  EXPECT_EQ(v.depth, 2u) << "a refused flatten froze the volume's head";
}

TEST(LayerMetadataTest, RecordedAndKeptAcrossReopen) {
  ScopedTempDir dir("meta");
  std::string image(kSize, '\0');
  FillPattern(5, 0, image.data(), image.size());
  MemDevice dev(image);
  for (uint64_t g = 100; g < 300; ++g) dev.SetHole(g);  // hashed as zeroes
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store);
    LD_ASSERT_OK_AND_ASSIGN(ImportResult imported,
                            store->ImportImage("os", dev, {"os.img", {}, {}, "gold image", /*sha256=*/true},
                                               nullptr));
    EXPECT_EQ(imported.layer.content_sha256, NameChunk(dev.data()).Hex());
    // The digest is what `layer digest` finds in the image, holes and all.
    LD_ASSERT_OK_AND_ASSIGN(ImageDigest from_image, DigestImage(dev, store->chunk_size(),
                                                                /*delta=*/false, /*sha256=*/false));
    EXPECT_EQ(imported.layer.content_digest, from_image.content_digest);
    EXPECT_TRUE(IsContentDigestText(imported.layer.content_digest));
    LD_ASSERT_OK_AND_ASSIGN(ImportResult plain, store->ImportLayer("plain", dev, "os.img", nullptr));
    EXPECT_EQ(plain.layer.content_digest, imported.layer.content_digest);
    EXPECT_TRUE(plain.layer.content_sha256.empty()) << "hashed every byte without --sha256";
    EXPECT_EQ(imported.layer.description, "gold image");
    LD_ASSERT_OK(store->CreateVolume("v", {"os"}, std::nullopt).status());
    LD_ASSERT_OK_AND_ASSIGN(LayerInfo sealed, store->SealVolume("v", "app", "office"));
    EXPECT_EQ(sealed.base, (std::vector<std::string>{"os"}));
    EXPECT_EQ(sealed.source, "seal:v");
    EXPECT_TRUE(sealed.content_sha256.empty());
    EXPECT_TRUE(sealed.content_digest.empty());
    LD_ASSERT_OK(store->SetLayerDescription("app", "office 2026").status());
    EXPECT_EQ(store->SetLayerDescription("app", std::string(kMaxDescription + 1, 'x')).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  LD_ASSERT_OK_AND_ASSIGN(LayerInfo os, store->GetLayer("os"));
  EXPECT_EQ(os.description, "gold image");
  EXPECT_EQ(os.content_sha256, NameChunk(dev.data()).Hex());
  LD_ASSERT_OK_AND_ASSIGN(ImageDigest from_image,
                          DigestImage(dev, store->chunk_size(), /*delta=*/false, /*sha256=*/true));
  EXPECT_EQ(os.content_digest, from_image.content_digest);
  EXPECT_EQ(from_image.content_sha256, os.content_sha256);
  LD_ASSERT_OK_AND_ASSIGN(LayerInfo app, store->GetLayer("app"));
  EXPECT_EQ(app.description, "office 2026");
  EXPECT_EQ(app.base, (std::vector<std::string>{"os"}));
}

// A snapshot record written before rebases has no base_count: it decodes
// without one (the volume's then applies) and a set one round-trips.
TEST(SnapshotRecordTest, BaseCountIsAnOptionalTrailingField) {
  SnapshotRecord rec;
  rec.volume = "v";
  rec.name = "s";
  rec.stack = {1, 2, 3};
  auto legacy = DecodeSnapshot(EncodeSnapshot(rec));
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_FALSE(legacy->base_count.has_value());
  rec.base_count = 2;
  auto round = DecodeSnapshot(EncodeSnapshot(rec));
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->base_count, std::optional<uint32_t>(2));
  rec.base_count = 4;  // more than the stack holds
  EXPECT_EQ(DecodeSnapshot(EncodeSnapshot(rec)).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace layerdisk
