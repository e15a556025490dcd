// Comparing layers and stacks against reference models: LayerConflicts
// (byte-precise over a base), StackConflicts, DiffDevices and the
// provenance map (MapLayers), each checked against flat in-memory images
// and per-block ownership the test tracks itself.
//
// Replay a failure with LAYERDISK_TEST_SEED=<seed> (printed as "[ seed ] N").
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::AnnounceSeed;
using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::Rng;
using testing_util::ScopedTempDir;
using testing_util::TestSeeds;

constexpr uint32_t kBs = 4096;
constexpr uint64_t kBlocks = 48;
constexpr uint64_t kSize = kBlocks * kBs;

enum class Kind { kAbsent, kData, kZero };

// A layer as the test knows it: what each block holds in it.
struct ModelLayer {
  std::string name;
  std::vector<Kind> kinds = std::vector<Kind>(kBlocks, Kind::kAbsent);
  std::string image = std::string(kSize, '\0');  // bytes of its data blocks
};

// The composed image of `layers` (lowest first; the lowest is the opaque
// base, whose absent blocks are holes).
std::string Compose(const std::vector<const ModelLayer*>& layers) {
  std::string out(kSize, '\0');
  for (uint64_t b = 0; b < kBlocks; ++b) {
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
      Kind k = (*it)->kinds[b];
      if (k == Kind::kAbsent) continue;
      if (k == Kind::kData) out.replace(b * kBs, kBs, (*it)->image, b * kBs, kBs);
      break;
    }
  }
  return out;
}

std::vector<ByteRange> ChangedBlocks(const std::string& a, const std::string& b) {
  std::vector<ByteRange> out;
  for (uint64_t blk = 0; blk < kBlocks; ++blk) {
    if (a.compare(blk * kBs, kBs, b, blk * kBs, kBs) == 0) continue;
    if (!out.empty() && out.back().offset + out.back().length == blk * kBs) {
      out.back().length += kBs;
    } else {
      out.push_back({blk * kBs, kBs});
    }
  }
  return out;
}

std::string Describe(const std::vector<ByteRange>& ranges) {
  std::string s;
  for (const ByteRange& r : ranges) absl::StrAppend(&s, "[", r.offset, ",+", r.length, ") ");
  return s;
}

class LayerCompareTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Fresh(0)); }
  // A new store for each seed.
  void Fresh(uint64_t seed) {
    store_.reset();
    StoreOptions options;
    options.chunk_size = kBs;
    auto store = Store::Open(dir_.Sub(absl::StrCat("store-", seed)), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Imports an opaque base of random blocks; `holes` of them are left out.
  void ImportBase(Rng& rng, ModelLayer* base, int holes) {
    std::string data(kSize, '\0');
    FillPattern(rng.Next(), 0, data.data(), data.size());
    MemDevice dev(data, kBs);
    for (int i = 0; i < holes; ++i) dev.SetHole(rng.Uniform(kBlocks));
    for (uint64_t b = 0; b < kBlocks; ++b) {
      bool hole = dev.data().compare(b * kBs, kBs, std::string(kBs, '\0')) == 0;
      base->kinds[b] = hole ? Kind::kAbsent : Kind::kData;
    }
    base->image = dev.data();
    LD_ASSERT_OK(store_->ImportLayer(base->name, dev, "test", nullptr).status());
  }

  // Writes `len` pattern bytes at `offset` of `volume`, in the model of the
  // layer its head becomes too (`below` composes to what the volume reads
  // under that layer).
  void Write(BlockDevice& volume, ModelLayer* layer, const std::string& below,
             uint64_t offset, uint64_t len, uint64_t key) {
    len = std::min(len, kSize - offset);
    std::string bytes(len, '\0');
    FillPattern(key, offset, bytes.data(), len);
    LD_ASSERT_OK(volume.Write(offset, bytes, false));
    for (uint64_t b = offset / kBs; b <= (offset + len - 1) / kBs; ++b) {
      // A partial write reads the rest of the block through the volume.
      if (layer->kinds[b] != Kind::kData) {
        std::string now = layer->kinds[b] == Kind::kZero ? std::string(kBs, '\0')
                                                          : below.substr(b * kBs, kBs);
        layer->image.replace(b * kBs, kBs, now);
      }
      layer->kinds[b] = Kind::kData;
    }
    layer->image.replace(offset, len, bytes);
  }

  // Zeroes whole block `b`: a zero marker where something below has it,
  // nothing where nothing does.
  void Zero(BlockDevice& volume, ModelLayer* layer, bool below_has, uint64_t b) {
    LD_ASSERT_OK(volume.WriteZeroes(b * kBs, kBs, false));
    layer->kinds[b] = below_has ? Kind::kZero : Kind::kAbsent;
    layer->image.replace(b * kBs, kBs, std::string(kBs, '\0'));
  }

  // A capture volume over `base`, random writes and zeroes, sealed as
  // `layer->name`.
  void Capture(Rng& rng, const ModelLayer& base, ModelLayer* layer, int ops) {
    const std::string vol = "capture-" + layer->name;
    LD_ASSERT_OK(store_->CreateVolume(vol, {base.name}, std::nullopt).status());
    auto dev = store_->OpenVolume(vol);
    ASSERT_TRUE(dev.ok()) << dev.status();
    const std::string below = Compose({&base});
    for (int i = 0; i < ops; ++i) {
      uint64_t b = rng.Uniform(kBlocks);
      if (rng.OneIn(6)) {
        ASSERT_NO_FATAL_FAILURE(Zero(**dev, layer, base.kinds[b] != Kind::kAbsent, b));
        continue;
      }
      uint64_t off = b * kBs + rng.Uniform(kBs);
      uint64_t len = std::min<uint64_t>(1 + rng.Uniform(3 * kBs), kSize - off);
      ASSERT_NO_FATAL_FAILURE(Write(**dev, layer, below, off, len, rng.Next()));
    }
    dev->reset();
    LD_ASSERT_OK(store_->SealVolume(vol, layer->name).status());
  }

  ScopedTempDir dir_{"compare"};
  std::unique_ptr<Store> store_;
};

// Conflicts: random overlapping captures against the byte model, with the
// base given, an empty base given (an all-zero disk) and the base recorded
// when the layers were sealed.
TEST_F(LayerCompareTest, ConflictsMatchByteModel) {
  for (uint64_t seed : TestSeeds({1, 2, 3})) {
    AnnounceSeed(seed);
    ASSERT_NO_FATAL_FAILURE(Fresh(seed));
    Rng rng(seed);
    ModelLayer base{"os"}, a{"app1"}, b{"app2"};
    ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 6));
    ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &a, 30));
    ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &b, 30));
    const std::string under = Compose({&base});
    const std::string ia = Compose({&base, &a}), ib = Compose({&base, &b});
    // The base given, an empty base given (an all-zero disk), and none
    // given: the base recorded when the layers were sealed, os.
    enum class Base { kGiven, kGivenEmpty, kRecorded };
    for (Base how : {Base::kGiven, Base::kGivenEmpty, Base::kRecorded}) {
      const bool zero_base = how == Base::kGivenEmpty;
      std::vector<ByteRange> want;
      for (uint64_t i = 0; i < kSize; ++i) {
        uint64_t blk = i / kBs;
        if (a.kinds[blk] == Kind::kAbsent || b.kinds[blk] == Kind::kAbsent) continue;
        char u = zero_base ? 0 : under[i];
        if (ia[i] != u && ib[i] != u && ia[i] != ib[i]) {
          if (!want.empty() && want.back().offset + want.back().length == i) {
            ++want.back().length;
          } else {
            want.push_back({i, 1});
          }
        }
      }
      std::optional<std::vector<std::string>> given;
      if (how == Base::kGiven) given = std::vector<std::string>{"os"};
      if (how == Base::kGivenEmpty) given = std::vector<std::string>{};
      auto got = store_->LayerConflicts("app1", "app2", given);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->base_from, how == Base::kRecorded ? "metadata" : "option");
      EXPECT_EQ(got->base, zero_base ? std::vector<std::string>{}
                                     : std::vector<std::string>{"os"});
      EXPECT_EQ(Describe(got->ranges), Describe(want)) << "base case " << static_cast<int>(how);
      uint64_t total = 0;
      for (const ByteRange& r : want) total += r.length;
      EXPECT_EQ(got->conflicting_bytes, total);
    }
    store_.reset();
  }
}

