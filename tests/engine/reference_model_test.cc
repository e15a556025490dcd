// Reference-model test: a seeded random workload runs against a real Store
// and against flat in-memory images side by side, and every read of the
// store must equal the model byte for byte.
//
// The model of a volume is one std::string (its whole image); a snapshot is a
// copy of it; a clone copies it; a sealed layer + its base layers must compose
// to the image of the volume it was sealed from.
//
// Replay a failure with LAYERDISK_TEST_SEED=<seed> (printed as "[ seed ] N");
// LAYERDISK_KEEP_TEST_DIRS=1 keeps the store directory.
// LAYERDISK_TEST_ALIGNED_LAYERS=1 makes every imported layer a whole number
// of chunks.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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

constexpr uint64_t kKiB = 1024, kMiB = 1024 * 1024;

#define RETURN_IF_FATAL(stmt)                              \
  do {                                                     \
    stmt;                                                  \
    if (::testing::Test::HasFatalFailure()) return;        \
  } while (0)

struct WorkloadConfig {
  uint64_t seed = 1;
  uint32_t chunk_size = 4096;
  int ops = 400;
};

struct ModelSnapshot {
  std::string name;
  std::string image;
};

struct ModelVolume {
  std::string name;
  std::string image;                     // what the volume must read
  std::vector<std::string> base_layers;  // named layers, lowest first
  std::vector<ModelSnapshot> snapshots;  // oldest first
  std::shared_ptr<BlockDevice> dev;
};

class ReferenceWorkload {
 public:
  explicit ReferenceWorkload(const WorkloadConfig& cfg)
      : cfg_(cfg), rng_(cfg.seed), dir_("refmodel") {
    options_.chunk_size = cfg.chunk_size;
    options_.background_sealing = rng_.OneIn(2);
    options_.chunk_cache_bytes = rng_.OneIn(3) ? 0 : (8 * kMiB);
  }

  void Run() {
    Log(absl::StrFormat("config: chunk_size=%d background_sealing=%d "
                        "chunk_cache_bytes=%d",
                        cfg_.chunk_size, options_.background_sealing,
                        options_.chunk_cache_bytes));
    RETURN_IF_FATAL(OpenStore());
    RETURN_IF_FATAL(ImportBaseLayers());
    RETURN_IF_FATAL(CreateFirstVolume());
    for (op_index_ = 0; op_index_ < cfg_.ops; ++op_index_) {
      RETURN_IF_FATAL(RandomOp());
      if (op_index_ % 4 == 3) RETURN_IF_FATAL(CompareRandomRange(Pick()));
    }
    RETURN_IF_FATAL(CompareEverything("end of workload"));
    RETURN_IF_FATAL(Reopen());
    RETURN_IF_FATAL(CompareEverything("after final reopen"));
    LD_ASSERT_OK(store_->WaitForBackgroundWork());
    RETURN_IF_FATAL(CompareEverything("after final WaitForBackgroundWork"));
    RETURN_IF_FATAL(CheckFsck());
    std::vector<std::string> summary;
    for (const auto& [op, n] : counts_) summary.push_back(absl::StrCat(op, "=", n));
    std::cout << "  ops: " << absl::StrJoin(summary, " ") << std::endl;
  }

 private:
  // --- Setup ---------------------------------------------------------------
  void OpenStore() {
    auto s = Store::Open(dir_.path(), options_);
    ASSERT_TRUE(s.ok()) << s.status() << Context();
    store_ = std::move(s).value();
    ASSERT_EQ(store_->chunk_size(), cfg_.chunk_size);
  }

