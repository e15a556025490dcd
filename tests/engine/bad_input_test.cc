// Bad input gets a clear error and leaves stored data intact (DESIGN.md,
// "Errors, not crashes"). Only the public API and the status codes store.h
// and block_device.h promise; nothing here knows the on-disk format.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using absl::StatusCode;
using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::ScopedTempDir;

constexpr uint64_t kMiB = 1 << 20;

const std::vector<std::string>& BadNames() {
  static const auto* names = new std::vector<std::string>{
      "",        "/",        "a/b",      "a@b",   "a:b",
      ".hidden", "-dash",    "a b",      "..",    ".",
      "a\nb",    "caf\xc3\xa9", std::string(129, 'x'), std::string("a\0b", 3),
      "a\\b",    "*"};
  return *names;
}

TEST(ValidateNameTest, AcceptsTheDocumentedAlphabet) {
  for (const std::string& name :
       {std::string("a"), std::string("A-b_c.d"), std::string("0start"),
        std::string("x.") , std::string(128, 'z'), std::string("a-")}) {
    EXPECT_TRUE(ValidateName("volume", name).ok()) << "'" << name << "'";
  }
}

TEST(ValidateNameTest, RejectsEverythingElse) {
  for (const std::string& name : BadNames()) {
    absl::Status st = ValidateName("volume", name);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument)
        << "'" << name << "' (" << name.size() << " chars): " << st;
  }
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenStore();
    if (HasFatalFailure()) return;
    layer_data_.assign(kMiB, '\0');
    FillPattern(5, 0, layer_data_.data(), layer_data_.size());
    MemDevice source(layer_data_);
    auto r = store_->ImportLayer("base", source, "memory", nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    auto v = store_->CreateVolume("vol", {"base"}, std::nullopt);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(v->size, kMiB);
  }

  void OpenStore() {
    auto s = Store::Open(dir_.path(), options_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(s).value();
  }

  // The volume still reads as the layer it was created on.
  void ExpectVolumeIntact(const std::string& name = "vol") {
    auto dev = store_->OpenVolume(name);
    ASSERT_TRUE(dev.ok()) << dev.status();
    std::string got((*dev)->size(), '\0');
    ASSERT_TRUE((*dev)->Read(0, absl::MakeSpan(got)).ok());
    EXPECT_TRUE(got == layer_data_) << testing_util::FirstDifference(
        layer_data_.data(), got.data(), got.size(), 0);
  }

  std::vector<std::string> VolumeNames() {
    std::vector<std::string> out;
    auto list = store_->ListVolumes();
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok())
      for (const auto& v : *list) out.push_back(v.name);
    return out;
  }

  ScopedTempDir dir_{"badinput"};
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  std::string layer_data_;
};

