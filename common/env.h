// Env: the file-system operations the engine's own data files use, behind an
// interface so tests can swap in FaultInjectionEnv (simulated power cut).
// RocksDB uses its own Env; everything layerdisk writes directly goes here.
#ifndef LAYERDISK_COMMON_ENV_H_
#define LAYERDISK_COMMON_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace layerdisk {

// A file read and written at offsets. Thread-safe.
class RandomRWFile {
 public:
  virtual ~RandomRWFile() = default;
  // Reads exactly out.size() bytes; bytes past the end of file read as zero.
  virtual absl::Status ReadAt(uint64_t offset, absl::Span<char> out) = 0;
  virtual absl::Status WriteAt(uint64_t offset,
                               absl::Span<const char> data) = 0;
  // Deallocates the range; it reads as zeroes afterwards.
  virtual absl::Status PunchHole(uint64_t offset, uint64_t length) = 0;
  // Makes every completed WriteAt/PunchHole durable (fdatasync).
  virtual absl::Status Sync() = 0;
  // Bytes of disk space the file occupies (st_blocks * 512).
  virtual absl::StatusOr<uint64_t> AllocatedBytes() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // The process-wide POSIX Env. Never deleted.
  static Env* Default();

  virtual absl::StatusOr<std::unique_ptr<RandomRWFile>> OpenRW(
      const std::string& path, bool create) = 0;
  virtual absl::Status DeleteFile(const std::string& path) = 0;
  virtual absl::Status CreateDirIfMissing(const std::string& path) = 0;
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Makes the directory's entries (created/deleted files) durable.
  virtual absl::Status SyncDir(const std::string& path) = 0;
};

// Converts errno to a Status whose message names the operation and path:
// ENOSPC -> ResourceExhausted, ENOENT -> NotFound, EIO -> DataLoss, ...
absl::Status IOError(const std::string& what, const std::string& path,
                     int err);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_ENV_H_