  // 1-3 layers of different sizes; holes, zero blocks and duplicated blocks.
  // Where an upper layer has a hole or a zero block, everything below reads
  // as zeroes too, so the composition does not depend on whether an imported
  // hole masks the layers below (store.h leaves that open).
  void ImportBaseLayers() {
    const int layers = static_cast<int>(rng_.Range(1, 3));
    // LAYERDISK_TEST_ALIGNED_LAYERS=1 keeps layer sizes on chunk boundaries,
    // to look past the known partial-last-chunk bug (see UpperLayerTail*).
    const bool aligned_layers =
        std::getenv("LAYERDISK_TEST_ALIGNED_LAYERS") != nullptr;
    const uint64_t granule = 4096;
    uint64_t largest = 0;
    std::string composite;  // what the stack reads so far
    for (int l = 0; l < layers; ++l) {
      uint64_t size = rng_.Range(256, 3072) * granule;  // 1 .. 12 MiB
      if (aligned_layers) size = size / cfg_.chunk_size * cfg_.chunk_size;
      if (rng_.OneIn(4) && !aligned_layers)
        size += 512 * rng_.Range(1, 7);  // not 4K-aligned
      std::string data(size, '\0');
      const uint64_t key = Key();
      std::vector<bool> hole((size + granule - 1) / granule, false);
      for (uint64_t g = 0; g * granule < size; ++g) {
        uint64_t off = g * granule, n = std::min(granule, size - off);
        bool below_zero = true;
        for (uint64_t i = off; i < off + n && i < composite.size(); ++i)
          if (composite[i] != 0) { below_zero = false; break; }
        uint64_t kind = rng_.Uniform(10);
        if (kind < 3 && below_zero) {
          hole[g] = true;
        } else if (kind < 4 && below_zero) {
          // all-zero data block (not a hole)
        } else if (kind < 5 && g > 0) {
          // duplicate of an earlier block: dedup must not mix them up
          uint64_t src = rng_.Uniform(g) * granule;
          std::memcpy(data.data() + off, data.data() + src, n);
          // A copy of a hole or zero block is all zero: keep it only where
          // the layers below read zero too (see above).
          bool zero = std::all_of(data.data() + off, data.data() + off + n,
                                  [](char c) { return c == 0; });
          if (zero && !below_zero) FillPattern(key, off, data.data() + off, n);
        } else {
          FillPattern(key, off, data.data() + off, n);
          if (rng_.OneIn(8)) {  // a block that is mostly zero
            std::memset(data.data() + off + 512, 0, n > 512 ? n - 512 : 0);
          }
        }
      }
      MemDevice dev(data, granule);
      for (uint64_t g = 0; g < hole.size(); ++g)
        if (hole[g]) dev.SetHole(g);
      std::string name = absl::StrCat("base", l);
      auto r = store_->ImportLayer(name, dev, absl::StrCat("memory:", name),
                                   nullptr);
      ASSERT_TRUE(r.ok()) << "ImportLayer " << name << " size " << size
                          << ": " << r.status() << Context();
      EXPECT_EQ(r->layer.size, size) << Context();
      EXPECT_TRUE(r->layer.sealed);
      Log(absl::StrFormat("import %s size=%d", name, size));
      // Compose: this layer's data covers what it maps.
      if (composite.size() < size) composite.resize(size, '\0');
      for (uint64_t g = 0; g * granule < size; ++g) {
        if (hole[g]) continue;
        uint64_t off = g * granule, n = std::min(granule, size - off);
        std::memcpy(composite.data() + off, dev.data().data() + off, n);
      }
      // The layer alone reads as its source.
      auto layer = store_->OpenLayer(name);
      ASSERT_TRUE(layer.ok()) << layer.status();
      ASSERT_EQ((*layer)->size(), size);
      EXPECT_TRUE((*layer)->read_only());
      std::string back(size, '\0');
      LD_ASSERT_OK((*layer)->Read(0, absl::MakeSpan(back)));
      ASSERT_TRUE(back == dev.data())
          << "layer " << name << " does not read as its source: "
          << FirstDifference(dev.data().data(), back.data(), size, 0)
          << Context();
      layer_names_.push_back(name);
      largest = std::max(largest, size);
    }
    base_image_ = composite;
    base_size_ = largest;
  }

  void CreateFirstVolume() {
    ModelVolume v;
    v.name = "vol0";
    v.base_layers = layer_names_;
    std::optional<uint64_t> size;
    uint64_t vol_size = base_size_;
    if (rng_.OneIn(2)) {  // thin: bigger than any layer
      vol_size = base_size_ + rng_.Range(1, 2048) * 4096;
      if (rng_.OneIn(3)) vol_size += 512 * rng_.Range(1, 7);
      size = vol_size;
    }
    auto info = store_->CreateVolume(v.name, v.base_layers, size);
    ASSERT_TRUE(info.ok()) << info.status() << Context();
    ASSERT_EQ(info->size, vol_size) << Context();
    EXPECT_EQ(info->layers, v.base_layers);
    v.image = base_image_;
    v.image.resize(vol_size, '\0');
    Log(absl::StrFormat("create %s size=%d layers=%s", v.name, vol_size,
                        absl::StrJoin(v.base_layers, ",")));
    vols_.push_back(std::move(v));
    RETURN_IF_FATAL(OpenDev(vols_.back()));
    RETURN_IF_FATAL(CompareAll(vols_.back(), "fresh volume"));
  }

