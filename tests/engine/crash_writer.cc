// crash_writer: kill9_test's victim. Opens a store, then loops until killed,
// logging on stdout (flushed line by line) what it is about to do and what
// has completed:
//
//   begin <i>            write i is about to be issued
//   flushed <i>          a Flush (or snapshot) covering writes 0..i returned OK
//   snapshot <name> <i>  CreateSnapshot returned OK after write i
//   deleted-snapshot <name>
//   begin-import <name> / imported <name> / deleted-layer <name>
//   begin-failing-import <name> / failed-import <name>   (every third import
//                        reads an image that fails after its first commits)
//   begin-seal <name> / sealed <name>
//
// Usage: crash_writer DIR MODE SEED ROUND
//   MODE: writes|snapshots|import|seal
// Exits 0 only when it runs out of iterations; 1 on any engine error.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/store.h"
#include "tests/engine/crash_workload.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using namespace crash_workload;

void Say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int Fail(const std::string& what, const absl::Status& st) {
  std::fprintf(stderr, "crash_writer: %s: %s\n", what.c_str(),
               st.ToString().c_str());
  Say("error " + what);
  return 1;
}

int RunWrites(Store& store, uint64_t seed, int round, bool snapshots) {
  auto dev_or = store.OpenVolume(kVolume);
  if (!dev_or.ok()) return Fail("open volume", dev_or.status());
  auto dev = std::move(dev_or).value();
  std::string buf;
  for (uint64_t i = 0; i < 100000000; ++i) {
    WriteOp op = OpFor(seed, i);
    Say(absl::StrFormat("begin %d", i));
    absl::Status st;
    if (op.zero) {
      st = op.trim ? dev->Trim(op.first * kSector, op.count * kSector, op.fua)
                   : dev->WriteZeroes(op.first * kSector, op.count * kSector,
                                      op.fua);
    } else {
      buf.resize(op.count * kSector);
      testing_util::FillPattern(DataKey(seed, i), op.first * kSector,
                                buf.data(), buf.size());
      st = dev->Write(op.first * kSector, buf, op.fua);
    }
    if (!st.ok()) return Fail(absl::StrFormat("write %d", i), st);
    if (snapshots && op.snapshot_after) {
      std::string name = SnapshotName(round, i);
      auto info = store.CreateSnapshot(kVolume, name);
      if (!info.ok()) return Fail("snapshot " + name, info.status());
      Say(absl::StrFormat("snapshot %s %d", name, i));
      Say(absl::StrFormat("flushed %d", i));
      auto list = store.ListSnapshots(kVolume);
      if (!list.ok()) return Fail("list snapshots", list.status());
      if (list->size() > 3) {
        std::string oldest = list->front().name;
        st = store.DeleteSnapshot(kVolume, oldest, false);
        if (!st.ok()) return Fail("delete snapshot " + oldest, st);
        Say("deleted-snapshot " + oldest);
      }
    } else if (op.flush_after) {
      st = dev->Flush();
      if (!st.ok()) return Fail(absl::StrFormat("flush %d", i), st);
      Say(absl::StrFormat("flushed %d", i));
    }
  }
  return 0;
}

// An image whose reads fail past `good` bytes, like a truncated file: its
// import commits map segments and chunks (unlogged) before it fails.
class FailingImage final : public BlockDevice {
 public:
  FailingImage(uint64_t seed, uint64_t size, uint64_t good)
      : seed_(seed), size_(size), good_(good) {}
  uint64_t size() const override { return size_; }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    if (offset + out.size() > good_) return absl::DataLossError("the image is truncated");
    testing_util::FillPattern(seed_, offset, out.data(), out.size());
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override {
    return absl::PermissionDeniedError("read-only");
  }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override {
    return absl::PermissionDeniedError("read-only");
  }
  absl::Status Trim(uint64_t, uint64_t, bool) override {
    return absl::PermissionDeniedError("read-only");
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset, uint64_t length) override {
    return std::vector<DeviceExtent>{{offset, length, false, false}};
  }

