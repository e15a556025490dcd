// ImageFile: bounded reads of an image's metadata for the format parsers,
// which must treat every offset in the file as hostile.
#ifndef LAYERDISK_TOOLS_IMAGES_IMAGE_FILE_H_
#define LAYERDISK_TOOLS_IMAGES_IMAGE_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace layerdisk {

class ImageFile {
 public:
  static absl::StatusOr<ImageFile> Open(const std::string& path);
  ImageFile(ImageFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }
  ImageFile(const ImageFile&) = delete;
  ~ImageFile();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Exactly `length` bytes at `offset`; DataLoss naming `what` when the file
  // ends before them (a truncated image or an offset pointing past its end).
  absl::StatusOr<std::string> Read(uint64_t offset, uint64_t length, const std::string& what) const;
  // The same into `out` (out.size() bytes).
  absl::Status ReadInto(uint64_t offset, absl::Span<char> out, const std::string& what) const;

 private:
  ImageFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  absl::Status PastEnd(uint64_t offset, uint64_t length, const std::string& what) const;
  std::string path_;
  int fd_;
  uint64_t size_;
};

// Big- and little-endian fields of on-disk structures.
uint32_t Be32(const std::string& b, size_t at);
uint64_t Be64(const std::string& b, size_t at);
uint16_t Le16(const std::string& b, size_t at);
uint32_t Le32(const std::string& b, size_t at);
uint64_t Le64(const std::string& b, size_t at);
// 16 bytes as 32 lowercase hex digits, in file order.
std::string HexId(const std::string& b, size_t at);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_IMAGE_FILE_H_