  void OpenDev(ModelVolume& v) {
    auto dev = store_->OpenVolume(v.name);
    ASSERT_TRUE(dev.ok()) << "OpenVolume " << v.name << ": " << dev.status()
                          << Context();
    v.dev = std::move(dev).value();
    ASSERT_EQ(v.dev->size(), v.image.size()) << v.name << Context();
    ASSERT_FALSE(v.dev->read_only());
  }

  // --- Operations ----------------------------------------------------------
  ModelVolume& Pick() { return vols_[rng_.Uniform(vols_.size())]; }
  uint64_t Key() { return rng_.Next(); }

  void RandomOp() {
    ModelVolume& v = Pick();
    uint64_t dice = rng_.Uniform(1000);
    if (dice < 330) return AlignedWrite(v);
    if (dice < 400) return UnalignedWrite(v);
    if (dice < 450) return ZeroOrTrim(v, /*trim=*/false);
    if (dice < 500) return ZeroOrTrim(v, /*trim=*/true);
    if (dice < 620) return CompareRandomRange(v);
    if (dice < 650) return CheckMap(v);
    if (dice < 700) return FlushOp(v);
    if (dice < 750) return Snapshot(v);
    if (dice < 780) return Rollback(v);
    if (dice < 810) return DeleteSnapshot(v);
    if (dice < 850) return CompareSnapshot(v);
    if (dice < 870) return Clone(v);
    if (dice < 890) return Seal(v);
    if (dice < 920) return Reopen();
    if (dice < 960) return WaitBackground();
    return AlignedWrite(v);
  }

  void AlignedWrite(ModelVolume& v) {
    const uint64_t size = v.image.size();
    uint64_t len = 512 * rng_.Range(1, 512);  // 512 B .. 256 KiB
    if (rng_.OneIn(3)) len = 512 * rng_.Range(1, 16);
    len = std::min(len, size / 512 * 512);
    uint64_t off = 512 * rng_.Uniform((size - len) / 512 + 1);
    std::string data(len, '\0');
    FillPattern(Key(), off, data.data(), len);
    if (rng_.OneIn(10)) std::memset(data.data(), 0, len);  // an all-zero write
    if (rng_.OneIn(10) && len > 4096) {  // repeated content (dedup)
      for (uint64_t i = 4096; i + 4096 <= len; i += 4096)
        std::memcpy(data.data() + i, data.data(), 4096);
    }
    bool fua = rng_.OneIn(8);
    Log(absl::StrFormat("write %s off=%d len=%d fua=%d", v.name, off, len,
                        fua));
    absl::Status st = v.dev->Write(off, data, fua);
    ASSERT_TRUE(st.ok()) << st << Context();
    std::memcpy(v.image.data() + off, data.data(), len);
    if (rng_.OneIn(4)) RETURN_IF_FATAL(CompareRange(v, off, len, "read back"));
  }

  void UnalignedWrite(ModelVolume& v) {
    const uint64_t size = v.image.size();
    uint64_t len = rng_.Range(1, 70000);
    if (rng_.OneIn(2)) len = rng_.Range(1, 600);
    len = std::min(len, size);
    uint64_t off = rng_.Uniform(size - len + 1);
    if (rng_.OneIn(8)) off = size - len;  // touch the very end
    std::string data(len, '\0');
    FillPattern(Key(), off, data.data(), len);
    Log(absl::StrFormat("unaligned write %s off=%d len=%d", v.name, off, len));
    absl::Status st = v.dev->Write(off, data, false);
    ASSERT_TRUE(st.ok()) << st << Context();
    std::memcpy(v.image.data() + off, data.data(), len);
    if (rng_.OneIn(3)) {
      uint64_t lo = off >= 700 ? off - 700 : 0;
      uint64_t hi = std::min(size, off + len + 700);
      RETURN_IF_FATAL(CompareRange(v, lo, hi - lo, "read around"));
    }
  }

