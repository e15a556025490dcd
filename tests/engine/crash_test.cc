// Crash consistency under a simulated power cut (FaultInjectionEnv) and a
// full disk.
//
// Durability contract (DESIGN.md): every write acknowledged before a
// completed flush, and every FUA write, survives; after restart each block
// reads as its last durable content or a later acknowledged write, never
// anything else. The test tracks, per 512-byte sector, the id of its last
// durable content and the ids of every later acknowledged write, and after
// each power cut requires every sector to match one of them.
//
// Replay with LAYERDISK_TEST_SEED=<seed>.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/env.h"
#include "common/fault_injection_env.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::AnnounceSeed;
using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::Mix;
using testing_util::Rng;
using testing_util::ScopedTempDir;

constexpr uint64_t kSector = 512;
constexpr uint32_t kZeroId = 0;  // content: zeroes (WriteZeroes, Trim)
constexpr uint32_t kBaseId = 1;  // content: the imported base layer

#define RETURN_IF_FATAL(stmt)                       \
  do {                                              \
    stmt;                                           \
    if (::testing::Test::HasFatalFailure()) return; \
  } while (0)

struct SectorHistory {
  uint32_t durable = kBaseId;
  std::vector<uint32_t> later;  // acknowledged since, oldest first
};

class CrashWorkload {
 public:
  CrashWorkload(uint64_t seed, int rounds)
      : seed_(seed), rounds_(rounds), rng_(seed), dir_("crash"),
        fault_env_(Env::Default()) {
    options_.env = &fault_env_;
    options_.background_sealing = rng_.OneIn(2);
  }

  void Run() {
    const uint64_t size = rng_.Range(512, 4096) * 4096;  // 2 .. 16 MiB
    sectors_.assign(size / kSector, SectorHistory{});
    RETURN_IF_FATAL(MakeBase(size));
    for (round_ = 0; round_ < rounds_; ++round_) {
      RETURN_IF_FATAL(OpenStore());
      if (round_ == 0) {
        MemDevice dev(base_, 4096);
        for (uint64_t g = 0; g < base_holes_.size(); ++g)
          if (base_holes_[g]) dev.SetHole(g);
        auto imp = store_->ImportLayer("base", dev, "memory:base", nullptr);
        ASSERT_TRUE(imp.ok()) << imp.status() << Context();
        auto vol = store_->CreateVolume("vol", {"base"}, std::nullopt);
        ASSERT_TRUE(vol.ok()) << vol.status() << Context();
        ASSERT_EQ(vol->size, size);
      } else {
        RETURN_IF_FATAL(VerifyAfterCrash());
      }
      RETURN_IF_FATAL(WorkUntilPowerCut());
    }
    RETURN_IF_FATAL(OpenStore());
    RETURN_IF_FATAL(VerifyAfterCrash());
    store_.reset();
  }

 private:
  void MakeBase(uint64_t size) {
    base_.assign(size, '\0');
    base_holes_.assign(size / 4096, false);
    const uint64_t key = rng_.Next();
    for (uint64_t g = 0; g < base_holes_.size(); ++g) {
      if (rng_.OneIn(3)) {
        base_holes_[g] = true;
      } else if (!rng_.OneIn(6)) {
        FillPattern(key, g * 4096, base_.data() + g * 4096, 4096);
      }
    }
  }

  void OpenStore() {
    auto s = Store::Open(dir_.path(), options_);
    ASSERT_TRUE(s.ok()) << "Store::Open after power cut: " << s.status()
                        << Context();
    store_ = std::move(s).value();
  }

  void Fill(uint32_t id, uint64_t sector, char* out) const {
    if (id == kZeroId) {
      std::memset(out, 0, kSector);
    } else if (id == kBaseId) {
      std::memcpy(out, base_.data() + sector * kSector, kSector);
    } else {
      FillPattern(Mix(seed_, id), sector * kSector, out, kSector);
    }
  }

