#include "engine/raw_image.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/strings/str_format.h"
#include "common/env.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

class RawImage final : public BlockDevice {
 public:
  RawImage(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~RawImage() override { ::close(fd_); }

  uint64_t size() const override { return size_; }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 4096; }

  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    RETURN_IF_ERROR(CheckRange(offset, out.size()));
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_, out.data() + done, out.size() - done,
                          static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IOError("read", path_, errno);
      }
      if (n == 0)
        return absl::DataLossError(absl::StrFormat(
            "%s ended at byte %d while being read (was it truncated?)", path_,
            offset + done));
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Write(uint64_t, absl::Span<const char>, bool) override {
    return ReadOnlyError();
  }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override {
    return ReadOnlyError();
  }
  absl::Status Trim(uint64_t, uint64_t, bool) override {
    return ReadOnlyError();
  }
  absl::Status Flush() override { return absl::OkStatus(); }

  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset,
                                                uint64_t length) override {
    RETURN_IF_ERROR(CheckRange(offset, 0));
    const uint64_t end = offset + std::min(length, size_ - offset);
    std::vector<DeviceExtent> out;
    auto add = [&out](uint64_t off, uint64_t len, bool hole) {
      if (len == 0) return;
      if (!out.empty() && out.back().hole == hole &&
          out.back().offset + out.back().length == off) {
        out.back().length += len;
      } else {
        out.push_back({off, len, hole, hole});
      }
    };
    uint64_t pos = offset;
    while (pos < end) {
      off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0) {
        // ENXIO: nothing but hole from here on. Anything else: the file
        // system cannot say, so every byte counts as data.
        add(pos, end - pos, errno == ENXIO);
        break;
      }
      uint64_t data_start = std::min<uint64_t>(static_cast<uint64_t>(data), end);
      add(pos, data_start - pos, true);
      pos = data_start;
      if (pos >= end) break;
      off_t hole = ::lseek(fd_, static_cast<off_t>(pos), SEEK_HOLE);
      uint64_t data_end =
          hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
      if (data_end <= pos) data_end = end;  // never loop without progress
      add(pos, data_end - pos, false);
      pos = data_end;
    }
    return out;
  }

 private:
  absl::Status CheckRange(uint64_t offset, uint64_t length) const {
    if (offset > size_ || length > size_ - offset)
      return absl::InvalidArgumentError(absl::StrFormat(
          "range [%d, +%d) is outside image %s of %d bytes", offset, length,
          path_, size_));
    return absl::OkStatus();
  }
  absl::Status ReadOnlyError() const {
    return absl::PermissionDeniedError(
        absl::StrFormat("image %s is opened read-only", path_));
  }

  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

bool HasMagic(std::string_view bytes, size_t offset, std::string_view magic) {
  return bytes.size() >= offset + magic.size() &&
         bytes.substr(offset, magic.size()) == magic;
}

// Reads up to out->size() bytes at `offset`; shrinks `out` to what exists.
absl::Status ReadSome(int fd, const std::string& path, uint64_t offset,
                      std::string* out) {
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = ::pread(fd, out->data() + done, out->size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IOError("read", path, errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DeviceSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return IOError("stat", path, errno);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0)
      return IOError("get the size of", path, errno);
    return size;
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("%s is neither a regular file nor a block device", path));
}

absl::StatusOr<int> OpenReadOnly(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError("open", path, errno);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlockDevice>> OpenRawImage(
    const std::string& path) {
  ASSIGN_OR_RETURN(int fd, OpenReadOnly(path));
  absl::StatusOr<uint64_t> size = DeviceSize(fd, path);
  if (!size.ok()) {
    ::close(fd);
    return size.status();
  }
  return std::unique_ptr<BlockDevice>(std::make_unique<RawImage>(path, fd, *size));
}

absl::StatusOr<std::string> DetectImageFormat(const std::string& path) {
  ASSIGN_OR_RETURN(int fd, OpenReadOnly(path));
  std::string head(512, '\0'), tail(512, '\0');
  absl::Status s;
  absl::StatusOr<uint64_t> size = DeviceSize(fd, path);
  if (!size.ok()) s = size.status();
  if (s.ok()) s = ReadSome(fd, path, 0, &head);
  if (s.ok() && *size >= 1024) s = ReadSome(fd, path, *size - 512, &tail);
  else tail.clear();
  ::close(fd);
  RETURN_IF_ERROR(s);
  return FormatByMagic(head, tail);
}

std::string FormatByMagic(std::string_view head, std::string_view tail) {
  // A dynamic VHD starts with a copy of its footer; a fixed one has only
  // the footer, in its last sector.
  if (HasMagic(head, 0, "conectix") || HasMagic(tail, 0, "conectix")) return "vhd";
  if (HasMagic(head, 0, "vhdxfile")) return "vhdx";
  if (HasMagic(head, 0, "QFI\xfb")) return "qcow2";
  if (HasMagic(head, 0, "KDMV") || HasMagic(head, 0, "# Disk DescriptorFile"))
    return "vmdk";
  return "raw";
}

}  // namespace layerdisk