  void ZeroOrTrim(ModelVolume& v, bool trim) {
    const uint64_t size = v.image.size();
    uint64_t len, off;
    if (rng_.OneIn(4)) {  // arbitrary bytes
      len = std::min<uint64_t>(rng_.Range(1, 300000), size);
      off = rng_.Uniform(size - len + 1);
    } else {
      len = std::min<uint64_t>(512 * rng_.Range(1, 2048), size / 512 * 512);
      off = 512 * rng_.Uniform((size - len) / 512 + 1);
    }
    bool fua = rng_.OneIn(8);
    Log(absl::StrFormat("%s %s off=%d len=%d fua=%d",
                        trim ? "trim" : "write_zeroes", v.name, off, len, fua));
    absl::Status st = trim ? v.dev->Trim(off, len, fua)
                           : v.dev->WriteZeroes(off, len, fua);
    ASSERT_TRUE(st.ok()) << st << Context();
    std::memset(v.image.data() + off, 0, len);
    if (rng_.OneIn(3)) RETURN_IF_FATAL(CompareRange(v, off, len, "zeroed"));
  }

  void FlushOp(ModelVolume& v) {
    Log("flush " + v.name);
    absl::Status st = v.dev->Flush();
    ASSERT_TRUE(st.ok()) << st << Context();
  }

  void Snapshot(ModelVolume& v) {
    if (v.snapshots.size() >= 4) return DeleteSnapshot(v);
    std::string name = absl::StrCat("s", next_id_++);
    Log(absl::StrFormat("snapshot %s@%s", v.name, name));
    auto info = store_->CreateSnapshot(v.name, name);
    ASSERT_TRUE(info.ok()) << info.status() << Context();
    EXPECT_EQ(info->name, name);
    EXPECT_EQ(info->volume, v.name);
    v.snapshots.push_back({name, v.image});
    RETURN_IF_FATAL(CheckSnapshotList(v));
    if (rng_.OneIn(3)) RETURN_IF_FATAL(CompareSnapshotFull(v, v.snapshots.back()));
  }

  void Rollback(ModelVolume& v) {
    if (v.snapshots.empty()) return Snapshot(v);
    size_t idx = rng_.Uniform(v.snapshots.size());
    const std::string target = v.snapshots[idx].name;
    bool force = rng_.OneIn(2);
    Log(absl::StrFormat("rollback %s@%s force=%d", v.name, target, force));
    if (!force) v.dev.reset();  // nobody has it open: no force needed
    absl::Status st = store_->RollbackSnapshot(v.name, target, force);
    ASSERT_TRUE(st.ok()) << st << Context();
    v.image = v.snapshots[idx].image;
    v.dev.reset();
    RETURN_IF_FATAL(OpenDev(v));
    // store.h does not say what happens to snapshots newer than the target;
    // the target and every older one must remain.
    RETURN_IF_FATAL(ReconcileSnapshotsAfterRollback(v, idx));
    RETURN_IF_FATAL(CompareRandomRange(v));
  }

  void ReconcileSnapshotsAfterRollback(ModelVolume& v, size_t idx) {
    auto list = store_->ListSnapshots(v.name);
    ASSERT_TRUE(list.ok()) << list.status() << Context();
    std::vector<std::string> names;
    for (const auto& s : *list) names.push_back(s.name);
    for (size_t i = 0; i <= idx; ++i) {
      ASSERT_TRUE(std::find(names.begin(), names.end(), v.snapshots[i].name) !=
                  names.end())
          << "snapshot " << v.snapshots[i].name
          << " disappeared after rollback to " << v.snapshots[idx].name
          << "; listed: " << absl::StrJoin(names, ",") << Context();
    }
    std::vector<ModelSnapshot> kept;
    for (auto& s : v.snapshots) {
      if (std::find(names.begin(), names.end(), s.name) != names.end()) {
        kept.push_back(std::move(s));
      } else {
        Log("  (engine dropped newer snapshot " + s.name + " on rollback)");
      }
    }
    v.snapshots = std::move(kept);
    RETURN_IF_FATAL(CheckSnapshotList(v));
  }