  // --- The workload --------------------------------------------------------
  void WorkUntilPowerCut() {
    auto dev_or = store_->OpenVolume("vol");
    ASSERT_TRUE(dev_or.ok()) << dev_or.status() << Context();
    std::shared_ptr<BlockDevice> dev = std::move(dev_or).value();
    const int ops = static_cast<int>(rng_.Range(1, 80));
    for (int i = 0; i < ops; ++i) RETURN_IF_FATAL(Op(dev, /*after_cut=*/false));
    history_.push_back(absl::StrFormat("round %d: power cut after %d ops",
                                       round_, ops));
    fault_env_.SetActive(false);
    // A few requests after the cut: whatever they report is believed.
    const int after = static_cast<int>(rng_.Uniform(4));
    for (int i = 0; i < after; ++i) RETURN_IF_FATAL(Op(dev, /*after_cut=*/true));
    dev.reset();
    store_.reset();  // its flush fails: expected
    absl::Status st = fault_env_.DropUnsyncedData();
    ASSERT_TRUE(st.ok()) << st;
  }

  void Op(std::shared_ptr<BlockDevice>& dev_ptr, bool after_cut) {
    BlockDevice& dev = *dev_ptr;
    const uint64_t nsec = sectors_.size();
    uint64_t dice = rng_.Uniform(100);
    if (dice < 60) {
      uint64_t count = rng_.OneIn(2) ? rng_.Range(1, 16) : rng_.Range(1, 128);
      count = std::min(count, nsec);
      uint64_t first = rng_.Uniform(nsec - count + 1);
      uint32_t id = next_id_++;
      bool fua = rng_.OneIn(6);
      std::string data(count * kSector, '\0');
      for (uint64_t i = 0; i < count; ++i)
        Fill(id, first + i, data.data() + i * kSector);
      absl::Status st = dev.Write(first * kSector, data, fua);
      history_.push_back(absl::StrFormat(
          "round %d: write id=%d sectors [%d, +%d) fua=%d -> %s", round_, id,
          first, count, fua, st.ToString()));
      if (!after_cut) ASSERT_TRUE(st.ok()) << st << Context();
      if (st.ok()) Acknowledge(first, count, id, fua);
    } else if (dice < 75) {
      uint64_t count = std::min<uint64_t>(rng_.Range(1, 256), nsec);
      uint64_t first = rng_.Uniform(nsec - count + 1);
      bool trim = rng_.OneIn(2), fua = rng_.OneIn(6);
      absl::Status st = trim ? dev.Trim(first * kSector, count * kSector, fua)
                             : dev.WriteZeroes(first * kSector,
                                               count * kSector, fua);
      history_.push_back(absl::StrFormat(
          "round %d: %s sectors [%d, +%d) fua=%d -> %s", round_,
          trim ? "trim" : "zeroes", first, count, fua, st.ToString()));
      if (!after_cut) ASSERT_TRUE(st.ok()) << st << Context();
      if (st.ok()) Acknowledge(first, count, kZeroId, fua);
    } else if (dice < 92) {
      absl::Status st = dev.Flush();
      history_.push_back(
          absl::StrFormat("round %d: flush -> %s", round_, st.ToString()));
      if (!after_cut) ASSERT_TRUE(st.ok()) << st << Context();
      if (st.ok()) MakeAllDurable();
    } else if (!after_cut) {
      if (!snapshots_.empty() && rng_.OneIn(3)) {
        RETURN_IF_FATAL(Rollback(dev_ptr));
      } else {
        RETURN_IF_FATAL(Snapshot());
      }
    }
  }

  // A rollback is durable when it returns: the volume reads exactly as the
  // snapshot did, whatever was written since.
  void Rollback(std::shared_ptr<BlockDevice>& dev) {
    auto it = snapshots_.begin();
    std::advance(it, rng_.Uniform(snapshots_.size()));
    const std::string name = it->first;
    bool release = rng_.OneIn(2);
    if (release) dev.reset();
    absl::Status st = store_->RollbackSnapshot("vol", name, /*force=*/!release);
    history_.push_back(absl::StrFormat("round %d: rollback to %s (force %d) -> %s",
                                       round_, name, !release, st.ToString()));
    ASSERT_TRUE(st.ok()) << st << Context();
    const std::vector<uint32_t>& ids = snapshots_[name];
    for (size_t i = 0; i < sectors_.size(); ++i) {
      sectors_[i].durable = ids[i];
      sectors_[i].later.clear();
    }
    // Snapshots newer than the target may go (store.h leaves it open).
    auto list = store_->ListSnapshots("vol");
    ASSERT_TRUE(list.ok()) << list.status() << Context();
    std::set<std::string> listed;
    for (const auto& sn : *list) listed.insert(sn.name);
    for (auto s = snapshots_.begin(); s != snapshots_.end();) {
      if (listed.count(s->first)) { ++s; continue; }
      ASSERT_GT(s->first, name) << "rollback removed older snapshot "
                                << s->first << Context();
      s = snapshots_.erase(s);
    }
    auto reopened = store_->OpenVolume("vol");
    ASSERT_TRUE(reopened.ok()) << reopened.status() << Context();
    dev = std::move(reopened).value();
  }