// Planted cases: disjoint bytes in one block, equal bytes, overlapping
// different bytes, and a block only one layer changes.
TEST_F(LayerCompareTest, PlantedConflicts) {
  Rng rng(7);
  ModelLayer base{"os"}, a{"app1"}, b{"app2"};
  ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 0));
  const std::string below = Compose({&base});
  LD_ASSERT_OK(store_->CreateVolume("v1", {"os"}, std::nullopt).status());
  LD_ASSERT_OK(store_->CreateVolume("v2", {"os"}, std::nullopt).status());
  {
    auto v1 = store_->OpenVolume("v1");
    auto v2 = store_->OpenVolume("v2");
    ASSERT_TRUE(v1.ok() && v2.ok());
    // Block 3: disjoint bytes. Block 5: the same bytes. Block 7: [50, 60)
    // against [55, 70). Block 9: app1 alone.
    ASSERT_NO_FATAL_FAILURE(Write(**v1, &a, below, 3 * kBs + 100, 10, 11));
    ASSERT_NO_FATAL_FAILURE(Write(**v2, &b, below, 3 * kBs + 200, 10, 12));
    ASSERT_NO_FATAL_FAILURE(Write(**v1, &a, below, 5 * kBs + 10, 20, 13));
    ASSERT_NO_FATAL_FAILURE(Write(**v2, &b, below, 5 * kBs + 10, 20, 13));
    ASSERT_NO_FATAL_FAILURE(Write(**v1, &a, below, 7 * kBs + 50, 10, 14));
    ASSERT_NO_FATAL_FAILURE(Write(**v2, &b, below, 7 * kBs + 55, 15, 15));
    ASSERT_NO_FATAL_FAILURE(Write(**v1, &a, below, 9 * kBs, 100, 16));
  }
  LD_ASSERT_OK(store_->SealVolume("v1", "app1").status());
  LD_ASSERT_OK(store_->SealVolume("v2", "app2").status());
  auto got = store_->LayerConflicts("app1", "app2", std::vector<std::string>{"os"});
  ASSERT_TRUE(got.ok()) << got.status();
  // Pattern bytes of different keys may agree by chance; the model says
  // which of [55, 60) truly differ.
  std::vector<ByteRange> want;
  const std::string ia = Compose({&base, &a}), ib = Compose({&base, &b});
  for (uint64_t i = 7 * kBs + 55; i < 7 * kBs + 60; ++i) {
    if (ia[i] == below[i] || ib[i] == below[i] || ia[i] == ib[i]) continue;
    if (!want.empty() && want.back().offset + want.back().length == i) {
      ++want.back().length;
    } else {
      want.push_back({i, 1});
    }
  }
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(Describe(got->ranges), Describe(want));

  // Both map blocks 3, 5 and 7; 5 holds the same chunk in both.
  auto stack = store_->StackConflicts({"os", "app1", "app2"});
  ASSERT_TRUE(stack.ok()) << stack.status();
  ASSERT_EQ(stack->size(), 1u);
  EXPECT_EQ((*stack)[0].lower, "app1");
  EXPECT_EQ((*stack)[0].upper, "app2");
  EXPECT_EQ((*stack)[0].blocks, 2u);
  EXPECT_EQ((*stack)[0].bytes, 2u * kBs);
  auto none = store_->StackConflicts({"os", "app1"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// StackConflicts against the block model: pairs of non-opaque layers that
// both map a block with different content.
TEST_F(LayerCompareTest, StackConflictsMatchBlockModel) {
  for (uint64_t seed : TestSeeds({4, 5})) {
    AnnounceSeed(seed);
    ASSERT_NO_FATAL_FAILURE(Fresh(seed));
    Rng rng(seed);
    ModelLayer base{"os"}, l1{"l1"}, l2{"l2"}, l3{"l3"};
    ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 4));
    for (ModelLayer* l : {&l1, &l2, &l3}) ASSERT_NO_FATAL_FAILURE(Capture(rng, base, l, 20));
    auto got = store_->StackConflicts({"os", "l1", "l2", "l3"});
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<std::string> want, have;
    std::vector<const ModelLayer*> ls = {&l1, &l2, &l3};
    for (size_t i = 0; i < ls.size(); ++i) {
      for (size_t j = i + 1; j < ls.size(); ++j) {
        uint64_t n = 0;
        for (uint64_t blk = 0; blk < kBlocks; ++blk) {
          Kind ki = ls[i]->kinds[blk], kj = ls[j]->kinds[blk];
          if (ki == Kind::kAbsent || kj == Kind::kAbsent) continue;
          if (ki == Kind::kZero && kj == Kind::kZero) continue;
          if (ki == kj && ls[i]->image.compare(blk * kBs, kBs, ls[j]->image, blk * kBs, kBs) == 0)
            continue;
          ++n;
        }
        if (n) want.push_back(absl::StrCat(ls[i]->name, "<", ls[j]->name, ":", n));
      }
    }
    for (const StackConflict& c : *got)
      have.push_back(absl::StrCat(c.lower, "<", c.upper, ":", c.blocks));
    EXPECT_EQ(have, want);
    store_.reset();
  }
}

