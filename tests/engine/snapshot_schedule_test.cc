// Snapshot schedules and the scheduler, driven by a fake clock so days of
// schedules run in milliseconds and every step is deterministic: the test
// advances the clock, then waits until the scheduler thread is asleep again
// with nothing due.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/checksum.h"
#include "common/coding.h"
#include "engine/catalog.h"
#include "engine/scheduler_clock.h"
#include "engine/snapshot_scheduler.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using absl::StatusCode;
using testing_util::ScopedTempDir;

constexpr uint64_t kHour = 3600;

// Time stands still until Advance(). WaitUntilIdle() returns once the
// sleeper (the scheduler thread) sleeps towards a deadline still ahead with
// no wake-up pending: everything due at Now() has been done.
class FakeClock final : public SchedulerClock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepUntil(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    sleeping_ = true;
    deadline_ = deadline;
    mu_.Await(absl::Condition(this, &FakeClock::SleepEnds));
    sleeping_ = false;
    woken_ = false;
  }
  void Wake() override {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void WaitUntilIdle() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &FakeClock::Idle));
  }

 private:
  bool SleepEnds() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return woken_ || now_ >= deadline_;
  }
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return sleeping_ && !SleepEnds();
  }

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Time deadline_ ABSL_GUARDED_BY(mu_);
  bool sleeping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

// 2026-01-01 00:00:00 UTC.
const absl::Time kStart = absl::FromUnixSeconds(1767225600);
uint64_t StartUnix() { return static_cast<uint64_t>(absl::ToUnixSeconds(kStart)); }

class SnapshotScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpenStore();
    if (HasFatalFailure()) return;
    auto v = store_->CreateVolume("desk", {}, 1 << 20);
    ASSERT_TRUE(v.ok()) << v.status();
  }

  void OpenStore() {
    auto s = Store::Open(dir_.path(), StoreOptions());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(s).value();
  }

  std::unique_ptr<SnapshotScheduler> NewScheduler() {
    return std::make_unique<SnapshotScheduler>(store_.get(), &clock_, [this](const std::string& l) {
      absl::MutexLock lock(&log_mu_);
      log_.push_back(l);
    });
  }

  std::vector<std::string> Log() {
    absl::MutexLock lock(&log_mu_);
    return log_;
  }

  SnapshotSchedule Schedule(uint64_t every, uint32_t keep) {
    return SnapshotSchedule{"desk", every, keep, StartUnix() + every};
  }

  // "name" for manual snapshots, "name*" for scheduled ones, oldest first.
  std::vector<std::string> Snapshots(const std::string& volume = "desk") {
    auto snaps = store_->ListSnapshots(volume);
    EXPECT_TRUE(snaps.ok()) << snaps.status();
    std::vector<std::string> out;
    if (snaps.ok())
      for (const SnapshotInfo& s : *snaps) out.push_back(s.name + (s.scheduled ? "*" : ""));
    return out;
  }

  // Writes `text` at offset 0 of the volume.
  void Stamp(const std::string& text) {
    auto dev = store_->OpenVolume("desk");
    ASSERT_TRUE(dev.ok()) << dev.status();
    std::string block(4096, '\0');
    block.replace(0, text.size(), text);
    ASSERT_TRUE((*dev)->Write(0, block, /*fua=*/true).ok());
  }

  std::string StampOf(const std::string& snapshot) {
    auto dev = store_->OpenSnapshot("desk", snapshot);
    EXPECT_TRUE(dev.ok()) << dev.status();
    if (!dev.ok()) return "";
    std::string block(4096, '\0');
    EXPECT_TRUE((*dev)->Read(0, absl::MakeSpan(block)).ok());
    return block.substr(0, block.find('\0'));
  }

  ScopedTempDir dir_{"schedule"};
  std::unique_ptr<Store> store_;
  FakeClock clock_{kStart};
  absl::Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

TEST(ScheduledSnapshotNameTest, IsUtcAndSortsByTime) {
  EXPECT_EQ(ScheduledSnapshotName(kStart + absl::Seconds(3 * kHour + 61)),
            "auto-20260101-030101");
  EXPECT_LT(ScheduledSnapshotName(kStart + absl::Hours(9)),
            ScheduledSnapshotName(kStart + absl::Hours(10)));
}