  void Acknowledge(uint64_t first, uint64_t count, uint32_t id, bool fua) {
    for (uint64_t s = first; s < first + count; ++s) {
      if (fua) {
        sectors_[s].durable = id;
        sectors_[s].later.clear();
      } else {
        sectors_[s].later.push_back(id);
      }
    }
  }

  void MakeAllDurable() {
    for (auto& s : sectors_) {
      if (!s.later.empty()) {
        s.durable = s.later.back();
        s.later.clear();
      }
    }
  }

  void Snapshot() {
    if (snapshots_.size() >= 3) {
      auto oldest = snapshots_.begin();
      absl::Status st = store_->DeleteSnapshot("vol", oldest->first, false);
      history_.push_back(absl::StrFormat("round %d: delete snapshot %s -> %s",
                                         round_, oldest->first,
                                         st.ToString()));
      ASSERT_TRUE(st.ok()) << st << Context();
      snapshots_.erase(oldest);
      return;
    }
    std::string name = absl::StrFormat("snap%06d", next_snap_++);
    auto info = store_->CreateSnapshot("vol", name);
    history_.push_back(absl::StrFormat("round %d: snapshot %s -> %s", round_,
                                       name, info.status().ToString()));
    ASSERT_TRUE(info.ok()) << info.status() << Context();
    MakeAllDurable();  // a snapshot flushes the volume
    std::vector<uint32_t> ids(sectors_.size());
    for (size_t i = 0; i < sectors_.size(); ++i) ids[i] = sectors_[i].durable;
    snapshots_[name] = std::move(ids);
  }

  // --- Verification --------------------------------------------------------
  void VerifyAfterCrash() {
    auto report = store_->Fsck(nullptr);
    ASSERT_TRUE(report.ok()) << report.status() << Context();
    ASSERT_TRUE(report->ok()) << "fsck after power cut:\n  "
                              << absl::StrJoin(report->problems, "\n  ")
                              << Context();
    auto dev_or = store_->OpenVolume("vol");
    ASSERT_TRUE(dev_or.ok()) << dev_or.status() << Context();
    auto dev = std::move(dev_or).value();
    std::string image(sectors_.size() * kSector, '\0');
    absl::Status st = dev->Read(0, absl::MakeSpan(image));
    ASSERT_TRUE(st.ok()) << st << Context();
    std::string want(kSector, '\0');
    int bad = 0;
    std::string first_bad;
    for (uint64_t s = 0; s < sectors_.size(); ++s) {
      const char* got = image.data() + s * kSector;
      SectorHistory& h = sectors_[s];
      std::optional<uint32_t> match;
      Fill(h.durable, s, want.data());
      if (std::memcmp(got, want.data(), kSector) == 0) match = h.durable;
      for (auto it = h.later.rbegin(); !match && it != h.later.rend(); ++it) {
        Fill(*it, s, want.data());
        if (std::memcmp(got, want.data(), kSector) == 0) match = *it;
      }
      if (!match) {
        if (bad++ == 0) first_bad = DescribeBadSector(s, got);
        continue;
      }
      // What survived is what is on disk now: the new durable content.
      h.durable = *match;
      h.later.clear();
    }
    ASSERT_EQ(bad, 0) << bad << " sectors read as neither their last durable "
                      << "content nor a later acknowledged write; first: "
                      << first_bad << Context();
    RETURN_IF_FATAL(VerifySnapshots());
    // Sealing what the crash left frozen must not change what anything reads.
    if (rng_.OneIn(2)) {
      absl::Status wait = store_->WaitForBackgroundWork();
      ASSERT_TRUE(wait.ok()) << "WaitForBackgroundWork after power cut: "
                             << wait << Context();
      RETURN_IF_FATAL(VerifySnapshots());
      std::string again(image.size(), '\0');
      st = dev->Read(0, absl::MakeSpan(again));
      ASSERT_TRUE(st.ok()) << st << Context();
      ASSERT_TRUE(again == image)
          << "the volume changed when frozen heads were sealed after the "
          << "power cut: "
          << testing_util::FirstDifference(image.data(), again.data(),
                                           image.size(), 0)
          << Context();
    }
  }

