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
    wake = idle_ > 0;
  }
  // Waking only when someone sleeps keeps a busy pool free of futex calls.
  if (wake) cv_.notify_one();
}

void WorkerPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (head_ == nullptr && !stopping_) {
      ++idle_;
      cv_.wait(lock);
      --idle_;
    }
    if (head_ == nullptr) return;  // stopping and drained
    WorkItem* item = head_;
    head_ = item->next_;
    if (head_ == nullptr) tail_ = nullptr;
    lock.unlock();
    item->Run();
    lock.lock();
  }
}

}  // namespace layerdisk::nbd