 private:
  const uint64_t seed_, size_, good_;
};

int RunFailingImport(Store& store, uint64_t seed, int round, uint64_t n) {
  // Past the import's first unlogged commits (every 32 MiB of blocks).
  constexpr uint64_t kSize = 40ull << 20, kGood = 36ull << 20;
  std::string name = absl::StrFormat("bad-%d-%d", round, n);
  FailingImage source(testing_util::Mix(seed, n), kSize, kGood);
  Say("begin-failing-import " + name);
  auto r = store.ImportLayer(name, source, "crash_writer", nullptr);
  if (r.ok()) return Fail("import " + name, absl::InternalError("a failing import succeeded"));
  Say("failed-import " + name);
  return 0;
}

int RunImports(Store& store, uint64_t seed, int round) {
  for (uint64_t n = 0; n < 1000; ++n) {
    if (n % 3 == 1 && RunFailingImport(store, seed, round, n) != 0) return 1;
    std::string name = absl::StrFormat("imp-%d-%d", round, n);
    testing_util::MemDevice source(ImportImage(seed, n));
    Say("begin-import " + name);
    auto r = store.ImportLayer(name, source, "crash_writer", nullptr);
    if (!r.ok()) return Fail("import " + name, r.status());
    Say("imported " + name);
    auto layers = store.ListLayers();
    if (!layers.ok()) return Fail("list layers", layers.status());
    int imported = 0;
    std::string oldest;
    for (const auto& l : *layers) {
      if (l.name.rfind("imp-", 0) != 0) continue;
      if (imported++ == 0) oldest = l.name;
    }
    if (imported > 3) {
      absl::Status st = store.DeleteLayer(oldest);
      if (!st.ok()) return Fail("delete layer " + oldest, st);
      Say("deleted-layer " + oldest);
    }
  }
  return 0;
}

// Seals the volume again and again (the volume does not change meanwhile).
int RunSeals(Store& store, int round) {
  for (uint64_t n = 0; n < 1000; ++n) {
    std::string name = absl::StrFormat("seal-%d-%d", round, n);
    Say("begin-seal " + name);
    auto r = store.SealVolume(kVolume, name);
    if (!r.ok()) return Fail("seal " + name, r.status());
    Say("sealed " + name);
    auto layers = store.ListLayers();
    if (!layers.ok()) return Fail("list layers", layers.status());
    int sealed = 0;
    std::string oldest;
    for (const auto& l : *layers) {
      if (l.name.rfind("seal-", 0) != 0) continue;
      if (sealed++ == 0) oldest = l.name;
    }
    if (sealed > 2) {
      absl::Status st = store.DeleteLayer(oldest);
      if (!st.ok()) return Fail("delete layer " + oldest, st);
      Say("deleted-layer " + oldest);
      if (n % 3 == 2) {
        auto gc = store.Gc();
        if (!gc.ok()) return Fail("gc", gc.status());
        Say("gc");
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace layerdisk

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DIR writes|snapshots|import SEED ROUND\n",
                 argv[0]);
    return 2;
  }
  const std::string dir = argv[1], mode = argv[2];
  const uint64_t seed = std::strtoull(argv[3], nullptr, 0);
  const int round = std::atoi(argv[4]);
  layerdisk::StoreOptions options;
  options.create_if_missing = false;
  auto store = layerdisk::Store::Open(dir, options);
  if (!store.ok()) return layerdisk::Fail("open store " + dir, store.status());
  layerdisk::Say("opened");
  if (mode == "writes") return layerdisk::RunWrites(**store, seed, round, false);
  if (mode == "snapshots")
    return layerdisk::RunWrites(**store, seed, round, true);
  if (mode == "import") return layerdisk::RunImports(**store, seed, round);
  if (mode == "seal") return layerdisk::RunSeals(**store, round);
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
