// FaultInjectionEnv: what a simulated power cut undoes and keeps, and what a
// full disk refuses. The engine's crash tests are only as good as this.
#include "common/fault_injection_env.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "common/env.h"
#include "gtest/gtest.h"

namespace layerdisk {
namespace {

using absl::StatusCode;

class FaultInjectionEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir();
    if (tmpl.empty() || tmpl.back() != '/') tmpl += '/';
    tmpl += "layerdisk-fienv-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) { return dir_ + "/" + name; }

  // What the file holds on disk, read through the base Env.
  std::string OnDisk(const std::string& name, size_t len) {
    auto f = Env::Default()->OpenRW(Path(name), false);
    std::string out(len, '?');
    if (!f.ok()) {
      ADD_FAILURE() << f.status();
      return out;
    }
    EXPECT_TRUE((*f)->ReadAt(0, absl::MakeSpan(out)).ok());
    return out;
  }

  std::unique_ptr<RandomRWFile> Open(const std::string& name) {
    auto f = env_.OpenRW(Path(name), true);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  std::string dir_;
  FaultInjectionEnv env_{Env::Default()};
};

TEST_F(FaultInjectionEnvTest, UnsyncedWritesAreUndoneNewestFirst) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, std::string(8, 'A')).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(2, std::string(4, 'B')).ok());
  ASSERT_TRUE(f->WriteAt(4, std::string(4, 'C')).ok());  // overlaps B
  ASSERT_TRUE(f->WriteAt(8, std::string(4, 'D')).ok());  // extends the file
  EXPECT_EQ(OnDisk("a", 12), "AABBCCCCDDDD");
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 12), std::string("AAAAAAAA") + std::string(4, '\0'));
}

TEST_F(FaultInjectionEnvTest, SyncedWritesSurvive) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, "hello").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 5), "hello");
  // A second drop with nothing new changes nothing.
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 5), "hello");
}

TEST_F(FaultInjectionEnvTest, SyncCoversOnlyItsOwnFile) {
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a->WriteAt(0, "aaaa").ok());
  ASSERT_TRUE(b->WriteAt(0, "bbbb").ok());
  ASSERT_TRUE(a->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 4), "aaaa");
  EXPECT_EQ(OnDisk("b", 4), std::string(4, '\0'));
}

TEST_F(FaultInjectionEnvTest, SyncThroughAnotherHandleOfTheSameFileCounts) {
  auto a1 = Open("a");
  auto a2 = Open("a");
  ASSERT_TRUE(a1->WriteAt(0, "1111").ok());
  ASSERT_TRUE(a2->Sync().ok());  // fdatasync syncs the file, not the fd
  ASSERT_TRUE(a1->WriteAt(4, "2222").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 8), std::string("1111") + std::string(4, '\0'));
}

TEST_F(FaultInjectionEnvTest, PunchHoleIsUndoneUnlessSynced) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, std::string(8192, 'x')).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->PunchHole(0, 4096).ok());
  std::string zeros(4096, '\0');
  EXPECT_EQ(OnDisk("a", 4096), zeros);
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 8192), std::string(8192, 'x'));
  ASSERT_TRUE(f->PunchHole(4096, 4096).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 8192), std::string(4096, 'x') + zeros);
}

TEST_F(FaultInjectionEnvTest, PowerCutFailsEveryChangeUntilDrop) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, "keep").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(0, "lose").ok());
  env_.SetActive(false);
  EXPECT_EQ(f->WriteAt(0, "nope").code(), StatusCode::kUnavailable);
  EXPECT_EQ(f->PunchHole(0, 4).code(), StatusCode::kUnavailable);
  EXPECT_EQ(f->Sync().code(), StatusCode::kUnavailable);
  EXPECT_EQ(env_.SyncDir(dir_).code(), StatusCode::kUnavailable);
  EXPECT_EQ(env_.DeleteFile(Path("a")).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(env_.FileExists(Path("a")));
  // Reads still work: the process is alive, only the disk is gone.
  std::string got(4, '\0');
  ASSERT_TRUE(f->ReadAt(0, absl::MakeSpan(got)).ok());
  EXPECT_EQ(got, "lose");
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 4), "keep");
  // Reactivated.
  EXPECT_TRUE(f->WriteAt(0, "more").ok());
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_EQ(OnDisk("a", 4), "more");
}

TEST_F(FaultInjectionEnvTest, FullDiskRefusesWritesOnly) {
  auto f = Open("a");
  ASSERT_TRUE(f->WriteAt(0, std::string(8192, 'x')).ok());
  env_.SetNoSpace(true);
  absl::Status st = f->WriteAt(0, "y");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(f->WriteAt(100000, "y").code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->PunchHole(0, 4096).ok());  // freeing space works
  EXPECT_EQ(OnDisk("a", 1), std::string(1, '\0'));
  env_.SetNoSpace(false);
  EXPECT_TRUE(f->WriteAt(0, "y").ok());
  EXPECT_EQ(OnDisk("a", 1), "y");
}

TEST_F(FaultInjectionEnvTest, DeletedFileIsForgotten) {
  {
    auto f = Open("a");
    ASSERT_TRUE(f->WriteAt(0, "data").ok());
  }
  ASSERT_TRUE(env_.DeleteFile(Path("a")).ok());
  EXPECT_FALSE(env_.FileExists(Path("a")));
  // Dropping must not resurrect or fail on the deleted file.
  EXPECT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_FALSE(env_.FileExists(Path("a")));
  // A new file under the same name starts with a clean record.
  auto g = Open("a");
  ASSERT_TRUE(g->WriteAt(0, "new!").ok());
  ASSERT_TRUE(g->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(OnDisk("a", 4), "new!");
}

TEST_F(FaultInjectionEnvTest, PassesThroughDirectoryOperations) {
  ASSERT_TRUE(env_.CreateDirIfMissing(Path("sub")).ok());
  ASSERT_TRUE(env_.CreateDirIfMissing(Path("sub")).ok());
  auto f = env_.OpenRW(Path("sub/x"), true);
  ASSERT_TRUE(f.ok());
  auto list = env_.ListDir(Path("sub"));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, std::vector<std::string>{"x"});
  EXPECT_TRUE(env_.SyncDir(Path("sub")).ok());
  auto missing = env_.OpenRW(Path("nope"), false);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(IOErrorTest, MapsErrnoToCodes) {
  EXPECT_EQ(IOError("write", "/x", ENOSPC).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(IOError("open", "/x", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(IOError("read", "/x", EIO).code(), StatusCode::kDataLoss);
  absl::Status st = IOError("open", "/some/path", EACCES);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("/some/path"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("open"), absl::string_view::npos) << st;
}

TEST(PosixEnvTest, ReadPastEndIsZeroes) {
  std::string tmpl = ::testing::TempDir();
  if (tmpl.back() != '/') tmpl += '/';
  tmpl += "layerdisk-posix-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  auto f = Env::Default()->OpenRW(tmpl + "/f", true);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, "abc").ok());
  std::string got(6, '?');
  ASSERT_TRUE((*f)->ReadAt(1, absl::MakeSpan(got)).ok());
  EXPECT_EQ(got, std::string("bc") + std::string(4, '\0'));
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace layerdisk
