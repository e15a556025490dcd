// SnapshotScheduler: takes the snapshots that volumes' schedules
// (Store::SetSnapshotSchedule) call for, through the Store interface, and
// deletes each schedule's oldest scheduled snapshots beyond its `keep`;
// snapshots taken by hand are never deleted. `layerdisk serve` runs one.
//
// A schedule whose time passed while no scheduler ran (the server was down)
// gets one snapshot, not one per missed period, and its next one is due at
// the next point of its original timetable (due + k * every), so snapshot
// times do not drift. A failed snapshot (the volume was deleted meanwhile,
// its stack is full) is logged and tried again at the next period; nothing
// is thrown, nothing stops the scheduler.
//
// Thread-safe.
#ifndef LAYERDISK_ENGINE_SNAPSHOT_SCHEDULER_H_
#define LAYERDISK_ENGINE_SNAPSHOT_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/scheduler_clock.h"
#include "engine/store.h"

namespace layerdisk {

// "auto-YYYYMMDD-HHMMSS", the time in UTC: the name of a snapshot a
// schedule takes at `at`. Names sort as their times do.
std::string ScheduledSnapshotName(absl::Time at);

class SnapshotScheduler {
 public:
  // One line per event, without a trailing newline.
  using LogFn = std::function<void(const std::string& line)>;

  // `store` and `clock` must outlive the scheduler.
  SnapshotScheduler(Store* store, SchedulerClock* clock, LogFn log);
  // Stops the thread, if started.
  ~SnapshotScheduler();
  SnapshotScheduler(const SnapshotScheduler&) = delete;
  SnapshotScheduler& operator=(const SnapshotScheduler&) = delete;

  // Runs RunDue() on a thread, sleeping in between until the next snapshot
  // is due or SchedulesChanged() is called. REQUIRES: not started.
  void Start();
  // Returns once the thread has ended (a pass under way finishes first).
  void Stop();
  // Makes a sleeping thread look at the schedules again: call it after a
  // schedule was set or removed.
  void SchedulesChanged();

  // One pass at clock->Now(): every due schedule gets one snapshot
  // (ScheduledSnapshotName), then loses its scheduled snapshots beyond
  // `keep`, oldest first; each snapshot is logged. Returns when the next
  // snapshot is due (absl::InfiniteFuture() when there is no schedule).
  absl::Time RunDue();

 private:
  // Takes the snapshot `s` is due for at `now`, moving its next due time to
  // `next_due`, and prunes; logs either way. False when no snapshot was taken.
  bool TakeDue(const SnapshotSchedule& s, absl::Time now, uint64_t next_due);
  // Deletes the oldest scheduled snapshots of `s.volume` beyond `s.keep`;
  // returns the names deleted, and describes failures in `errors`.
  std::vector<std::string> Prune(const SnapshotSchedule& s, std::string* errors);
  void Loop();

  Store* const store_;
  SchedulerClock* const clock_;
  const LogFn log_;

  absl::Mutex run_mu_;  // one pass at a time
  // A schedule whose snapshot failed is not retried before `retry_at`, as
  // long as it is still due at `due` (a replaced schedule starts afresh).
  struct Failure {
    uint64_t due;
    uint64_t retry_at;
  };
  std::map<std::string, Failure> failures_ ABSL_GUARDED_BY(run_mu_);

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_SNAPSHOT_SCHEDULER_H_