  void DeleteSnapshot(ModelVolume& v) {
    if (v.snapshots.empty()) return;
    size_t idx = rng_.Uniform(v.snapshots.size());
    Log(absl::StrFormat("delete snapshot %s@%s", v.name,
                        v.snapshots[idx].name));
    absl::Status st = store_->DeleteSnapshot(v.name, v.snapshots[idx].name, false);
    ASSERT_TRUE(st.ok()) << st << Context();
    v.snapshots.erase(v.snapshots.begin() + idx);
    RETURN_IF_FATAL(CheckSnapshotList(v));
    // The data of a deleted snapshot merges into its neighbours: the volume
    // and the other snapshots must still read the same.
    if (rng_.OneIn(2)) RETURN_IF_FATAL(CompareRandomRange(v));
    if (!v.snapshots.empty() && rng_.OneIn(2))
      RETURN_IF_FATAL(CompareSnapshotFull(
          v, v.snapshots[rng_.Uniform(v.snapshots.size())]));
  }

  void CompareSnapshot(ModelVolume& v) {
    if (v.snapshots.empty()) return;
    const ModelSnapshot& s = v.snapshots[rng_.Uniform(v.snapshots.size())];
    auto dev = store_->OpenSnapshot(v.name, s.name);
    ASSERT_TRUE(dev.ok()) << dev.status() << Context();
    ASSERT_TRUE((*dev)->read_only());
    ASSERT_EQ((*dev)->size(), s.image.size());
    uint64_t len = std::min<uint64_t>(rng_.Range(1, 300000), s.image.size());
    uint64_t off = rng_.Uniform(s.image.size() - len + 1);
    std::string got(len, '\0');
    absl::Status st = (*dev)->Read(off, absl::MakeSpan(got));
    ASSERT_TRUE(st.ok()) << st << Context();
    ASSERT_TRUE(std::memcmp(got.data(), s.image.data() + off, len) == 0)
        << "snapshot " << v.name << "@" << s.name << " range [" << off << ", +"
        << len << "): "
        << FirstDifference(s.image.data() + off, got.data(), len, off)
        << Context();
  }

  void Clone(ModelVolume& v) {
    if (vols_.size() >= 4) return AlignedWrite(v);
    ModelVolume c;
    c.name = absl::StrCat("clone", next_id_++);
    c.base_layers = v.base_layers;
    std::optional<std::string> snap;
    if (!v.snapshots.empty() && rng_.OneIn(2)) {
      const ModelSnapshot& s = v.snapshots[rng_.Uniform(v.snapshots.size())];
      snap = s.name;
      c.image = s.image;
    } else {
      c.image = v.image;
    }
    Log(absl::StrFormat("clone %s%s -> %s", v.name,
                        snap ? "@" + *snap : std::string(), c.name));
    auto info = store_->CloneVolume(v.name, snap, c.name);
    ASSERT_TRUE(info.ok()) << info.status() << Context();
    EXPECT_EQ(info->size, c.image.size());
    vols_.push_back(std::move(c));
    // vols_ may have reallocated: `v` is no longer valid here.
    ModelVolume& nc = vols_.back();
    RETURN_IF_FATAL(OpenDev(nc));
    RETURN_IF_FATAL(CompareRandomRange(nc));
  }

  // Seals the volume's own blocks into a layer, builds a new volume on base
  // layers + that layer, and requires it to read as the source does.
  void Seal(ModelVolume& v) {
    if (vols_.size() >= 4) return FlushOp(v);
    std::string layer = absl::StrCat("sealed", next_id_++);
    Log(absl::StrFormat("seal %s -> layer %s", v.name, layer));
    auto info = store_->SealVolume(v.name, layer);
    ASSERT_TRUE(info.ok()) << info.status() << Context();
    EXPECT_EQ(info->name, layer);
    ModelVolume n;
    n.name = absl::StrCat("onseal", next_id_++);
    n.base_layers = v.base_layers;
    n.base_layers.push_back(layer);
    n.image = v.image;
    Log(absl::StrFormat("create %s layers=%s size=%d", n.name,
                        absl::StrJoin(n.base_layers, ","), n.image.size()));
    auto vi = store_->CreateVolume(n.name, n.base_layers, n.image.size());
    ASSERT_TRUE(vi.ok()) << vi.status() << Context();
    EXPECT_EQ(vi->layers, n.base_layers);
    vols_.push_back(std::move(n));
    ModelVolume& nv = vols_.back();
    RETURN_IF_FATAL(OpenDev(nv));
    RETURN_IF_FATAL(CompareAll(nv, "volume over sealed layer"));
  }