// Every 1h, keep 3, five hours: exactly the three newest scheduled
// snapshots remain, each holding what the volume held at its hour; manual
// snapshots, before and between, are untouched.
TEST_F(SnapshotScheduleTest, RetentionKeepsTheNewestScheduledAndEveryManualOne) {
  ASSERT_TRUE(store_->CreateSnapshot("desk", "manual-before").ok());
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 3)).ok());
  auto scheduler = NewScheduler();
  scheduler->Start();
  clock_.WaitUntilIdle();
  EXPECT_EQ(Snapshots(), std::vector<std::string>{"manual-before"}) << "nothing was due yet";
  for (int hour = 1; hour <= 5; ++hour) {
    Stamp(absl::StrCat("hour ", hour));
    if (hour == 3) {
      ASSERT_TRUE(store_->CreateSnapshot("desk", "manual-between").ok());
    }
    clock_.Advance(absl::Hours(1));
    clock_.WaitUntilIdle();
  }
  scheduler->Stop();
  // Sorted: a manual snapshot and a scheduled one may share a millisecond.
  std::vector<std::string> names = Snapshots();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"auto-20260101-030000*", "auto-20260101-040000*",
                                      "auto-20260101-050000*", "manual-before",
                                      "manual-between"}));
  for (int hour = 3; hour <= 5; ++hour)
    EXPECT_EQ(StampOf(absl::StrCat("auto-20260101-0", hour, "0000")), absl::StrCat("hour ", hour));
  EXPECT_EQ(StampOf("manual-between"), "hour 3");
  std::vector<std::string> log = Log();
  ASSERT_EQ(log.size(), 5u) << absl::StrJoin(log, "\n");
  EXPECT_NE(log[3].find("deleted auto-20260101-010000"), std::string::npos) << log[3];
  EXPECT_NE(log[4].find("deleted auto-20260101-020000"), std::string::npos) << log[4];
  auto schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  ASSERT_EQ(schedules->size(), 1u);
  EXPECT_EQ((*schedules)[0].next_due_unix, StartUnix() + 6 * kHour);
}

// Scheduled snapshots of a volume that a writer keeps writing are each the
// volume after some whole number of its writes: nothing torn, nothing
// lost, later snapshots later in the stream.
TEST_F(SnapshotScheduleTest, SnapshotsOfAVolumeBeingWrittenAreConsistent) {
  constexpr uint64_t kBlocks = 64, kBlock = 4096;
  constexpr int kHours = 8;
  // Write i fills block i % kBlocks with the number i + 1.
  auto fill = [](uint64_t write, char* out) {
    for (uint64_t o = 0; o < kBlock; o += 8) std::memcpy(out + o, &write, 8);
  };
  auto dev = store_->OpenVolume("desk");
  ASSERT_TRUE(dev.ok()) << dev.status();
  std::atomic<uint64_t> writes{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::string block(kBlock, '\0');
    for (uint64_t i = 0; !stop.load(); ++i) {
      fill(i + 1, block.data());
      absl::Status st = (*dev)->Write((i % kBlocks) * kBlock, block, /*fua=*/false);
      if (!st.ok()) {
        ADD_FAILURE() << "write " << i << ": " << st;
        stop.store(true);
        return;
      }
      writes.store(i + 1);
    }
  });
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, kHours)).ok());
  auto scheduler = NewScheduler();
  scheduler->Start();
  for (int hour = 1; hour <= kHours; ++hour) {
    const uint64_t before = writes.load();
    while (writes.load() < before + 100 && !stop.load()) std::this_thread::yield();
    clock_.Advance(absl::Hours(1));
    clock_.WaitUntilIdle();
  }
  stop.store(true);
  writer.join();
  scheduler->Stop();

  auto snaps = store_->ListSnapshots("desk");
  ASSERT_TRUE(snaps.ok());
  ASSERT_EQ(snaps->size(), static_cast<size_t>(kHours));
  uint64_t previous = 0;
  for (const SnapshotInfo& snap : *snaps) {
    auto view = store_->OpenSnapshot("desk", snap.name);
    ASSERT_TRUE(view.ok()) << view.status();
    std::string image(kBlocks * kBlock, '\0');
    ASSERT_TRUE((*view)->Read(0, absl::MakeSpan(image)).ok());
    // The number of writes it holds: the highest number in any block.
    uint64_t taken = 0;
    for (uint64_t b = 0; b < kBlocks; ++b) {
      uint64_t n;
      std::memcpy(&n, image.data() + b * kBlock, 8);
      taken = std::max(taken, n);
    }
    std::string want(kBlocks * kBlock, '\0');
    for (uint64_t i = taken > kBlocks ? taken - kBlocks : 0; i < taken; ++i)
      fill(i + 1, want.data() + (i % kBlocks) * kBlock);
    EXPECT_TRUE(image == want) << snap.name << " is not the volume after " << taken
                               << " writes";
    EXPECT_GT(taken, previous) << snap.name;
    previous = taken;
  }
}

