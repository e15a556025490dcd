#include "common/fault_injection_env.h"

#include "common/status_macros.h"

namespace layerdisk {
namespace {

// Records the bytes each write overwrites, so a power cut can restore them.
class FaultInjectionFile final : public RandomRWFile {
 public:
  FaultInjectionFile(FaultInjectionEnv* env, std::unique_ptr<RandomRWFile> base,
                     std::shared_ptr<FaultInjectionEnv::FileState> state)
      : env_(env), base_(std::move(base)), state_(std::move(state)) {}

  absl::Status ReadAt(uint64_t offset, absl::Span<char> out) override {
    return base_->ReadAt(offset, out);
  }

  absl::Status WriteAt(uint64_t offset, absl::Span<const char> data) override {
    RETURN_IF_ERROR(env_->CheckWritable());
    RETURN_IF_ERROR(RememberOld(offset, data.size()));
    return base_->WriteAt(offset, data);
  }

  absl::Status PunchHole(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(env_->CheckActive());
    RETURN_IF_ERROR(RememberOld(offset, length));
    return base_->PunchHole(offset, length);
  }

  absl::Status Sync() override {
    RETURN_IF_ERROR(env_->CheckActive());
    // Whatever was written before this point is durable from here on.
    absl::MutexLock lock(&state_->mu);
    RETURN_IF_ERROR(base_->Sync());
    state_->undo.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> AllocatedBytes() override {
    return base_->AllocatedBytes();
  }

 private:
  absl::Status RememberOld(uint64_t offset, uint64_t length) {
    FaultInjectionEnv::FileState::Undo undo{offset, std::string(length, '\0')};
    absl::MutexLock lock(&state_->mu);
    RETURN_IF_ERROR(base_->ReadAt(offset, absl::MakeSpan(undo.old_bytes)));
    state_->undo.push_back(std::move(undo));
    return absl::OkStatus();
  }

  FaultInjectionEnv* const env_;
  const std::unique_ptr<RandomRWFile> base_;
  const std::shared_ptr<FaultInjectionEnv::FileState> state_;
};

}  // namespace

absl::Status FaultInjectionEnv::CheckActive() const {
  if (!active_) return absl::UnavailableError("simulated power cut");
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::CheckWritable() const {
  RETURN_IF_ERROR(CheckActive());
  if (no_space_) return absl::ResourceExhaustedError("simulated full disk");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RandomRWFile>> FaultInjectionEnv::OpenRW(
    const std::string& path, bool create) {
  ASSIGN_OR_RETURN(auto base, base_->OpenRW(path, create));
  std::shared_ptr<FileState> state;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = files_[path];
    if (!slot) slot = std::make_shared<FileState>();
    state = slot;
  }
  return std::unique_ptr<RandomRWFile>(
      new FaultInjectionFile(this, std::move(base), std::move(state)));
}

absl::Status FaultInjectionEnv::DeleteFile(const std::string& path) {
  RETURN_IF_ERROR(CheckActive());
  absl::MutexLock lock(&mu_);
  files_.erase(path);
  return base_->DeleteFile(path);
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& path) {
  RETURN_IF_ERROR(CheckActive());
  return base_->SyncDir(path);
}

absl::Status FaultInjectionEnv::DropUnsyncedData() {
  absl::MutexLock lock(&mu_);
  for (auto& [path, state] : files_) {
    absl::MutexLock file_lock(&state->mu);
    if (state->undo.empty()) continue;
    ASSIGN_OR_RETURN(auto file, base_->OpenRW(path, /*create=*/false));
    for (auto it = state->undo.rbegin(); it != state->undo.rend(); ++it) {
      RETURN_IF_ERROR(file->WriteAt(it->offset, it->old_bytes));
    }
    RETURN_IF_ERROR(file->Sync());
    state->undo.clear();
  }
  active_ = true;
  return absl::OkStatus();
}

}  // namespace layerdisk