// Provenance: a stack with random per-block ownership (base, three app
// layers, two snapshot layers, the head); every extent must be credited to
// the layer the model says serves it, with the right kind.
TEST_F(LayerCompareTest, ProvenanceMatchesOwnershipModel) {
  for (uint64_t seed : TestSeeds({8, 9, 10})) {
    AnnounceSeed(seed);
    ASSERT_NO_FATAL_FAILURE(Fresh(seed));
    Rng rng(seed);
    ModelLayer base{"os"}, l1{"l1"}, l2{"l2"}, l3{"l3"}, s1{"(snapshot s1)"},
        s2{"(snapshot s2)"}, head{"(head)"};
    ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 8));
    for (ModelLayer* l : {&l1, &l2, &l3}) ASSERT_NO_FATAL_FAILURE(Capture(rng, base, l, 12));
    LD_ASSERT_OK(store_->CreateVolume("desk", {"os", "l1", "l2", "l3"}, std::nullopt).status());
    std::vector<const ModelLayer*> stack = {&base, &l1, &l2, &l3};
    auto dev = store_->OpenVolume("desk");
    ASSERT_TRUE(dev.ok());
    for (ModelLayer* top : {&s1, &s2, &head}) {
      const std::string below = Compose(stack);
      for (int i = 0; i < 10; ++i) {
        uint64_t b = rng.Uniform(kBlocks);
        if (rng.OneIn(4)) {
          bool below_has = false;
          for (const ModelLayer* l : stack) below_has |= l->kinds[b] != Kind::kAbsent;
          ASSERT_NO_FATAL_FAILURE(Zero(**dev, top, below_has, b));
        } else {
          ASSERT_NO_FATAL_FAILURE(Write(**dev, top, below, b * kBs + rng.Uniform(kBs), 1 + rng.Uniform(kBs), rng.Next()));
        }
      }
      stack.push_back(top);
      if (top != &head) {
        std::string snap = top == &s1 ? "s1" : "s2";
        LD_ASSERT_OK(store_->CreateSnapshot("desk", snap).status());
        if (rng.OneIn(2)) LD_ASSERT_OK(store_->WaitForBackgroundWork());
      }
    }
    auto check = [&](const std::string& device, const std::vector<const ModelLayer*>& layers) {
      auto map = store_->MapLayers(device);
      ASSERT_TRUE(map.ok()) << map.status();
      std::vector<std::string> names;
      for (const ModelLayer* l : layers) names.push_back(l->name);
      EXPECT_EQ(map->layers, names) << device;
      uint64_t pos = 0;
      for (const LayerExtent& e : map->extents) {
        ASSERT_EQ(e.offset, pos) << device;
        pos += e.length;
        for (uint64_t blk = e.offset / kBs; blk * kBs < e.offset + e.length; ++blk) {
          uint32_t owner = 0;
          Kind kind = Kind::kAbsent;
          for (size_t i = layers.size(); i-- > 0;) {
            if (layers[i]->kinds[blk] == Kind::kAbsent) continue;
            owner = static_cast<uint32_t>(i + 1);
            kind = layers[i]->kinds[blk];
            break;
          }
          ExtentKind want = kind == Kind::kData   ? ExtentKind::kData
                            : kind == Kind::kZero ? ExtentKind::kZero
                                                  : ExtentKind::kHole;
          EXPECT_EQ(e.layer, owner) << device << " block " << blk;
          EXPECT_EQ(e.kind, want) << device << " block " << blk;
        }
      }
      EXPECT_EQ(pos, kSize) << device;
    };
    check("desk", stack);
    check("desk@s1", {&base, &l1, &l2, &l3, &s1});
    check("layer:l2", {&l2});
    dev->reset();
    store_.reset();
  }
}

