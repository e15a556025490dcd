// OrderedWorker: runs jobs one at a time, in the order given, on its own
// thread, with at most `depth` waiting: a pipeline stage that must stay
// sequential (an import's commits) overlapping with the caller's work (the
// next buffer's hashing and compression). The first failed job stops it:
// later jobs are dropped and every later Push and Finish returns its error.
//
// Push and Finish are for one producer thread.
#ifndef LAYERDISK_COMMON_ORDERED_WORKER_H_
#define LAYERDISK_COMMON_ORDERED_WORKER_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace layerdisk {

class OrderedWorker {
 public:
  explicit OrderedWorker(size_t depth) : depth_(depth == 0 ? 1 : depth) {
    thread_ = std::thread([this] { Run(); });
  }
  // Waits for the queued jobs (as Finish).
  ~OrderedWorker() {
    Finish().IgnoreError();
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
    }
    thread_.join();
  }
  OrderedWorker(const OrderedWorker&) = delete;
  OrderedWorker& operator=(const OrderedWorker&) = delete;

  // Queues `job`, waiting while `depth` jobs wait already. Returns the error
  // of an earlier job, if one failed (then `job` is not queued).
  absl::Status Push(std::function<absl::Status()> job) {
    absl::MutexLock lock(&mu_);
    auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !error_.ok() || queue_.size() < depth_;
    };
    mu_.Await(absl::Condition(&room));
    if (!error_.ok()) return error_;
    queue_.push_back(std::move(job));
    return absl::OkStatus();
  }

  // Waits until every queued job ran (or one failed); the first error.
  absl::Status Finish() {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return queue_.empty() && !running_;
    };
    mu_.Await(absl::Condition(&idle));
    return error_;
  }

 private:
  void Run() {
    for (;;) {
      std::function<absl::Status()> job;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return closing_ || !queue_.empty();
        };
        mu_.Await(absl::Condition(&ready));
        if (queue_.empty()) return;  // closing, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
        running_ = true;
      }
      absl::Status s = job();
      absl::MutexLock lock(&mu_);
      running_ = false;
      if (!s.ok() && error_.ok()) {
        error_ = s;
        queue_.clear();
      }
    }
  }

  const size_t depth_;
  absl::Mutex mu_;
  std::deque<std::function<absl::Status()>> queue_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_ORDERED_WORKER_H_