  void Reopen() {
    Log("close and reopen store");
    for (auto& v : vols_) v.dev.reset();
    store_.reset();
    RETURN_IF_FATAL(OpenStore());
    auto list = store_->ListVolumes();
    ASSERT_TRUE(list.ok()) << list.status() << Context();
    std::vector<std::string> names, want;
    for (const auto& vi : *list) names.push_back(vi.name);
    for (auto& v : vols_) want.push_back(v.name);
    std::sort(names.begin(), names.end());
    std::sort(want.begin(), want.end());
    ASSERT_EQ(names, want) << Context();
    for (auto& v : vols_) {
      RETURN_IF_FATAL(OpenDev(v));
      RETURN_IF_FATAL(CheckSnapshotList(v));
    }
    RETURN_IF_FATAL(CompareRandomRange(Pick()));
  }

  void WaitBackground() {
    Log("wait for background work");
    absl::Status st = store_->WaitForBackgroundWork();
    ASSERT_TRUE(st.ok()) << st << Context();
    auto layers = store_->ListLayers();
    ASSERT_TRUE(layers.ok()) << layers.status();
    for (const auto& l : *layers)
      EXPECT_TRUE(l.sealed) << "layer id " << l.id << " '" << l.name
                            << "' still unsealed after WaitForBackgroundWork"
                            << Context();
  }

  // --- Checks --------------------------------------------------------------
  void CompareRange(ModelVolume& v, uint64_t off, uint64_t len,
                    const char* what) {
    std::string got(len, '\0');
    absl::Status st = v.dev->Read(off, absl::MakeSpan(got));
    ASSERT_TRUE(st.ok()) << "Read " << v.name << " [" << off << ", +" << len
                         << "): " << st << Context();
    ASSERT_TRUE(std::memcmp(got.data(), v.image.data() + off, len) == 0)
        << what << ": volume " << v.name << " range [" << off << ", +" << len
        << ") differs from the model: "
        << FirstDifference(v.image.data() + off, got.data(), len, off)
        << Context();
  }

  void CompareRandomRange(ModelVolume& v) {
    const uint64_t size = v.image.size();
    uint64_t len, off;
    if (rng_.OneIn(3)) {
      len = std::min<uint64_t>(rng_.Range(1, 100000), size);
      off = rng_.Uniform(size - len + 1);
    } else {
      len = std::min<uint64_t>(512 * rng_.Range(1, 2048), size / 512 * 512);
      off = 512 * rng_.Uniform((size - len) / 512 + 1);
    }
    RETURN_IF_FATAL(CompareRange(v, off, len, "random read"));
  }

  void CompareAll(ModelVolume& v, const char* what) {
    const uint64_t step = 4 * kMiB;
    for (uint64_t off = 0; off < v.image.size(); off += step)
      RETURN_IF_FATAL(CompareRange(
          v, off, std::min(step, v.image.size() - off), what));
  }

  void CompareSnapshotFull(ModelVolume& v, const ModelSnapshot& s) {
    auto dev = store_->OpenSnapshot(v.name, s.name);
    ASSERT_TRUE(dev.ok()) << dev.status() << Context();
    ASSERT_EQ((*dev)->size(), s.image.size());
    std::string got(s.image.size(), '\0');
    absl::Status st = (*dev)->Read(0, absl::MakeSpan(got));
    ASSERT_TRUE(st.ok()) << st << Context();
    ASSERT_TRUE(got == s.image)
        << "snapshot " << v.name << "@" << s.name << " differs from the model: "
        << FirstDifference(s.image.data(), got.data(), got.size(), 0)
        << Context();
  }