TEST_F(BadInputTest, InvalidNamesAreRefusedEverywhere) {
  MemDevice source(std::string(64 * 1024, 'x'));
  for (const std::string& bad : BadNames()) {
    SCOPED_TRACE("name '" + bad + "'");
    EXPECT_EQ(store_->CreateVolume(bad, {"base"}, std::nullopt).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->ImportLayer(bad, source, "memory", nullptr).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->CreateSnapshot("vol", bad).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->CloneVolume("vol", std::nullopt, bad).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->SealVolume("vol", bad).status().code(),
              StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(VolumeNames(), std::vector<std::string>{"vol"});
  auto layers = store_->ListLayers();
  ASSERT_TRUE(layers.ok()) << layers.status();
  for (const auto& l : *layers)
    EXPECT_TRUE(l.name.empty() || l.name == "base") << "left behind: " << l.name;
  auto snaps = store_->ListSnapshots("vol");
  ASSERT_TRUE(snaps.ok());
  EXPECT_TRUE(snaps->empty());
  ExpectVolumeIntact();
}

TEST_F(BadInputTest, BadSizes) {
  EXPECT_EQ(store_->CreateVolume("zero", {"base"}, 0).status().code(),
            StatusCode::kInvalidArgument);
  // No layer to take the size from.
  EXPECT_EQ(store_->CreateVolume("nosize", {}, std::nullopt).status().code(),
            StatusCode::kInvalidArgument);
  // So large that byte offsets overflow.
  EXPECT_EQ(store_->CreateVolume("huge", {}, UINT64_MAX).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->CreateVolume("huge2", {"base"}, UINT64_MAX - 511).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateVolume("huge3", {}, kMaxVolumeSize + 512)
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  // The documented maximum itself works, to its last byte.
  auto max = store_->CreateVolume("max", {"base"}, kMaxVolumeSize);
  ASSERT_TRUE(max.ok()) << max.status();
  {
    auto dev = store_->OpenVolume("max");
    ASSERT_TRUE(dev.ok()) << dev.status();
    std::string data(4096, 'm'), got(4096, '\0');
    LD_ASSERT_OK((*dev)->Write(kMaxVolumeSize - 4096, data, true));
    LD_ASSERT_OK((*dev)->Read(kMaxVolumeSize - 4096, absl::MakeSpan(got)));
    EXPECT_EQ(got, data);
    LD_ASSERT_OK((*dev)->Read(kMiB, absl::MakeSpan(got)));  // past the layer
    EXPECT_EQ(got, std::string(4096, '\0'));
  }
  // store.h does not require a multiple of 512: either refused, or every byte
  // of it works.
  auto odd = store_->CreateVolume("odd", {}, 1000);
  std::cout << "CreateVolume(size=1000): " << odd.status() << std::endl;
  if (!odd.ok()) {
    EXPECT_EQ(odd.status().code(), StatusCode::kInvalidArgument);
  } else {
    EXPECT_EQ(odd->size, 1000u);
    auto dev = store_->OpenVolume("odd");
    ASSERT_TRUE(dev.ok()) << dev.status();
    ASSERT_EQ((*dev)->size(), 1000u);
    std::string data(1000, '\0');
    FillPattern(9, 0, data.data(), data.size());
    ASSERT_TRUE((*dev)->Write(0, data, true).ok());
    std::string got(1000, '\0');
    ASSERT_TRUE((*dev)->Read(0, absl::MakeSpan(got)).ok());
    EXPECT_TRUE(got == data);
    EXPECT_EQ((*dev)->Read(999, absl::MakeSpan(got.data(), 2)).code(),
              StatusCode::kInvalidArgument);
  }
  for (const char* name : {"zero", "nosize", "huge", "huge2", "huge3"})
    EXPECT_EQ(store_->GetVolume(name).status().code(), StatusCode::kNotFound)
        << name << " was left behind";
  ExpectVolumeIntact();
}

TEST_F(BadInputTest, BadChunkSizes) {
  for (uint32_t bad : {0u, 512u, 1000u, 2048u, 3000u, 4097u, 12288u, 2u << 20}) {
    ScopedTempDir other("chunk");
    StoreOptions o;
    o.chunk_size = bad;
    auto s = Store::Open(other.path(), o);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument)
        << "chunk_size " << bad << ": " << s.status();
  }
  // chunk_size is used only at creation: reopening with another keeps it.
  store_.reset();
  options_.chunk_size = 65536;
  OpenStore();
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->chunk_size(), 4096u);
  ExpectVolumeIntact();
}

TEST_F(BadInputTest, MissingObjectsAreNotFound) {
  MemDevice source(std::string(4096, 'x'));
  auto code = [](const auto& s) { return s.code(); };
  EXPECT_EQ(code(store_->GetLayer("nope").status()), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->OpenLayer("nope").status()), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->DeleteLayer("nope")), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->GetVolume("nope").status()), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->OpenVolume("nope").status()), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->DeleteVolume("nope", false)), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->DeleteVolume("nope", true)), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->SealVolume("nope", "l2").status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->CloneVolume("nope", std::nullopt, "c").status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->CloneVolume("vol", "nosnap", "c").status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->CreateVolume("v2", {"base", "nope"}, std::nullopt)
                     .status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->CreateSnapshot("nope", "s").status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->ListSnapshots("nope").status()), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->OpenSnapshot("vol", "nope").status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->OpenSnapshot("nope", "nope").status()),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->RollbackSnapshot("vol", "nope", true)),
            StatusCode::kNotFound);
  EXPECT_EQ(code(store_->DeleteSnapshot("vol", "nope", false)), StatusCode::kNotFound);
  EXPECT_EQ(code(store_->DeleteSnapshot("nope", "nope", false)), StatusCode::kNotFound);
  // Nothing was created on the way.
  EXPECT_EQ(VolumeNames(), std::vector<std::string>{"vol"});
  EXPECT_EQ(code(store_->GetLayer("l2").status()), StatusCode::kNotFound);
  ExpectVolumeIntact();
}

