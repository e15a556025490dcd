// Snapshot schedules: catalog records the scheduler in `layerdisk serve`
// (engine/snapshot_scheduler.h) acts on, and the snapshots it takes.
#include "absl/strings/str_format.h"
#include "common/interval_parse.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"

namespace layerdisk {
namespace {

SnapshotSchedule Describe(const ScheduleRecord& r) {
  return SnapshotSchedule{r.volume, r.every_seconds, r.keep, r.next_due_unix};
}

}  // namespace

absl::StatusOr<SnapshotSchedule> StoreImpl::SetSnapshotSchedule(
    const SnapshotSchedule& schedule) {
  const std::string& volume = schedule.volume;
  const uint64_t min_interval = options_.min_schedule_interval_seconds;
  if (schedule.every_seconds < min_interval)
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshots of volume '%s' every %s: the shortest interval is %s", volume,
        FormatInterval(schedule.every_seconds), FormatInterval(min_interval)));
  if (schedule.every_seconds > kMaxScheduleIntervalSeconds)
    return absl::InvalidArgumentError(absl::StrFormat(
        "snapshots of volume '%s' every %s: the longest interval is %s", volume,
        FormatInterval(schedule.every_seconds),
        FormatInterval(kMaxScheduleIntervalSeconds)));
  if (schedule.keep < 1 || schedule.keep > kMaxScheduleKeep)
    return absl::InvalidArgumentError(absl::StrFormat(
        "a schedule of volume '%s' must keep 1 to %d snapshots, not %d", volume,
        kMaxScheduleKeep, schedule.keep));
  if (schedule.next_due_unix == 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "a schedule of volume '%s' needs the time its first snapshot is due", volume));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FindVolume(volume).status());
  ScheduleRecord rec{volume, schedule.every_seconds, schedule.keep,
                     schedule.next_due_unix};
  rocksdb::WriteBatch batch;
  batch.Put(ScheduleKey(volume), EncodeSchedule(rec));
  RETURN_IF_ERROR(Commit(&batch));
  return Describe(rec);
}

absl::Status StoreImpl::RemoveSnapshotSchedule(const std::string& volume) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FindVolume(volume).status());
  absl::StatusOr<ScheduleRecord> rec = catalog().Schedule(volume);
  if (absl::IsNotFound(rec.status()))
    return absl::NotFoundError(absl::StrFormat(
        "volume '%s' has no snapshot schedule", volume));
  // A damaged record is removed all the same: that is what was asked.
  if (!rec.ok() && !absl::IsDataLoss(rec.status())) return rec.status();
  rocksdb::WriteBatch batch;
  batch.Delete(ScheduleKey(volume));
  return Commit(&batch);
}

absl::StatusOr<std::vector<SnapshotSchedule>> StoreImpl::ListSnapshotSchedules() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::vector<ScheduleRecord> recs, catalog().AllSchedules());
  std::vector<SnapshotSchedule> out;
  for (const ScheduleRecord& r : recs) out.push_back(Describe(r));
  return out;
}

absl::StatusOr<SnapshotInfo> StoreImpl::CreateScheduledSnapshot(
    const std::string& volume, const std::string& name, uint64_t due_unix,
    uint64_t next_due_unix) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FindVolume(volume).status());
  absl::StatusOr<ScheduleRecord> schedule = catalog().Schedule(volume);
  if (!schedule.ok() && !absl::IsNotFound(schedule.status())) return schedule.status();
  // Replaced or removed since it was listed as due: the new state stands.
  const bool advance = schedule.ok() && schedule->next_due_unix == due_unix;
  return TakeSnapshot(volume, name, /*scheduled=*/true, [&](rocksdb::WriteBatch* batch) {
    if (!advance) return;
    ScheduleRecord next = *schedule;
    next.next_due_unix = next_due_unix;
    batch->Put(ScheduleKey(volume), EncodeSchedule(next));
  });
}

}  // namespace layerdisk
