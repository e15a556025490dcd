// An import, or the sealing of a snapshot's head, meets the same bytes
// again: within one read buffer, in later buffers, and as chunks the store
// already holds (referenced, or garbage that gc has not collected yet). A
// repeat of a block already given to the layer's writer is neither looked
// up nor encoded again (layers/layer_writer.h, WriterNames); these tests
// check that the layer still reads back exactly and every reference count
// stays exact, also while gc runs beside the writer.
#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "engine/image_read_ahead.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::ScopedTempDir;

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kBuffers = 6;  // import buffers the image spans
constexpr uint64_t kBlocks = kBuffers * kImportBuffer / kBlock;
constexpr uint64_t kMotifs = 5;   // contents repeated all over the image
constexpr uint64_t kKept = 64;    // contents of a live layer
constexpr uint64_t kGarbage = 64; // contents of a deleted layer

std::string Block(uint64_t key, uint64_t n) {
  std::string b(kBlock, '\0');
  FillPattern(key, n * kBlock, b.data(), kBlock);
  return b;
}

// Per four blocks: a motif, a unique block, a block of the live layer and a
// block of the deleted one, so every kind repeats within each buffer and
// across buffers.
std::string Image() {
  std::string image;
  image.reserve(kBlocks * kBlock);
  for (uint64_t i = 0; i < kBlocks; ++i) {
    switch (i % 4) {
      case 0: image += Block(1, (i / 4) % kMotifs); break;
      case 1: image += Block(2, i); break;
      case 2: image += Block(3, (i / 4) % kKept); break;
      case 3: image += Block(4, (i / 4) % kGarbage); break;
    }
  }
  return image;
}

std::string Blocks(uint64_t key, uint64_t count) {
  std::string out;
  for (uint64_t n = 0; n < count; ++n) out += Block(key, n);
  return out;
}

class ImportRepeatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.background_sealing = false;
    auto store = Store::Open(dir_.path() + "/store", options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    MemDevice kept(Blocks(3, kKept)), doomed(Blocks(4, kGarbage));
    ASSERT_TRUE(store_->ImportLayer("kept", kept, "kept.img", nullptr).ok());
    ASSERT_TRUE(store_->ImportLayer("doomed", doomed, "doomed.img", nullptr).ok());
    ASSERT_TRUE(store_->DeleteLayer("doomed").ok());
    ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
  }

  void ExpectReadsBack(BlockDevice& dev, const std::string& want, const std::string& what) {
    std::string got(want.size(), '\0');
    ASSERT_TRUE(dev.Read(0, absl::MakeSpan(got)).ok());
    EXPECT_TRUE(got == want) << what << " reads back different bytes";
  }

  // Runs `work` while gc loops beside it (if `racing_gc`); returns its status.
  absl::Status WithGc(bool racing_gc, const std::function<absl::Status()>& work) {
    std::atomic<bool> working{true};
    std::thread collector([&] {
      while (racing_gc && working.load()) {
        auto gc = store_->Gc();
        EXPECT_TRUE(gc.ok()) << gc.status();
      }
    });
    absl::Status status = work();
    working = false;
    collector.join();
    return status;
  }

  void Import(const std::string& layer, const std::string& image, bool racing_gc) {
    MemDevice source(image);
    absl::StatusOr<ImportResult> imported;
    ASSERT_TRUE(WithGc(racing_gc, [&] {
                  imported = store_->ImportLayer(layer, source, "gold.img", nullptr);
                  return imported.status();
                }).ok()) << imported.status();
    // New: the motifs and the unique blocks. The garbage chunks were still
    // stored, so they are referenced again rather than stored again.
    if (!racing_gc) EXPECT_EQ(imported->new_chunks, kMotifs + kBlocks / 4);
    auto dev = store_->OpenLayer(layer);
    ASSERT_TRUE(dev.ok()) << dev.status();
    ExpectReadsBack(**dev, image, "layer " + layer);
  }

  // Writes `image` into a new volume over "kept", snapshots it and seals
  // the snapshot's head.
  void Seal(const std::string& volume, const std::string& image, bool racing_gc) {
    ASSERT_TRUE(store_->CreateVolume(volume, {"kept"}, image.size()).ok());
    {
      auto dev = store_->OpenVolume(volume);
      ASSERT_TRUE(dev.ok()) << dev.status();
      ASSERT_TRUE((*dev)->Write(0, image, /*fua=*/false).ok());
    }
    ASSERT_TRUE(store_->CreateSnapshot(volume, "snap").ok());
    absl::Status sealed = WithGc(racing_gc, [&] { return store_->WaitForBackgroundWork(); });
    ASSERT_TRUE(sealed.ok()) << sealed;
    auto snap = store_->OpenSnapshot(volume, "snap");
    ASSERT_TRUE(snap.ok()) << snap.status();
    ExpectReadsBack(**snap, image, "snapshot of " + volume);
  }

  void ExpectConsistent() {
    auto fsck = store_->Fsck(nullptr);
    ASSERT_TRUE(fsck.ok()) << fsck.status();
    for (const std::string& p : fsck->problems) ADD_FAILURE() << p;
  }

  // Every chunk of the image and of both setup layers is stored once, and
  // referenced: no new garbage.
  void ExpectStoredOnce() {
    auto stats = store_->Stats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->chunks, kMotifs + kBlocks / 4 + kKept + kGarbage);
    EXPECT_EQ(stats->unreferenced_bytes, 0u);
  }

  // Exact counts: with every layer gone, gc leaves no chunk behind.
  void ExpectNothingLeftAfterGc() {
    ASSERT_TRUE(store_->DeleteLayer("kept").ok());
    ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
    auto gc = store_->Gc();
    ASSERT_TRUE(gc.ok()) << gc.status();
    auto stats = store_->Stats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->chunks, 0u);
    ExpectConsistent();
  }

  ScopedTempDir dir_{"import_repeats"};
  std::unique_ptr<Store> store_;
};

