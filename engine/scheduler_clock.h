// SchedulerClock: the time source of work that runs on a timetable (the
// snapshot scheduler), replaceable so a test runs days of schedules in
// milliseconds with a clock it advances by hand.
//
// Thread-safe.
#ifndef LAYERDISK_ENGINE_SCHEDULER_CLOCK_H_
#define LAYERDISK_ENGINE_SCHEDULER_CLOCK_H_

#include <memory>

#include "absl/time/time.h"

namespace layerdisk {

class SchedulerClock {
 public:
  virtual ~SchedulerClock() = default;
  virtual absl::Time Now() = 0;
  // Returns once Now() >= deadline, or earlier when Wake() was called
  // since the previous SleepUntil returned (a Wake() between two sleeps is
  // not lost: the next sleep returns at once).
  virtual void SleepUntil(absl::Time deadline) = 0;
  virtual void Wake() = 0;
};

// The system's wall clock.
std::unique_ptr<SchedulerClock> NewRealSchedulerClock();

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_SCHEDULER_CLOCK_H_
