// ChunkBatch commits that bypass RocksDB's WAL (CommitLog::kUnlogged, used by
// imports) and the commit-time shortcut for chunks found stored since the last
// GC. A "crash" closes the database without flushing its memtables: what only
// an unlogged commit wrote is lost, what a logged commit wrote is replayed.
#include <memory>
#include <string>
#include <vector>

#include "dedupe/chunk_store.h"
#include "dedupe/refcount_merge.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

class UnloggedCommitTest : public ::testing::Test {
 protected:
  UnloggedCommitTest() : dir_("unlogged") { Open(); }
  ~UnloggedCommitTest() override { Crash(); }

  void Open() {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.atomic_flush = true;
    // Closing must not flush: that is what makes Crash() lose memtables.
    options.avoid_flush_during_shutdown = true;
    rocksdb::ColumnFamilyOptions chunks;
    chunks.enable_blob_files = true;
    chunks.min_blob_size = 512;
    rocksdb::ColumnFamilyOptions refs;
    refs.merge_operator = NewRefCountMergeOperator();
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"chunks", chunks},
        {"refs", refs}};
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, dir_.path(), families, &handles_, &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    store_ = std::make_unique<ChunkStore>(db, NewRocksDbChunkBytes(db, handles_[1]),
                                          handles_[2], 1 << 20, handles_);
  }

  // Closes without flushing memtables, as a killed process leaves the store.
  void Crash() {
    store_.reset();
    if (!db_) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    ASSERT_TRUE(db_->Close().ok());
    db_.reset();
  }

  void Reopen() {
    Crash();
    Open();
  }

  int64_t Refs(const ChunkName& name) {
    auto r = store_->Lookup(name);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->has_value() ? (*r)->refs : -1000;
  }

  bool ReadsAs(const ChunkName& name, const std::string& want) {
    std::string got(want.size(), '\0');
    absl::Status s = store_->Read(name, absl::MakeSpan(got));
    return s.ok() && got == want;
  }

  static std::string Block(char fill) {
    std::string b(4096, fill);
    b[7] = 'x';
    return b;
  }

  testing_util::ScopedTempDir dir_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<ChunkStore> store_;
};

TEST_F(UnloggedCommitTest, StoreSupportsUnloggedCommits) {
  EXPECT_TRUE(store_->SupportsUnloggedCommits());
  ChunkBatch batch(store_.get(), CommitLog::kUnlogged);
  EXPECT_EQ(batch.log(), CommitLog::kUnlogged);
  // Unlogged commits cannot be synced: durability comes from MakeDurable.
  batch.AddData(Block('a'));
  EXPECT_FALSE(batch.Commit(/*sync=*/true).ok());
}

TEST_F(UnloggedCommitTest, CrashLosesUnloggedCommitsWhole) {
  const std::string a = Block('a');
  ChunkName name;
  {
    ChunkBatch batch(store_.get(), CommitLog::kUnlogged);
    name = batch.AddData(a);
    ASSERT_TRUE(batch.Commit(false).ok());
    EXPECT_EQ(Refs(name), 1);
    EXPECT_TRUE(ReadsAs(name, a));
  }
  Reopen();
  // Neither the record nor its count survives: no count without its record.
  EXPECT_EQ(Refs(name), -1000);
  auto present = store_->Contains({name});
  ASSERT_TRUE(present.ok());
  EXPECT_FALSE((*present)[0]);
}

TEST_F(UnloggedCommitTest, MakeDurableKeepsThemAndLaterCommitsAreLogged) {
  const std::string a = Block('a'), b = Block('b');
  ChunkName na, nb;
  {
    ChunkBatch batch(store_.get(), CommitLog::kUnlogged);
    na = batch.AddData(a);
    ASSERT_TRUE(batch.Commit(false).ok());
    ASSERT_TRUE(batch.MakeDurable().ok());
    EXPECT_EQ(batch.log(), CommitLog::kLogged);
    nb = batch.AddData(b);
    ASSERT_TRUE(batch.Commit(true).ok());
  }
  Reopen();
  EXPECT_EQ(Refs(na), 1);
  EXPECT_TRUE(ReadsAs(na, a));
  EXPECT_EQ(Refs(nb), 1);
  EXPECT_TRUE(ReadsAs(nb, b));
}