  std::string DescribeBadSector(uint64_t s, const char* got) const {
    const SectorHistory& h = sectors_[s];
    std::string what = "unknown bytes";
    std::string buf(kSector, '\0');
    bool zero = std::all_of(got, got + kSector, [](char c) { return c == 0; });
    if (zero) what = "zeroes";
    Fill(kBaseId, s, buf.data());
    if (std::memcmp(got, buf.data(), kSector) == 0) what = "base layer content";
    for (uint32_t id = 2; id < next_id_ && what == "unknown bytes"; ++id) {
      Fill(id, s, buf.data());
      if (std::memcmp(got, buf.data(), kSector) == 0)
        what = absl::StrCat("content of write id ", id);
    }
    return absl::StrFormat(
        "sector %d (byte %d, 4K block %d): durable id %d, later ids [%s], "
        "reads as %s",
        s, s * kSector, s * kSector / 4096, h.durable,
        absl::StrJoin(h.later, ","), what);
  }

  void VerifySnapshots() {
    auto list = store_->ListSnapshots("vol");
    ASSERT_TRUE(list.ok()) << list.status() << Context();
    std::vector<std::string> got, want;
    for (const auto& s : *list) got.push_back(s.name);
    for (const auto& [name, ids] : snapshots_) want.push_back(name);
    ASSERT_EQ(got, want) << "snapshots after power cut" << Context();
    std::string want_sector(kSector, '\0');
    for (const auto& [name, ids] : snapshots_) {
      auto snap = store_->OpenSnapshot("vol", name);
      ASSERT_TRUE(snap.ok()) << snap.status() << Context();
      std::string image(ids.size() * kSector, '\0');
      absl::Status st = (*snap)->Read(0, absl::MakeSpan(image));
      ASSERT_TRUE(st.ok()) << st << Context();
      for (uint64_t s = 0; s < ids.size(); ++s) {
        Fill(ids[s], s, want_sector.data());
        ASSERT_TRUE(std::memcmp(image.data() + s * kSector, want_sector.data(),
                                kSector) == 0)
            << "snapshot vol@" << name << " sector " << s << " (4K block "
            << s / 8 << ") should read as id " << ids[s] << Context();
      }
    }
  }

  std::string Context() const {
    std::vector<std::string> tail(
        history_.size() > 30 ? history_.end() - 30 : history_.begin(),
        history_.end());
    return absl::StrCat("\n  seed ", seed_, ", round ", round_,
                        ", background_sealing ", options_.background_sealing,
                        "; recent operations:\n    ",
                        absl::StrJoin(tail, "\n    "));
  }

  const uint64_t seed_;
  const int rounds_;
  Rng rng_;
  ScopedTempDir dir_;
  FaultInjectionEnv fault_env_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  std::string base_;
  std::vector<bool> base_holes_;
  std::vector<SectorHistory> sectors_;
  std::map<std::string, std::vector<uint32_t>> snapshots_;
  uint32_t next_id_ = 2;
  int next_snap_ = 0;
  int round_ = 0;
  std::vector<std::string> history_;
};

TEST(CrashTest, PowerCutKeepsFlushedAndFuaWrites) {
  for (uint64_t seed : testing_util::TestSeeds({11, 12, 13, 14, 15, 16})) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    AnnounceSeed(seed);
    CrashWorkload w(seed, /*rounds=*/12);
    w.Run();
    if (HasFatalFailure()) return;
  }
}

