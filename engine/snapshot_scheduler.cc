#include "engine/snapshot_scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/size_parse.h"

namespace layerdisk {
namespace {

// When the schedules themselves cannot be read (a damaged catalog, a full
// disk), how long until the next try.
constexpr absl::Duration kRetryUnreadable = absl::Minutes(1);

std::string FormatUtc(uint64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixSeconds(static_cast<int64_t>(unix_seconds)),
                          absl::UTCTimeZone());
}

// The first point of the timetable due, due + every, due + 2 * every, ...
// after `now`: missed periods collapse into the snapshot taken now.
uint64_t NextPoint(uint64_t due, uint64_t every, uint64_t now) {
  if (now < due) return due;
  return due + ((now - due) / every + 1) * every;
}

}  // namespace

std::string ScheduledSnapshotName(absl::Time at) {
  return absl::StrCat("auto-", absl::FormatTime("%Y%m%d-%H%M%S", at, absl::UTCTimeZone()));
}

SnapshotScheduler::SnapshotScheduler(Store* store, SchedulerClock* clock, LogFn log)
    : store_(store), clock_(clock), log_(std::move(log)) {}

SnapshotScheduler::~SnapshotScheduler() { Stop(); }

void SnapshotScheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void SnapshotScheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  clock_->Wake();
  if (thread_.joinable()) thread_.join();
}

void SnapshotScheduler::SchedulesChanged() { clock_->Wake(); }

void SnapshotScheduler::Loop() {
  auto stopping = [this] {
    absl::MutexLock lock(&mu_);
    return stopping_;
  };
  while (!stopping()) {
    absl::Time next = RunDue();
    // A Stop() from here on has woken the clock: the sleep returns at once.
    if (stopping()) return;
    clock_->SleepUntil(next);
  }
}

absl::Time SnapshotScheduler::RunDue() {
  absl::MutexLock lock(&run_mu_);
  const absl::Time now = clock_->Now();
  absl::StatusOr<std::vector<SnapshotSchedule>> schedules = store_->ListSnapshotSchedules();
  if (!schedules.ok()) {
    log_(absl::StrCat("cannot read snapshot schedules: ", schedules.status().message(),
                      "; trying again in ", absl::FormatDuration(kRetryUnreadable)));
    return now + kRetryUnreadable;
  }
  const uint64_t now_unix = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixSeconds(now)));
  std::map<std::string, Failure> failures;  // only of volumes still scheduled
  uint64_t next = UINT64_MAX;
  for (const SnapshotSchedule& s : *schedules) {
    uint64_t due = s.next_due_unix;
    auto failed = failures_.find(s.volume);
    const bool retrying = failed != failures_.end() && failed->second.due == s.next_due_unix;
    if (retrying) due = std::max(due, failed->second.retry_at);
    if (now_unix < due) {
      if (retrying) failures.insert(*failed);
      next = std::min(next, due);
      continue;
    }
    const uint64_t next_due = NextPoint(s.next_due_unix, s.every_seconds, now_unix);
    if (!TakeDue(s, now, next_due)) failures[s.volume] = Failure{s.next_due_unix, next_due};
    next = std::min(next, next_due);
  }
  failures_ = std::move(failures);
  if (next == UINT64_MAX) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(static_cast<int64_t>(next));
}

bool SnapshotScheduler::TakeDue(const SnapshotSchedule& s, absl::Time now,
                                uint64_t next_due) {
  const std::string name = ScheduledSnapshotName(now);
  absl::StatusOr<SnapshotInfo> snap =
      store_->CreateScheduledSnapshot(s.volume, name, s.next_due_unix, next_due);
  if (!snap.ok()) {
    log_(absl::StrFormat("scheduled snapshot %s@%s failed: %s; next try at %s", s.volume,
                         name, snap.status().message(), FormatUtc(next_due)));
    return false;
  }
  std::string errors;
  std::vector<std::string> pruned = Prune(s, &errors);
  std::string line = absl::StrFormat("scheduled snapshot %s@%s taken (%s changed)", s.volume,
                                     name, FormatSize(snap->changed_bytes));
  if (!pruned.empty())
    absl::StrAppend(&line, "; keeping ", s.keep, ", deleted ", absl::StrJoin(pruned, ", "));
  absl::StrAppend(&line, errors, "; next at ", FormatUtc(next_due));
  log_(line);
  return true;
}
std::vector<std::string> SnapshotScheduler::Prune(const SnapshotSchedule& s,
                                                  std::string* errors) {
  std::vector<std::string> deleted;
  absl::StatusOr<std::vector<SnapshotInfo>> snaps = store_->ListSnapshots(s.volume);
  if (!snaps.ok()) {
    absl::StrAppend(errors, "; cannot list its snapshots to prune: ", snaps.status().message());
    return deleted;
  }
  std::vector<const SnapshotInfo*> scheduled;  // oldest first, as listed
  for (const SnapshotInfo& snap : *snaps)
    if (snap.scheduled) scheduled.push_back(&snap);
  for (size_t i = 0; i + s.keep < scheduled.size(); ++i) {
    absl::Status st = store_->DeleteSnapshot(s.volume, scheduled[i]->name, /*force=*/false);
    if (st.ok())
      deleted.push_back(scheduled[i]->name);
    else
      absl::StrAppend(errors, "; cannot delete ", scheduled[i]->name, ": ", st.message());
  }
  return deleted;
}

}  // namespace layerdisk