TEST_F(BadInputTest, DuplicateNamesAreAlreadyExists) {
  MemDevice source(std::string(4096, 'x'));
  EXPECT_EQ(store_->ImportLayer("base", source, "m", nullptr).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateVolume("vol", {"base"}, std::nullopt).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CloneVolume("vol", std::nullopt, "vol").status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->SealVolume("vol", "base").status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(store_->CreateSnapshot("vol", "s1").ok());
  EXPECT_EQ(store_->CreateSnapshot("vol", "s1").status().code(),
            StatusCode::kAlreadyExists);
  auto snaps = store_->ListSnapshots("vol");
  ASSERT_TRUE(snaps.ok());
  EXPECT_EQ(snaps->size(), 1u);
  // The layer named "base" is still the original.
  auto layer = store_->OpenLayer("base");
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->size(), kMiB);
  ExpectVolumeIntact();
}

TEST_F(BadInputTest, OutOfRangeIsInvalidArgument) {
  auto dev_or = store_->OpenVolume("vol");
  ASSERT_TRUE(dev_or.ok()) << dev_or.status();
  auto dev = std::move(dev_or).value();
  const uint64_t size = dev->size();
  std::string buf(4096, 'q');
  auto span = [&](size_t n) { return absl::MakeSpan(buf.data(), n); };
  auto cspan = [&](size_t n) { return absl::MakeConstSpan(buf.data(), n); };
  std::vector<std::pair<std::string, absl::Status>> cases = {
      {"read at end", dev->Read(size, span(1))},
      {"read across end", dev->Read(size - 1, span(2))},
      {"read far", dev->Read(size * 4, span(512))},
      {"read wraps", dev->Read(UINT64_MAX - 100, span(512))},
      {"write at end", dev->Write(size, cspan(1), false)},
      {"write across end", dev->Write(size - 512, cspan(1024), false)},
      {"write wraps", dev->Write(UINT64_MAX - 100, cspan(512), false)},
      {"zeroes across end", dev->WriteZeroes(size - 512, 1024, false)},
      {"zeroes wraps", dev->WriteZeroes(512, UINT64_MAX - 100, false)},
      {"trim past end", dev->Trim(size + 512, 512, false)},
      {"trim wraps", dev->Trim(UINT64_MAX - 511, 1024, false)},
      {"map across end", dev->Map(size - 512, 1024).status()},
  };
  for (const auto& [what, st] : cases)
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what << ": " << st;
  ExpectVolumeIntact();
  // The same checks on read-only devices.
  auto layer = store_->OpenLayer("base");
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ((*layer)->Read(kMiB, span(1)).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->CreateSnapshot("vol", "s").ok());
  auto snap = store_->OpenSnapshot("vol", "s");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ((*snap)->Read(kMiB - 10, span(11)).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(BadInputTest, SnapshotsAndLayersAreReadOnly) {
  ASSERT_TRUE(store_->CreateSnapshot("vol", "s").ok());
  auto snap = store_->OpenSnapshot("vol", "s");
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto layer = store_->OpenLayer("base");
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::string buf(4096, 'w');
  for (auto* dev : {snap->get(), layer->get()}) {
    EXPECT_TRUE(dev->read_only());
    EXPECT_EQ(dev->Write(0, buf, false).code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(dev->Write(0, buf, true).code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(dev->Write(7, absl::MakeConstSpan(buf.data(), 3), false).code(),
              StatusCode::kPermissionDenied);
    EXPECT_EQ(dev->WriteZeroes(0, 4096, false).code(),
              StatusCode::kPermissionDenied);
    EXPECT_EQ(dev->Trim(0, 4096, false).code(), StatusCode::kPermissionDenied);
    std::string got(kMiB, '\0');
    ASSERT_TRUE(dev->Read(0, absl::MakeSpan(got)).ok());
    EXPECT_TRUE(got == layer_data_);
  }
  ExpectVolumeIntact();
}

TEST_F(BadInputTest, LayerInUseCannotBeDeleted) {
  ASSERT_TRUE(store_->CloneVolume("vol", std::nullopt, "clone").ok());
  EXPECT_EQ(store_->DeleteLayer("base").code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->DeleteVolume("vol", false).ok());
  // The clone still uses it.
  EXPECT_EQ(store_->DeleteLayer("base").code(),
            StatusCode::kFailedPrecondition);
  ExpectVolumeIntact("clone");
  // A sealed layer another volume is built on is in use too.
  auto sealed = store_->SealVolume("clone", "sealed");
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  ASSERT_TRUE(store_->CreateVolume("onsealed", {"base", "sealed"}, kMiB).ok());
  EXPECT_EQ(store_->DeleteLayer("sealed").code(),
            StatusCode::kFailedPrecondition);
  ExpectVolumeIntact("onsealed");
  ASSERT_TRUE(store_->DeleteVolume("onsealed", false).ok());
  EXPECT_TRUE(store_->DeleteLayer("sealed").ok());
  ASSERT_TRUE(store_->DeleteVolume("clone", false).ok());
  EXPECT_TRUE(store_->DeleteLayer("base").ok());
  EXPECT_EQ(store_->GetLayer("base").status().code(), StatusCode::kNotFound);
  auto report = store_->Fsck(nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
}

TEST_F(BadInputTest, OpenVolumeIsRefusedDeleteAndRollbackUnlessForced) {
  ASSERT_TRUE(store_->CreateSnapshot("vol", "s").ok());
  auto dev_or = store_->OpenVolume("vol");
  ASSERT_TRUE(dev_or.ok());
  auto dev = std::move(dev_or).value();
  // Every open returns the same object.
  auto again = store_->OpenVolume("vol");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), dev.get());
  again->reset();

  std::string data(4096, 'n');
  ASSERT_TRUE(dev->Write(0, data, false).ok());
  EXPECT_EQ(store_->RollbackSnapshot("vol", "s", false).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->DeleteVolume("vol", false).code(),
            StatusCode::kFailedPrecondition);
  std::string got(4096, '\0');
  ASSERT_TRUE(dev->Read(0, absl::MakeSpan(got)).ok());
  EXPECT_EQ(got, data) << "a refused rollback changed the volume";

  ASSERT_TRUE(store_->RollbackSnapshot("vol", "s", true).ok());
  auto fresh = store_->OpenVolume("vol");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Read(0, absl::MakeSpan(got)).ok());
  EXPECT_EQ(got, layer_data_.substr(0, 4096)) << "rollback did not roll back";
  fresh->reset();

  ASSERT_TRUE(store_->DeleteVolume("vol", true).ok());
  // The forced-out handle no longer reaches the store.
  absl::Status st = dev->Write(0, data, false);
  EXPECT_FALSE(st.ok()) << "write through a handle of a deleted volume";
  std::cout << "write after forced delete: " << st << std::endl;
  EXPECT_EQ(store_->GetVolume("vol").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ListSnapshots("vol").status().code(), StatusCode::kNotFound);
}

TEST_F(BadInputTest, SecondOpenOfTheSameDirIsUnavailable) {
  auto second = Store::Open(dir_.path(), options_);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable)
      << second.status();
  ExpectVolumeIntact();
}

// A source that fails halfway: the import fails and leaves nothing behind.
class FailingDevice final : public BlockDevice {
 public:
  explicit FailingDevice(uint64_t fail_at) : fail_at_(fail_at) {}
  uint64_t size() const override { return 4 * kMiB; }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    if (offset + out.size() > fail_at_) return absl::DataLossError("bad sector");
    FillPattern(77, offset, out.data(), out.size());
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override {
    return absl::PermissionDeniedError("ro");
  }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override {
    return absl::PermissionDeniedError("ro");
  }
  absl::Status Trim(uint64_t, uint64_t, bool) override {
    return absl::PermissionDeniedError("ro");
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset,
                                                uint64_t length) override {
    return std::vector<DeviceExtent>{{offset, length, false, false}};
  }

 private:
  const uint64_t fail_at_;
};

TEST_F(BadInputTest, FailedImportLeavesNothingBehind) {
  auto stats_before = store_->Stats();
  ASSERT_TRUE(stats_before.ok()) << stats_before.status();
  FailingDevice bad(3 * kMiB);
  auto r = store_->ImportLayer("broken", bad, "failing", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status();
  EXPECT_EQ(store_->GetLayer("broken").status().code(), StatusCode::kNotFound);
  auto layers = store_->ListLayers();
  ASSERT_TRUE(layers.ok());
  EXPECT_EQ(layers->size(), 1u);
  // The name is free again and a good import under it works.
  FailingDevice good(UINT64_MAX);
  auto ok = store_->ImportLayer("broken", good, "good", nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto dev = store_->OpenLayer("broken");
  ASSERT_TRUE(dev.ok());
  std::string got(4 * kMiB, '\0'), want(4 * kMiB, '\0');
  ASSERT_TRUE((*dev)->Read(0, absl::MakeSpan(got)).ok());
  FillPattern(77, 0, want.data(), want.size());
  EXPECT_TRUE(got == want);
  // The chunks of the failed attempt do not linger once GC runs.
  ASSERT_TRUE(store_->DeleteLayer("broken").ok());
  ASSERT_TRUE(store_->Gc().ok());
  auto stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->chunks, stats_before->chunks)
      << "chunks of a failed import remain after GC";
  auto report = store_->Fsck(nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
}

void WriteJunk(const std::string& path, size_t bytes, uint64_t key) {
  std::string junk(bytes, '\0');
  FillPattern(key, 0, junk.data(), junk.size());
  std::ofstream(path, std::ios::binary) << junk;
}

TEST(JunkStoreDirTest, DirectoryOfJunkIsAnErrorOrAWorkingStore) {
  ScopedTempDir dir("junk");
  WriteJunk(dir.Sub("CURRENT"), 100, 1);
  WriteJunk(dir.Sub("MANIFEST-000001"), 5000, 2);
  WriteJunk(dir.Sub("random.bin"), 12345, 3);
  std::filesystem::create_directory(dir.Sub("heads"));
  WriteJunk(dir.Sub("heads/junk"), 4096, 4);
  StoreOptions no_create;
  no_create.create_if_missing = false;
  auto s = Store::Open(dir.path(), no_create);
  std::cout << "Open(junk dir, create_if_missing=false): " << s.status()
            << std::endl;
  EXPECT_FALSE(s.ok()) << "a directory of junk opened as an existing store";
  s = Store::Open(dir.path(), StoreOptions{});
  std::cout << "Open(junk dir, create_if_missing=true): " << s.status()
            << std::endl;
  if (s.ok()) {  // then it must be a working store
    auto& store = *s;
    ASSERT_TRUE(store->CreateVolume("v", {}, kMiB).ok());
    auto dev = store->OpenVolume("v");
    ASSERT_TRUE(dev.ok());
    std::string data(8192, 'd'), got(8192, '\0');
    ASSERT_TRUE((*dev)->Write(4096, data, true).ok());
    ASSERT_TRUE((*dev)->Read(4096, absl::MakeSpan(got)).ok());
    EXPECT_EQ(got, data);
  }
}

TEST(JunkStoreDirTest, NotADirectoryOrMissing) {
  ScopedTempDir dir("notdir");
  WriteJunk(dir.Sub("file"), 10, 1);
  EXPECT_FALSE(Store::Open(dir.Sub("file"), StoreOptions{}).ok());
  StoreOptions no_create;
  no_create.create_if_missing = false;
  auto s = Store::Open(dir.Sub("missing"), no_create);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("missing")))
      << "create_if_missing=false created the store";
}

TEST_F(BadInputTest, StrayFilesInAStoreDoNotBreakIt) {
  ASSERT_TRUE(store_->CreateSnapshot("vol", "s").ok());
  {
    auto dev = store_->OpenVolume("vol");
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE((*dev)->Write(0, std::string(4096, 'z'), true).ok());
  }
  store_.reset();
  // A stray file in the store directory and in each directory below it, as a
  // backup tool or an editor might leave.
  int n = 0;
  WriteJunk(dir_.Sub("stray.txt"), 777, 1);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path()))
    if (e.is_directory())
      WriteJunk(e.path().string() + "/stray-" + std::to_string(n++) + ".txt",
                333, 2);
  OpenStore();
  ASSERT_NE(store_, nullptr);
  auto dev = store_->OpenVolume("vol");
  ASSERT_TRUE(dev.ok()) << dev.status();
  std::string got(kMiB, '\0');
  ASSERT_TRUE((*dev)->Read(0, absl::MakeSpan(got)).ok());
  std::string want = layer_data_;
  std::memset(want.data(), 'z', 4096);
  EXPECT_TRUE(got == want);
  auto snap = store_->OpenSnapshot("vol", "s");
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_TRUE((*snap)->Read(0, absl::MakeSpan(got)).ok());
  EXPECT_TRUE(got == layer_data_);
  auto report = store_->Fsck(nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  std::cout << "fsck with stray files: "
            << (report->ok() ? "ok" : absl::StrJoin(report->problems, "; "))
            << std::endl;
}

}  // namespace
}  // namespace layerdisk