TEST_F(ImportRepeatsTest, RepeatsAreStoredOnceAndCountedEachTime) {
  ASSERT_NO_FATAL_FAILURE(Import("gold", Image(), /*racing_gc=*/false));
  ExpectConsistent();  // every count equals the map entries naming the chunk
  ExpectStoredOnce();
  ASSERT_TRUE(store_->DeleteLayer("gold").ok());
  ExpectNothingLeftAfterGc();
}

TEST_F(ImportRepeatsTest, SealingStoresRepeatsOnceAndCountsEachTime) {
  ASSERT_NO_FATAL_FAILURE(Seal("desk", Image(), /*racing_gc=*/false));
  ExpectConsistent();
  ExpectStoredOnce();
  ASSERT_TRUE(store_->DeleteVolume("desk", /*force=*/false).ok());
  ExpectNothingLeftAfterGc();
}

// gc removes the deleted layer's chunks at some point of the import or the
// sealing: before a repeat of one is prepared, between its first sight and
// its commit, or not before the writer referenced it again. Each way the
// layer must read back and hold its chunks.
TEST_F(ImportRepeatsTest, GcRacingTheImportLosesNothing) {
  const std::string image = Image();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string name = "gold" + std::to_string(round);
    ASSERT_NO_FATAL_FAILURE(Import(name, image, /*racing_gc=*/true));
    ExpectConsistent();
    // The next round finds the deleted layer's chunks garbage again.
    ASSERT_TRUE(store_->DeleteLayer(name).ok());
    ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
  }
}

TEST_F(ImportRepeatsTest, GcRacingTheSealingLosesNothing) {
  const std::string image = Image();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string name = "desk" + std::to_string(round);
    ASSERT_NO_FATAL_FAILURE(Seal(name, image, /*racing_gc=*/true));
    ExpectConsistent();
    ASSERT_TRUE(store_->DeleteVolume(name, /*force=*/false).ok());
    ASSERT_TRUE(store_->WaitForBackgroundWork().ok());
  }
}

}  // namespace
}  // namespace layerdisk
