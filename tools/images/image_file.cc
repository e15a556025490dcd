#include "tools/images/image_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "common/env.h"
#include "common/status_macros.h"

namespace layerdisk {

absl::StatusOr<ImageFile> ImageFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return IOError("stat", path, e);
  }
  return ImageFile(path, fd, static_cast<uint64_t>(st.st_size));
}

ImageFile::~ImageFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::string> ImageFile::Read(uint64_t offset, uint64_t length,
                                            const std::string& what) const {
  if (offset > size_ || length > size_ - offset) return PastEnd(offset, length, what);
  std::string out(length, '\0');
  RETURN_IF_ERROR(ReadInto(offset, absl::MakeSpan(out), what));
  return out;
}

absl::Status ImageFile::ReadInto(uint64_t offset, absl::Span<char> out,
                                 const std::string& what) const {
  const uint64_t length = out.size();
  if (offset > size_ || length > size_ - offset) return PastEnd(offset, length, what);
  for (uint64_t done = 0; done < length;) {
    ssize_t n = ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IOError("read", path_, errno);
    if (n == 0) return absl::DataLossError(absl::StrFormat("%s ended while reading its %s", path_, what));
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ImageFile::PastEnd(uint64_t offset, uint64_t length, const std::string& what) const {
  return absl::DataLossError(absl::StrFormat(
      "%s: the %s at offset %d (%d bytes) lies past the end of the file (%d bytes; "
      "truncated or corrupt)", path_, what, offset, length, size_));
}

uint32_t Be32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}
uint64_t Be64(const std::string& b, size_t at) {
  return (static_cast<uint64_t>(Be32(b, at)) << 32) | Be32(b, at + 4);
}
uint16_t Le16(const std::string& b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) | (static_cast<uint8_t>(b[at + 1]) << 8));
}
uint32_t Le32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(Le16(b, at)) | (static_cast<uint32_t>(Le16(b, at + 2)) << 16);
}
uint64_t Le64(const std::string& b, size_t at) {
  return static_cast<uint64_t>(Le32(b, at)) | (static_cast<uint64_t>(Le32(b, at + 4)) << 32);
}
std::string HexId(const std::string& b, size_t at) {
  std::string out;
  for (int i = 0; i < 16; ++i) out += absl::StrFormat("%02x", static_cast<uint8_t>(b[at + i]));
  return out;
}

}  // namespace layerdisk
