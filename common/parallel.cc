#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace layerdisk {
namespace {

// Enough pieces per core that an uneven split evens out, few enough that
// claiming them costs nothing beside the work.
constexpr size_t kPiecesPerCore = 4;

struct Job {
  Job(const std::function<void(size_t, size_t)>& f, size_t items, size_t p)
      : fn(f), n(items), pieces(p) {}

  // Runs the next unclaimed piece; false when none is left.
  bool RunOnePiece() {
    const size_t p = next.fetch_add(1);
    if (p >= pieces) return false;
    fn(n * p / pieces, n * (p + 1) / pieces);
    absl::MutexLock lock(&mu);
    ++finished;
    return true;
  }

  const std::function<void(size_t, size_t)>& fn;
  const size_t n;
  const size_t pieces;
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  size_t finished ABSL_GUARDED_BY(mu) = 0;
};

class Pool {
 public:
  explicit Pool(size_t threads) {
    for (size_t i = 0; i < threads; ++i) std::thread([this] { Work(); }).detach();
  }

  void Offer(const std::shared_ptr<Job>& job) {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(job);
  }

  // Takes `job` off the queue once all its pieces are claimed.
  void Withdraw(const std::shared_ptr<Job>& job) {
    absl::MutexLock lock(&mu_);
    auto it = std::find(jobs_.begin(), jobs_.end(), job);
    if (it != jobs_.end()) jobs_.erase(it);
  }

 private:
  void Work() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        absl::MutexLock lock(&mu_);
        auto has_job = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !jobs_.empty(); };
        mu_.Await(absl::Condition(&has_job));
        job = jobs_.front();
      }
      // The job (kept alive by its pointer) may finish under us: a failed
      // claim touches only its counter, never its function.
      while (job->RunOnePiece()) {
      }
      Withdraw(job);
    }
  }

  absl::Mutex mu_;
  std::deque<std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
};

// Asked once: hardware_concurrency reads /sys on every call.
size_t Cores() {
  static const size_t cores = std::max<size_t>(1, std::thread::hardware_concurrency());
  return cores;
}

Pool& SharedPool() {
  // Never destroyed: its threads wait for work until the process exits.
  static Pool* pool = new Pool(Cores() - 1);
  return *pool;
}

}  // namespace

void ParallelFor(size_t n, const std::function<void(size_t begin, size_t end)>& fn) {
  const size_t cores = Cores();
  if (n == 0) return;
  if (cores == 1 || n == 1) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<Job>(fn, n, std::min(n, cores * kPiecesPerCore));
  Pool& pool = SharedPool();
  pool.Offer(job);
  while (job->RunOnePiece()) {
  }
  pool.Withdraw(job);
  absl::MutexLock lock(&job->mu);
  auto all_done = [&job]() ABSL_SHARED_LOCKS_REQUIRED(job->mu) {
    return job->finished == job->pieces;
  };
  job->mu.Await(absl::Condition(&all_done));
}

}  // namespace layerdisk