// Diffs against images: layers, snapshots, a snapshot and the live volume.
// Sealed against sealed is decided by chunk names alone (nothing read).
TEST_F(LayerCompareTest, DiffsMatchImageModel) {
  for (uint64_t seed : TestSeeds({11, 12, 13})) {
    AnnounceSeed(seed);
    ASSERT_NO_FATAL_FAILURE(Fresh(seed));
    Rng rng(seed);
    ModelLayer base{"os"}, l1{"l1"}, l2{"l2"}, s1{"s1"}, s2{"s2"}, head{"head"};
    ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 5));
    ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &l1, 15));
    ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &l2, 15));
    // l2 also gets some of l1's blocks verbatim: equal chunks, no change.
    auto diff = store_->DiffDevices("layer:l1", "layer:l2");
    ASSERT_TRUE(diff.ok()) << diff.status();
    EXPECT_EQ(Describe(diff->ranges), Describe(ChangedBlocks(Compose({&l1}), Compose({&l2}))));
    EXPECT_EQ(diff->bytes_read, 0u);
    EXPECT_EQ(diff->size, kSize);

    LD_ASSERT_OK(store_->CreateVolume("desk", {"os", "l1"}, std::nullopt).status());
    std::vector<const ModelLayer*> stack = {&base, &l1};
    auto dev = store_->OpenVolume("desk");
    ASSERT_TRUE(dev.ok());
    std::map<std::string, std::string> images;
    for (ModelLayer* top : {&s1, &s2, &head}) {
      const std::string below = Compose(stack);
      for (int i = 0; i < 8; ++i) {
        uint64_t b = rng.Uniform(kBlocks);
        bool below_has = false;
        for (const ModelLayer* l : stack) below_has |= l->kinds[b] != Kind::kAbsent;
        if (rng.OneIn(4)) {
          ASSERT_NO_FATAL_FAILURE(Zero(**dev, top, below_has, b));
        } else if (rng.OneIn(5)) {
          // Rewrites a block with what it already reads: no change.
          std::string same = Compose(stack).substr(b * kBs, kBs);
          LD_ASSERT_OK((*dev)->Write(b * kBs, same, false));
          top->kinds[b] = Kind::kData;
          top->image.replace(b * kBs, kBs, same);
        } else {
          ASSERT_NO_FATAL_FAILURE(Write(**dev, top, below, b * kBs + rng.Uniform(kBs), 1 + rng.Uniform(kBs), rng.Next()));
        }
      }
      stack.push_back(top);
      images[top->name] = Compose(stack);
      if (top != &head) {
        LD_ASSERT_OK(store_->CreateSnapshot("desk", top->name).status());
        if (rng.OneIn(2)) LD_ASSERT_OK(store_->WaitForBackgroundWork());
      }
    }
    struct Case { std::string from, to, a, b; };
    for (const Case& c : {Case{"desk@s1", "desk@s2", "s1", "s2"},
                          Case{"desk@s1", "desk", "s1", "head"},
                          Case{"desk@s2", "desk", "s2", "head"},
                          Case{"desk", "desk@s1", "head", "s1"}}) {
      auto d = store_->DiffDevices(c.from, c.to);
      ASSERT_TRUE(d.ok()) << d.status();
      std::vector<ByteRange> want = ChangedBlocks(images[c.a], images[c.b]);
      EXPECT_EQ(Describe(d->ranges), Describe(want)) << c.from << " vs " << c.to;
      uint64_t total = 0;
      for (const ByteRange& r : want) total += r.length;
      EXPECT_EQ(d->changed_bytes, total);
    }
    auto same = store_->DiffDevices("desk@s2", "desk@s2");
    ASSERT_TRUE(same.ok());
    EXPECT_TRUE(same->ranges.empty());
    EXPECT_EQ(same->bytes_read, 0u);
    dev->reset();
    store_.reset();
  }
}

