// A one-line progress bar on stderr for long commands (import, export,
// volume write), drawn only when stderr is a terminal so logs and pipes stay
// clean.
#ifndef LAYERDISK_TOOLS_PROGRESS_H_
#define LAYERDISK_TOOLS_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/synchronization/mutex.h"
#include "engine/store.h"

namespace layerdisk {

// Thread-safe: the engine may report from any thread.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  // Erases the bar.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // A callback for the engine that updates this bar. Valid while it lives.
  ProgressFn Callback();
  void Update(uint64_t done, uint64_t total);
  // Seconds since construction.
  double Elapsed() const;

 private:
  void Draw(uint64_t done, uint64_t total) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string label_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  absl::Mutex mu_;
  std::chrono::steady_clock::time_point last_draw_ ABSL_GUARDED_BY(mu_);
  uint64_t last_done_ ABSL_GUARDED_BY(mu_) = 0;
  bool drawn_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_PROGRESS_H_