  // Map() covers the range exactly, in order, coalesced; ranges it reports as
  // zero read as zeroes.
  void CheckMap(ModelVolume& v) {
    const uint64_t size = v.image.size();
    uint64_t len = std::min<uint64_t>(rng_.Range(1, 4 * kMiB), size);
    uint64_t off = rng_.Uniform(size - len + 1);
    auto map = v.dev->Map(off, len);
    ASSERT_TRUE(map.ok()) << map.status() << Context();
    uint64_t pos = off;
    for (size_t i = 0; i < map->size(); ++i) {
      const DeviceExtent& e = (*map)[i];
      ASSERT_EQ(e.offset, pos) << "Map(" << off << ", " << len
                               << ") has a gap or overlap at extent " << i
                               << Context();
      ASSERT_GT(e.length, 0u) << Context();
      if (i > 0) {
        const DeviceExtent& p = (*map)[i - 1];
        EXPECT_FALSE(p.hole == e.hole && p.zero == e.zero)
            << "Map not coalesced at " << e.offset << Context();
      }
      if (e.zero || e.hole) {
        for (uint64_t b = e.offset; b < e.offset + e.length; ++b) {
          ASSERT_EQ(v.image[b], 0)
              << "Map reports [" << e.offset << ", +" << e.length << ") as "
              << (e.hole ? "hole" : "zero") << " but the model has data at "
              << b << Context();
        }
      }
      pos += e.length;
    }
    ASSERT_EQ(pos, off + len) << "Map does not cover the range" << Context();
  }

  void CheckSnapshotList(ModelVolume& v) {
    auto list = store_->ListSnapshots(v.name);
    ASSERT_TRUE(list.ok()) << list.status() << Context();
    std::vector<std::string> got, want;
    for (const auto& s : *list) got.push_back(s.name);
    for (const auto& s : v.snapshots) want.push_back(s.name);
    ASSERT_EQ(got, want) << "ListSnapshots(" << v.name << "), oldest first"
                         << Context();
  }

  void CompareEverything(const char* what) {
    Log(std::string("compare everything: ") + what);
    for (auto& v : vols_) {
      RETURN_IF_FATAL(CompareAll(v, what));
      for (const auto& s : v.snapshots) RETURN_IF_FATAL(CompareSnapshotFull(v, s));
    }
  }

  void CheckFsck() {
    auto report = store_->Fsck(nullptr);
    ASSERT_TRUE(report.ok()) << report.status() << Context();
    ASSERT_TRUE(report->ok()) << "fsck: "
                              << absl::StrJoin(report->problems, "\n  ")
                              << Context();
  }

  // --- Diagnostics ---------------------------------------------------------
  void Log(const std::string& line) {
    counts_[line.substr(0, line.find(' '))]++;
    history_.push_back(absl::StrFormat("#%d %s", op_index_, line));
    if (history_.size() > 40) history_.pop_front();
  }
  std::string Context() const {
    return absl::StrCat("\n  seed ", cfg_.seed, ", chunk_size ",
                        cfg_.chunk_size, ", op #", op_index_,
                        "; recent operations:\n    ",
                        absl::StrJoin(history_, "\n    "));
  }

  const WorkloadConfig cfg_;
  Rng rng_;
  ScopedTempDir dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  std::vector<std::string> layer_names_;
  std::string base_image_;
  uint64_t base_size_ = 0;
  std::vector<ModelVolume> vols_;
  int next_id_ = 1;
  int op_index_ = -1;
  std::deque<std::string> history_;
  std::map<std::string, int> counts_;
};

TEST(ReferenceModelTest, RandomWorkload4K) {
  for (uint64_t seed : testing_util::TestSeeds({1, 2, 3, 4})) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    AnnounceSeed(seed);
    ReferenceWorkload w({.seed = seed, .chunk_size = 4096, .ops = 400});
    w.Run();
    if (HasFatalFailure()) return;
  }
}

