// WorkerPool: a fixed set of threads running queued work items in FIFO
// order. Items are intrusive (the request object itself is the queue node),
// so submitting allocates nothing.
//
// Thread-safe.
#ifndef LAYERDISK_NBD_FRONTEND_WORKER_POOL_H_
#define LAYERDISK_NBD_FRONTEND_WORKER_POOL_H_

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace layerdisk::nbd {

class WorkItem {
 public:
  virtual void Run() = 0;

 protected:
  ~WorkItem() = default;

 private:
  friend class WorkerPool;
  WorkItem* next_ = nullptr;
};

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Runs every item already submitted, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // `item` must stay alive until its Run() returns.
  void Submit(WorkItem* item);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  WorkItem* head_ = nullptr;  // guarded by mu_
  WorkItem* tail_ = nullptr;  // guarded by mu_
  int idle_ = 0;              // threads waiting on cv_; guarded by mu_
  int waking_ = 0;            // notified, not yet running; guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_WORKER_POOL_H_