// A full disk fails writes with ResourceExhausted, leaves flushed data and
// the failed write's range intact, and the store recovers once space is back.
TEST(CrashTest, FullDisk) {
  ScopedTempDir dir("fulldisk");
  FaultInjectionEnv fault_env(Env::Default());
  StoreOptions options;
  options.env = &fault_env;
  const uint64_t size = 8 << 20;
  std::string image(size, '\0');
  {
    auto store_or = Store::Open(dir.path(), options);
    ASSERT_TRUE(store_or.ok()) << store_or.status();
    auto store = std::move(store_or).value();
    auto vol = store->CreateVolume("vol", {}, size);
    ASSERT_TRUE(vol.ok()) << vol.status();
    auto dev_or = store->OpenVolume("vol");
    ASSERT_TRUE(dev_or.ok()) << dev_or.status();
    auto dev = std::move(dev_or).value();

    // First half written and flushed.
    FillPattern(1, 0, image.data(), size / 2);
    LD_ASSERT_OK(dev->Write(0, absl::MakeConstSpan(image.data(), size / 2),
                            false));
    LD_ASSERT_OK(dev->Flush());

    fault_env.SetNoSpace(true);
    std::string data(256 << 10, '\0');
    FillPattern(2, 0, data.data(), data.size());
    // A write to new space and an overwrite of flushed space both fail.
    absl::Status st = dev->Write(size / 2 + 4096, data, false);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    st = dev->Write(8192, data, false);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    st = dev->Write(1000, absl::MakeConstSpan(data.data(), 100), true);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    // Flush with nothing new acknowledged is not an error.
    LD_EXPECT_OK(dev->Flush());
    std::string back(size, '\0');
    LD_ASSERT_OK(dev->Read(0, absl::MakeSpan(back)));
    ASSERT_TRUE(back == image)
        << "data changed by failed writes: "
        << testing_util::FirstDifference(image.data(), back.data(), size, 0);

    fault_env.SetNoSpace(false);
    LD_ASSERT_OK(dev->Write(size / 2 + 4096, data, false));
    std::memcpy(image.data() + size / 2 + 4096, data.data(), data.size());
    LD_ASSERT_OK(dev->Write(1000, absl::MakeConstSpan(data.data(), 100), true));
    std::memcpy(image.data() + 1000, data.data(), 100);
    LD_ASSERT_OK(dev->Flush());
    auto report = store->Fsck(nullptr);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
  }
  // Everything flushed survives a reopen.
  auto store_or = Store::Open(dir.path(), options);
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  auto store = std::move(store_or).value();
  auto dev = store->OpenVolume("vol");
  ASSERT_TRUE(dev.ok()) << dev.status();
  std::string back(size, '\0');
  LD_ASSERT_OK((*dev)->Read(0, absl::MakeSpan(back)));
  ASSERT_TRUE(back == image)
      << testing_util::FirstDifference(image.data(), back.data(), size, 0);
  auto report = store->Fsck(nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
}

// A full disk during a snapshot or while sealing must not lose the volume.
TEST(CrashTest, FullDiskDuringSnapshotAndSeal) {
  ScopedTempDir dir("fulldisk-snap");
  FaultInjectionEnv fault_env(Env::Default());
  StoreOptions options;
  options.env = &fault_env;
  options.background_sealing = false;
  const uint64_t size = 4 << 20;
  std::string image(size, '\0');
  auto store_or = Store::Open(dir.path(), options);
  ASSERT_TRUE(store_or.ok()) << store_or.status();
  auto store = std::move(store_or).value();
  ASSERT_TRUE(store->CreateVolume("vol", {}, size).ok());
  auto dev_or = store->OpenVolume("vol");
  ASSERT_TRUE(dev_or.ok()) << dev_or.status();
  auto dev = std::move(dev_or).value();
  FillPattern(7, 0, image.data(), size);
  LD_ASSERT_OK(dev->Write(0, image, false));

  fault_env.SetNoSpace(true);
  auto snap = store->CreateSnapshot("vol", "s1");
  std::cout << "CreateSnapshot on a full disk: " << snap.status() << std::endl;
  absl::Status wait = store->WaitForBackgroundWork();
  std::cout << "WaitForBackgroundWork on a full disk: " << wait << std::endl;
  std::string back(size, '\0');
  LD_ASSERT_OK(dev->Read(0, absl::MakeSpan(back)));
  ASSERT_TRUE(back == image)
      << testing_util::FirstDifference(image.data(), back.data(), size, 0);

  fault_env.SetNoSpace(false);
  LD_ASSERT_OK(store->WaitForBackgroundWork());
  LD_ASSERT_OK(dev->Flush());
  if (snap.ok()) {
    auto s = store->OpenSnapshot("vol", "s1");
    ASSERT_TRUE(s.ok()) << s.status();
    LD_ASSERT_OK((*s)->Read(0, absl::MakeSpan(back)));
    ASSERT_TRUE(back == image)
        << testing_util::FirstDifference(image.data(), back.data(), size, 0);
  }
  auto report = store->Fsck(nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
}

}  // namespace
}  // namespace layerdisk
