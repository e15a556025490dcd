#include "common/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace layerdisk {

absl::Status IOError(const std::string& what, const std::string& path,
                     int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  // EIO means the medium could not deliver the bytes: report it as lost data.
  if (err == EIO) return absl::DataLossError(msg);
  return absl::Status(absl::ErrnoToStatusCode(err), msg);
}

namespace {

class PosixRWFile final : public RandomRWFile {
 public:
  PosixRWFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRWFile() override { ::close(fd_); }

  absl::Status ReadAt(uint64_t offset, absl::Span<char> out) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                          static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IOError("read", path_, errno);
      }
      if (n == 0) {  // past end of file: a sparse tail reads as zeroes
        std::memset(out.data() + done, 0, out.size() - done);
        break;
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status WriteAt(uint64_t offset, absl::Span<const char> data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IOError("write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status PunchHole(uint64_t offset, uint64_t length) override {
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
      if (errno != EOPNOTSUPP) return IOError("punch hole in", path_, errno);
      // No hole punching on this file system: write zeroes instead.
      std::string zeros(std::min<uint64_t>(length, 1 << 20), '\0');
      for (uint64_t done = 0; done < length; done += zeros.size()) {
        uint64_t n = std::min<uint64_t>(zeros.size(), length - done);
        auto st = WriteAt(offset + done, absl::MakeConstSpan(zeros.data(), n));
        if (!st.ok()) return st;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return IOError("sync", path_, errno);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> AllocatedBytes() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return IOError("stat", path_, errno);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<RandomRWFile>> OpenRW(const std::string& path,
                                                       bool create) override {
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return IOError("open", path, errno);
    return std::unique_ptr<RandomRWFile>(new PosixRWFile(path, fd));
  }

  absl::Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return IOError("delete", path, errno);
    return absl::OkStatus();
  }

  absl::Status CreateDirIfMissing(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return IOError("create directory", path, errno);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return IOError("list", path, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(dir);
    return names;
  }

  bool FileExists(const std::string& path) override {
    return ::access(path.c_str(), F_OK) == 0;
  }

  absl::Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IOError("open directory", path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return IOError("sync directory", path, err);
    return absl::OkStatus();
  }
};

}  // namespace

Env* Env::Default() {
  static Env* env = new PosixEnv;
  return env;
}

}  // namespace layerdisk