// A scheduler that did not run (the server was down) for many periods takes
// one snapshot when it runs, then keeps to the original timetable; the
// schedule and the scheduled flag survive reopening the store.
TEST_F(SnapshotScheduleTest, MissedPeriodsCoalesceIntoOneSnapshot) {
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 10)).ok());
  store_.reset();  // "the server is down"
  clock_.Advance(absl::Minutes(5 * 60 + 30));
  OpenStore();
  auto scheduler = NewScheduler();
  EXPECT_EQ(scheduler->RunDue(), kStart + absl::Hours(6));
  EXPECT_EQ(Snapshots(), std::vector<std::string>{"auto-20260101-053000*"});
  EXPECT_EQ(scheduler->RunDue(), kStart + absl::Hours(6)) << "nothing more is due";
  EXPECT_EQ(Snapshots().size(), 1u);
  clock_.Advance(absl::Minutes(30));
  EXPECT_EQ(scheduler->RunDue(), kStart + absl::Hours(7));
  EXPECT_EQ(Snapshots(),
            (std::vector<std::string>{"auto-20260101-053000*", "auto-20260101-060000*"}));
  scheduler.reset();
  store_.reset();
  OpenStore();
  EXPECT_EQ(Snapshots(),
            (std::vector<std::string>{"auto-20260101-053000*", "auto-20260101-060000*"}));
  auto schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  ASSERT_EQ(schedules->size(), 1u);
  EXPECT_EQ((*schedules)[0].next_due_unix, StartUnix() + 7 * kHour);
  EXPECT_EQ((*schedules)[0].keep, 10u);
}

// A removed schedule stops: the sleeping thread is woken, finds nothing,
// and takes no more snapshots however far the clock goes.
TEST_F(SnapshotScheduleTest, RemovedScheduleStops) {
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 5)).ok());
  auto scheduler = NewScheduler();
  scheduler->Start();
  for (int i = 0; i < 2; ++i) {
    clock_.Advance(absl::Hours(1));
    clock_.WaitUntilIdle();
  }
  ASSERT_EQ(Snapshots().size(), 2u);
  ASSERT_TRUE(store_->RemoveSnapshotSchedule("desk").ok());
  scheduler->SchedulesChanged();
  clock_.WaitUntilIdle();
  clock_.Advance(absl::Hours(24));
  clock_.WaitUntilIdle();
  EXPECT_EQ(Snapshots().size(), 2u) << "its snapshots are kept, no new ones come";
  EXPECT_EQ(Log().size(), 2u);
  EXPECT_EQ(store_->RemoveSnapshotSchedule("desk").code(), StatusCode::kNotFound);
}

// A schedule set while the scheduler sleeps (with nothing to do) is acted
// on: SchedulesChanged() wakes it to look again.
TEST_F(SnapshotScheduleTest, NewScheduleWakesASleepingScheduler) {
  auto scheduler = NewScheduler();
  scheduler->Start();
  clock_.WaitUntilIdle();  // asleep with no deadline
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 2)).ok());
  scheduler->SchedulesChanged();
  clock_.WaitUntilIdle();
  clock_.Advance(absl::Hours(1));
  clock_.WaitUntilIdle();
  EXPECT_EQ(Snapshots(), std::vector<std::string>{"auto-20260101-010000*"});
}

// A failed snapshot is logged, the scheduler goes on, and the schedule is
// tried again at its next period.
TEST_F(SnapshotScheduleTest, AFailedSnapshotIsLoggedAndRetriedNextPeriod) {
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 5)).ok());
  // A manual snapshot squats the name the 01:00 snapshot would take.
  ASSERT_TRUE(store_->CreateSnapshot("desk", "auto-20260101-010000").ok());
  auto scheduler = NewScheduler();
  scheduler->Start();
  clock_.Advance(absl::Hours(1));
  clock_.WaitUntilIdle();
  std::vector<std::string> log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("failed: volume 'desk' already has a snapshot 'auto-20260101-010000'"),
            std::string::npos) << log[0];
  EXPECT_NE(log[0].find("next try at 2026-01-01 02:00:00 UTC"), std::string::npos) << log[0];
  clock_.Advance(absl::Minutes(30));  // no retry before the next period
  clock_.WaitUntilIdle();
  EXPECT_EQ(Log().size(), 1u);
  clock_.Advance(absl::Minutes(30));
  clock_.WaitUntilIdle();
  EXPECT_EQ(Snapshots(),
            (std::vector<std::string>{"auto-20260101-010000", "auto-20260101-020000*"}));
  EXPECT_EQ(Log().size(), 2u);
}

