#include "engine/export_raw.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>

#include "absl/strings/str_format.h"
#include "common/all_zero.h"
#include "common/env.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

// Large enough to stream at disk speed, small enough that a hole inside a
// data extent is still found.
constexpr uint64_t kPiece = 4ull << 20;
// Map() is asked about this much at a time so a fragmented device's map
// never has to fit in memory at once.
constexpr uint64_t kMapWindow = 1ull << 30;

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Writes all of `data` at `offset`, or, with `offset` empty, at the file's
// position (a pipe has none).
absl::Status WriteFully(int fd, const std::string& path, std::optional<uint64_t> offset,
                        std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const char* from = data.data() + done;
    const size_t left = data.size() - done;
    ssize_t n = offset ? ::pwrite(fd, from, left, static_cast<off_t>(*offset + done))
                       : ::write(fd, from, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE)
        return absl::CancelledError(absl::StrFormat(
            "%s was closed before the export finished", path));
      return IOError("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Creates a fresh temporary file next to `path` (same file system, so the
// final rename is atomic). The mode honours the umask like any new file.
absl::StatusOr<int> CreateTemp(const std::string& path, std::string* temp) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    *temp = absl::StrFormat("%s.tmp-%d-%d", path, ::getpid(), counter++);
    int fd = ::open(temp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return IOError("create", *temp, errno);
  }
  return absl::AlreadyExistsError(
      absl::StrFormat("could not find a free temporary name beside %s", path));
}

absl::Status CheckTarget(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return IOError("stat", path, errno);
  }
  if (!S_ISREG(st.st_mode))
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s exists and is not a regular file; export writes image files only",
        path));
  return absl::OkStatus();
}

// Walks `device` in order: `data` gets each piece of its data extents (and
// of holes not promised to be zero) with the bytes read, `zero` each extent
// that reads as zeroes.
absl::Status WalkDevice(BlockDevice& device, const ProgressFn& progress,
                        const std::function<absl::Status(uint64_t, std::string_view)>& data,
                        const std::function<absl::Status(uint64_t, uint64_t)>& zero) {
  const uint64_t size = device.size();
  std::string buf;
  for (uint64_t window = 0; window < size; window += kMapWindow) {
    ASSIGN_OR_RETURN(std::vector<DeviceExtent> extents,
                     device.Map(window, std::min(kMapWindow, size - window)));
    for (const DeviceExtent& e : extents) {
      if (e.zero) {
        RETURN_IF_ERROR(zero(e.offset, e.length));
      } else {
        for (uint64_t off = e.offset; off < e.offset + e.length;) {
          // Keep pieces aligned so reads stay whole blocks.
          uint64_t piece_end = std::min((off / kPiece + 1) * kPiece, e.offset + e.length);
          buf.resize(piece_end - off);
          RETURN_IF_ERROR(device.Read(off, absl::MakeSpan(buf)));
          RETURN_IF_ERROR(data(off, buf));
          off = piece_end;
          if (progress) progress(off, size);
        }
      }
      if (progress) progress(e.offset + e.length, size);
    }
  }
  return absl::OkStatus();
}

// Into a file: zeroes stay holes (the file was sized first), including the
// all-zero pieces of data extents.
absl::Status CopyData(BlockDevice& device, int fd, const std::string& temp,
                      const ProgressFn& progress) {
  return WalkDevice(
      device, progress,
      [&](uint64_t offset, std::string_view bytes) {
        return AllZero(bytes) ? absl::OkStatus() : WriteFully(fd, temp, offset, bytes);
      },
      [](uint64_t, uint64_t) { return absl::OkStatus(); });
}

}  // namespace

absl::Status ExportRaw(BlockDevice& device, const std::string& path,
                       const ProgressFn& progress) {
  RETURN_IF_ERROR(CheckTarget(path));
  std::string temp;
  ASSIGN_OR_RETURN(int fd, CreateTemp(path, &temp));
  absl::Status s;
  if (::ftruncate(fd, static_cast<off_t>(device.size())) != 0)
    s = IOError("set the size of", temp, errno);
  if (s.ok()) s = CopyData(device, fd, temp, progress);
  if (s.ok() && ::fsync(fd) != 0) s = IOError("sync", temp, errno);
  if (::close(fd) != 0 && s.ok()) s = IOError("close", temp, errno);
  if (s.ok() && ::rename(temp.c_str(), path.c_str()) != 0)
    s = IOError("rename to " + path, temp, errno);
  if (!s.ok()) {
    ::unlink(temp.c_str());
    return s;
  }
  // The rename is durable only once the directory entry is.
  std::string dir = DirName(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return IOError("open directory", dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return IOError("sync directory", dir, err);
  if (progress) progress(device.size(), device.size());
  return absl::OkStatus();
}

absl::Status ExportRawStream(BlockDevice& device, int fd, const std::string& name,
                             const ProgressFn& progress) {
  const std::string zeroes(kPiece, '\0');
  RETURN_IF_ERROR(WalkDevice(
      device, progress,
      [&](uint64_t, std::string_view bytes) {
        return WriteFully(fd, name, std::nullopt, bytes);
      },
      [&](uint64_t, uint64_t length) -> absl::Status {
        for (uint64_t left = length; left > 0;) {
          const uint64_t n = std::min<uint64_t>(left, zeroes.size());
          RETURN_IF_ERROR(
              WriteFully(fd, name, std::nullopt, std::string_view(zeroes).substr(0, n)));
          left -= n;
        }
        return absl::OkStatus();
      }));
  // Redirected into a file, the export is as durable as one written to it.
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd) != 0)
    return IOError("sync", name, errno);
  if (progress) progress(device.size(), device.size());
  return absl::OkStatus();
}

}  // namespace layerdisk