// The recorded base is used only while it means something: not when one of
// its layers is deleted, nor when one compared layer is the other's base.
TEST_F(LayerCompareTest, UnusableRecordedBaseIsRefused) {
  Rng rng(5);
  ModelLayer base{"os"}, a{"app1"}, b{"app2"}, c{"app3"};
  ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 0));
  ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &a, 3));
  ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &b, 3));
  // app3 captured over os and app1: its base holds app1.
  LD_ASSERT_OK(store_->CreateVolume("stacked", {"os", "app1"}, std::nullopt).status());
  LD_ASSERT_OK(store_->SealVolume("stacked", "app3").status());
  EXPECT_TRUE(absl::IsFailedPrecondition(
      store_->LayerConflicts("app1", "app3", std::nullopt).status()));
  // Given explicitly, the same pair compares.
  LD_ASSERT_OK(store_->LayerConflicts("app1", "app3", std::vector<std::string>{"os"}).status());
  // Delete os (nothing references it any more): app1's recorded base is gone.
  for (const char* v : {"capture-app1", "capture-app2", "stacked"})
    LD_ASSERT_OK(store_->DeleteVolume(v, false));
  LD_ASSERT_OK(store_->DeleteLayer("app3"));
  LD_ASSERT_OK(store_->DeleteLayer("os"));
  absl::Status gone = store_->LayerConflicts("app1", "app2", std::nullopt).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(gone)) << gone;
  EXPECT_NE(gone.message().find("deleted"), std::string::npos) << gone;
}

TEST_F(LayerCompareTest, BadInputIsRefused) {
  Rng rng(3);
  ModelLayer base{"os"}, a{"app1"};
  ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 0));
  ASSERT_NO_FATAL_FAILURE(Capture(rng, base, &a, 3));
  using V = std::vector<std::string>;
  EXPECT_TRUE(absl::IsNotFound(store_->LayerConflicts("app1", "nosuch", std::nullopt).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->LayerConflicts("app1", "app1", std::nullopt).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->LayerConflicts("app1", "os", V{"os"}).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->LayerConflicts("app1", "os", V{"gone"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->LayerConflicts("app1", "os", V{"bad name!"}).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->StackConflicts({"os", "nosuch"}).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->DiffDevices("layer:os", "layer:nosuch").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->DiffDevices("capture-app1@none", "capture-app1").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->MapLayers("nosuch").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->MapLayers("capture-app1@nosnap").status()));
}

// Delta layers record their parent: with no --base their chain is the base.
TEST_F(LayerCompareTest, RecordedParentIsTheBase) {
  Rng rng(21);
  ModelLayer base{"os"};
  ASSERT_NO_FATAL_FAILURE(ImportBase(rng, &base, 0));
  std::string d1 = base.image, d2 = base.image;
  FillPattern(1, 0, d1.data() + 2 * kBs + 10, 20);
  FillPattern(2, 0, d2.data() + 2 * kBs + 20, 20);
  for (auto [name, data] : {std::pair{"d1", &d1}, std::pair{"d2", &d2}}) {
    MemDevice dev(*data, kBs);
    LD_ASSERT_OK(store_->ImportImage(name, dev, ImportOptions{"test", "os", {}}, nullptr).status());
  }
  auto got = store_->LayerConflicts("d1", "d2", std::nullopt);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->base_from, "metadata");
  EXPECT_EQ(got->base, std::vector<std::string>{"os"});
  // Over the real base only [20, 30) of block 2 is changed by both.
  for (const ByteRange& r : got->ranges) {
    EXPECT_GE(r.offset, 2 * kBs + 20);
    EXPECT_LE(r.offset + r.length, 2 * kBs + 30);
  }
  EXPECT_FALSE(got->ranges.empty());
  // A delta over another parent: the bases disagree.
  MemDevice dev(d1, kBs);
  LD_ASSERT_OK(store_->ImportImage("d3", dev, ImportOptions{"test", "d1", {}}, nullptr).status());
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->LayerConflicts("d3", "d2", std::nullopt).status()));
}

}  // namespace
}  // namespace layerdisk