// A volume deleted under a schedule takes its schedule with it; a
// scheduled snapshot of a volume that is gone fails cleanly.
TEST_F(SnapshotScheduleTest, DeletingTheVolumeRemovesItsSchedule) {
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 5)).ok());
  auto scheduler = NewScheduler();
  ASSERT_TRUE(store_->DeleteVolume("desk", false).ok());
  auto schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  EXPECT_TRUE(schedules->empty());
  clock_.Advance(absl::Hours(3));
  EXPECT_EQ(scheduler->RunDue(), absl::InfiniteFuture());
  EXPECT_TRUE(Log().empty());
  EXPECT_EQ(store_->CreateScheduledSnapshot("desk", "auto-x", 1, 2).status().code(),
            StatusCode::kNotFound);
  // A new volume of the same name starts without a schedule.
  ASSERT_TRUE(store_->CreateVolume("desk", {}, 1 << 20).ok());
  schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  EXPECT_TRUE(schedules->empty());
  auto report = store_->Fsck(nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
}

// Bad input gets a clear error and changes nothing.
TEST_F(SnapshotScheduleTest, BadInputChangesNothing) {
  struct Case {
    SnapshotSchedule schedule;
    StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {{"nosuch", kHour, 3, StartUnix() + kHour}, StatusCode::kNotFound,
       "volume 'nosuch' does not exist"},
      {{"bad name", kHour, 3, StartUnix() + kHour}, StatusCode::kInvalidArgument, "bad name"},
      {{"desk", 59, 3, StartUnix() + 59}, StatusCode::kInvalidArgument,
       "the shortest interval is 1m"},
      {{"desk", 0, 3, StartUnix()}, StatusCode::kInvalidArgument, "the shortest interval"},
      {{"desk", 400 * 24 * kHour, 3, StartUnix() + kHour}, StatusCode::kInvalidArgument,
       "the longest interval"},
      {{"desk", kHour, 0, StartUnix() + kHour}, StatusCode::kInvalidArgument,
       "must keep 1 to 200 snapshots, not 0"},
      {{"desk", kHour, kMaxScheduleKeep + 1, StartUnix() + kHour},
       StatusCode::kInvalidArgument, "must keep 1 to 200"},
      {{"desk", kHour, 3, 0}, StatusCode::kInvalidArgument, "first snapshot is due"},
  };
  for (const Case& c : cases) {
    absl::Status st = store_->SetSnapshotSchedule(c.schedule).status();
    EXPECT_EQ(st.code(), c.code) << st;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st;
  }
  auto schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  EXPECT_TRUE(schedules->empty());
  EXPECT_EQ(store_->RemoveSnapshotSchedule("desk").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->RemoveSnapshotSchedule("nosuch").code(), StatusCode::kNotFound);
  EXPECT_TRUE(Snapshots().empty());
}

// Setting again replaces; a scheduled snapshot whose schedule was replaced
// meanwhile leaves the new schedule's timetable alone.
TEST_F(SnapshotScheduleTest, ReplacingWinsOverAnAdvanceInFlight) {
  ASSERT_TRUE(store_->SetSnapshotSchedule(Schedule(kHour, 3)).ok());
  SnapshotSchedule daily{"desk", 24 * kHour, 7, StartUnix() + 24 * kHour};
  ASSERT_TRUE(store_->SetSnapshotSchedule(daily).ok());
  auto snap = store_->CreateScheduledSnapshot("desk", "auto-a", StartUnix() + kHour,
                                              StartUnix() + 2 * kHour);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(snap->scheduled);
  auto schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  ASSERT_EQ(schedules->size(), 1u);
  EXPECT_EQ((*schedules)[0].every_seconds, 24 * kHour);
  EXPECT_EQ((*schedules)[0].keep, 7u);
  EXPECT_EQ((*schedules)[0].next_due_unix, daily.next_due_unix);
  // The current due time advances.
  ASSERT_TRUE(store_->CreateScheduledSnapshot("desk", "auto-b", daily.next_due_unix,
                                              daily.next_due_unix + 24 * kHour).ok());
  schedules = store_->ListSnapshotSchedules();
  ASSERT_TRUE(schedules.ok());
  EXPECT_EQ((*schedules)[0].next_due_unix, daily.next_due_unix + 24 * kHour);
}

// Snapshot records written before the scheduled flag existed decode as
// manual snapshots.
TEST(SnapshotRecordTest, RecordsWithoutTheScheduledFlagDecode) {
  SnapshotRecord rec{"desk", "monday", 1234, {7, 9}, 4096, true, std::nullopt};
  std::string v = EncodeSnapshot(rec);
  auto decoded = DecodeSnapshot(v);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->scheduled);
  // The same record as an older writer wrote it: no trailing flag.
  std::string body = v.substr(0, v.size() - 8 - 1);
  PutFixed64(&body, Checksum64(body, kCatalogSeed + 'S'));
  decoded = DecodeSnapshot(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->scheduled);
  EXPECT_EQ(decoded->name, "monday");
  EXPECT_EQ(decoded->stack, (std::vector<uint64_t>{7, 9}));
  EXPECT_EQ(decoded->changed_bytes, 4096u);
}

}  // namespace
}  // namespace layerdisk