// The hazard unlogged commits bring: a logged writer references a chunk
// whose record only an unlogged commit stored. It must store the record
// again, or a crash leaves a durable count naming a lost record.
TEST_F(UnloggedCommitTest, LoggedCommitStoresAgainWhatAnUnloggedOneStored) {
  const std::string a = Block('a'), c = Block('c');
  ChunkName na, nc;
  ChunkBatch import(store_.get(), CommitLog::kUnlogged);
  na = import.AddData(a);
  nc = import.AddData(c);
  ASSERT_TRUE(import.Commit(false).ok());
  {
    // By bytes (as a seal does) and by name only (as a merge does).
    ChunkBatch logged(store_.get());
    EXPECT_EQ(logged.AddData(a), na);
    logged.AddRef(nc);
    ASSERT_TRUE(logged.Commit(true).ok());
    EXPECT_EQ(logged.new_chunks(), 0u);  // the import stored them
  }
  EXPECT_EQ(Refs(na), 2);
  Reopen();
  EXPECT_EQ(Refs(na), 1);
  EXPECT_TRUE(ReadsAs(na, a));
  EXPECT_EQ(Refs(nc), 1);
  EXPECT_TRUE(ReadsAs(nc, c));
  auto lengths = store_->Lookup(na);
  ASSERT_TRUE(lengths.ok() && lengths->has_value());
  EXPECT_EQ((*lengths)->raw_length, 4096u);
  EXPECT_GT((*lengths)->stored_length, 0u);
}

// Once the unlogged writer made its commits durable, logged writers need not
// store its chunks again (nothing of them can be lost any more).
TEST_F(UnloggedCommitTest, AfterMakeDurableNoChunkIsStoredAgain) {
  const std::string a = Block('a');
  ChunkBatch import(store_.get(), CommitLog::kUnlogged);
  ChunkName na = import.AddData(a);
  ASSERT_TRUE(import.Commit(false).ok());
  ASSERT_TRUE(import.MakeDurable().ok());
  ChunkBatch logged(store_.get());
  logged.AddData(a);
  ASSERT_TRUE(logged.Commit(true).ok());
  Reopen();
  EXPECT_EQ(Refs(na), 2);
  EXPECT_TRUE(ReadsAs(na, a));
}

// A chunk prepared as stored is not looked up again at commit unless GC has
// deleted chunks since; then it is, and stored again from its bytes.
TEST_F(UnloggedCommitTest, ChunkCollectedAfterPrepareIsStoredAgain) {
  const std::string a = Block('a');
  ChunkName na;
  {
    ChunkBatch batch(store_.get());
    na = batch.AddData(a);
    ASSERT_TRUE(batch.Commit(true).ok());
    batch.DropRef(na);
    ASSERT_TRUE(batch.Commit(true).ok());
  }
  const uint64_t generation = store_->gc_generation();
  PreparedChunk prepared = store_->Prepare(na, a, /*stored=*/true, generation);
  auto gc = store_->CollectGarbage();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->chunks_removed, 1u);
  EXPECT_NE(store_->gc_generation(), generation);
  ChunkBatch batch(store_.get());
  batch.AddPrepared(std::move(prepared));
  ASSERT_TRUE(batch.Commit(true).ok());
  EXPECT_EQ(batch.new_chunks(), 1u);
  Reopen();
  EXPECT_EQ(Refs(na), 1);
  EXPECT_TRUE(ReadsAs(na, a));
}

}  // namespace
}  // namespace layerdisk
