// FaultInjectionEnv: an Env for tests that simulates a power cut (every write
// not yet covered by a Sync() is undone) and a full disk.
#ifndef LAYERDISK_COMMON_FAULT_INJECTION_ENV_H_
#define LAYERDISK_COMMON_FAULT_INJECTION_ENV_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/env.h"

namespace layerdisk {

// Thread-safe. Wraps `base`, which must outlive it.
class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  // While inactive, every write, punch and sync fails with Unavailable, as if
  // the machine had lost power: nothing further reaches the disk.
  void SetActive(bool active) { active_ = active; }
  // While set, writes fail with ResourceExhausted (ENOSPC).
  void SetNoSpace(bool no_space) { no_space_ = no_space; }
  // Undoes every write and punch not covered by a later Sync() of its file,
  // newest first, then reactivates the Env. Call after closing the store.
  absl::Status DropUnsyncedData();

  absl::StatusOr<std::unique_ptr<RandomRWFile>> OpenRW(const std::string& path,
                                                       bool create) override;
  absl::Status DeleteFile(const std::string& path) override;
  absl::Status CreateDirIfMissing(const std::string& path) override {
    return base_->CreateDirIfMissing(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& path) override {
    return base_->ListDir(path);
  }
  bool FileExists(const std::string& path) override {
    return base_->FileExists(path);
  }
  absl::Status SyncDir(const std::string& path) override;

  // Per-file record of what a power cut would undo. Public for the file
  // wrapper in the .cc; not part of the API.
  struct FileState {
    absl::Mutex mu;
    struct Undo {
      uint64_t offset;
      std::string old_bytes;
    };
    std::vector<Undo> undo ABSL_GUARDED_BY(mu);
  };
  absl::Status CheckWritable() const;
  absl::Status CheckActive() const;

 private:
  Env* const base_;
  std::atomic<bool> active_{true};
  std::atomic<bool> no_space_{false};
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_FAULT_INJECTION_ENV_H_