TEST(ReferenceModelTest, RandomWorkload64K) {
  for (uint64_t seed : testing_util::TestSeeds({101})) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    AnnounceSeed(seed);
    ReferenceWorkload w({.seed = seed, .chunk_size = 64 * 1024, .ops = 300});
    w.Run();
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace layerdisk

namespace layerdisk {
namespace {

// An upper layer whose size is not a multiple of the chunk size must not mask
// the lower layer past its end: what a volume reads cannot depend on the
// store's dedup granularity.
void UpperLayerTailCase(uint32_t chunk_size, uint64_t upper_size) {
  ScopedTempDir dir("tail");
  StoreOptions options;
  options.chunk_size = chunk_size;
  auto store_or = Store::Open(dir.path(), options);
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  auto store = std::move(store_or).value();
  std::string lower(4 * kMiB + 512 * 1024, '\0'), upper(upper_size, '\0');
  FillPattern(1, 0, lower.data(), lower.size());
  FillPattern(2, 0, upper.data(), upper.size());
  MemDevice lower_dev(lower), upper_dev(upper);
  ASSERT_TRUE(store->ImportLayer("lower", lower_dev, "m", nullptr).ok());
  ASSERT_TRUE(store->ImportLayer("upper", upper_dev, "m", nullptr).ok());
  auto info = store->CreateVolume("v", {"lower", "upper"}, std::nullopt);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->size, lower.size());
  std::string want = lower;
  std::memcpy(want.data(), upper.data(), upper.size());
  auto dev = store->OpenVolume("v");
  ASSERT_TRUE(dev.ok()) << dev.status();
  std::string got(want.size(), '\0');
  LD_ASSERT_OK((*dev)->Read(0, absl::MakeSpan(got)));
  EXPECT_TRUE(got == want)
      << "chunk_size " << chunk_size << ", upper layer of " << upper_size
      << " bytes over a 4.5 MiB lower layer: "
      << FirstDifference(want.data(), got.data(), got.size(), 0);
}

TEST(LayerCompositionTest, UpperLayerTailDoesNotMaskLowerLayer4K) {
  UpperLayerTailCase(4096, kMiB + 512);
}
TEST(LayerCompositionTest, SmallerUpperLayerEndingOnABlock) {
  UpperLayerTailCase(4096, 728 * 4096);  // seed 19 of RandomWorkload4K
}
TEST(LayerCompositionTest, SmallerUpperLayerEndingOnAChunk64K) {
  UpperLayerTailCase(65536, 40 * 65536);
}
TEST(LayerCompositionTest, UpperLayerTailDoesNotMaskLowerLayer64K) {
  UpperLayerTailCase(65536, kMiB + 4096);
}

// An imported image is a whole disk: where it holds zeroes, a volume over it
// reads zeroes, not the layer below ("all-zero blocks are recorded as zero",
// DESIGN.md). `hole`: the zero range is a hole of the source (a sparse raw
// file's hole reads as zeroes too) rather than zero bytes.
void UpperLayerZeroesCase(bool hole) {
  ScopedTempDir dir("zeromask");
  auto store_or = Store::Open(dir.path(), StoreOptions{});
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  auto store = std::move(store_or).value();
  std::string lower(kMiB, '\0'), upper(kMiB, '\0');
  FillPattern(1, 0, lower.data(), lower.size());
  FillPattern(2, 0, upper.data(), upper.size());
  MemDevice lower_dev(lower);
  // Blocks 10..19 of the upper image are zero.
  std::memset(upper.data() + 10 * 4096, 0, 10 * 4096);
  MemDevice upper_dev(upper);
  if (hole)
    for (uint64_t g = 10; g < 20; ++g) upper_dev.SetHole(g);
  ASSERT_TRUE(store->ImportLayer("lower", lower_dev, "m", nullptr).ok());
  ASSERT_TRUE(store->ImportLayer("upper", upper_dev, "m", nullptr).ok());
  ASSERT_TRUE(store->CreateVolume("v", {"lower", "upper"}, std::nullopt).ok());
  auto dev = store->OpenVolume("v");
  ASSERT_TRUE(dev.ok()) << dev.status();
  std::string got(kMiB, '\0');
  LD_ASSERT_OK((*dev)->Read(0, absl::MakeSpan(got)));
  EXPECT_TRUE(got == upper)
      << "volume over [lower, upper] does not read as the upper image where "
      << "it is " << (hole ? "a hole" : "zero bytes") << ": "
      << FirstDifference(upper.data(), got.data(), got.size(), 0);
}

TEST(LayerCompositionTest, ImportedZeroBlocksMaskLowerLayer) {
  UpperLayerZeroesCase(/*hole=*/false);
}
TEST(LayerCompositionTest, ImportedHolesMaskLowerLayer) {
  UpperLayerZeroesCase(/*hole=*/true);
}

}  // namespace
}  // namespace layerdisk
