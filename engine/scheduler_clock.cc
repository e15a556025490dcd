#include "engine/scheduler_clock.h"

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace layerdisk {
namespace {

class RealSchedulerClock final : public SchedulerClock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time deadline) override {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&woken_), deadline);
    woken_ = false;
  }
  void Wake() override {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }

 private:
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::unique_ptr<SchedulerClock> NewRealSchedulerClock() {
  return std::make_unique<RealSchedulerClock>();
}

}  // namespace layerdisk
