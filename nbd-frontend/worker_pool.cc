#include "nbd-frontend/worker_pool.h"

namespace layerdisk::nbd {

WorkerPool::WorkerPool(int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Submit(WorkItem* item) {
  item->next_ = nullptr;
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tail_ != nullptr) {
      tail_->next_ = item;
    } else {
      head_ = item;
    }
    tail_ = item;
    // One thread on its way is enough: it wakes the next if it finds more
    // work queued (see Loop). A burst of small requests then ramps up the
    // threads it needs instead of waking every sleeper, and a pool that
    // keeps up never touches the futex.
    wake = idle_ > waking_ && waking_ == 0;
    if (wake) ++waking_;
  }
  if (wake) cv_.notify_one();
}

void WorkerPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (head_ == nullptr && !stopping_) {
      ++idle_;
      cv_.wait(lock);
      --idle_;
      if (waking_ > 0) --waking_;
    }
    if (head_ == nullptr) return;  // stopping and drained
    WorkItem* item = head_;
    head_ = item->next_;
    if (head_ == nullptr) tail_ = nullptr;
    bool wake_next = head_ != nullptr && idle_ > waking_ && waking_ == 0;
    if (wake_next) ++waking_;
    lock.unlock();
    if (wake_next) cv_.notify_one();
    item->Run();
    lock.lock();
  }
}

}  // namespace layerdisk::nbd
