#include <errno.h>
#include <unistd.h>

#include "common/byte_stream.h"
#include "common/env.h"

namespace layerdisk {
namespace {

class FdStream final : public ByteStream {
 public:
  FdStream(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}

  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    // A pipe hands over what its writer has written so far: read until
    // `out` is full or the writer has closed its end.
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd_, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IOError("read", what_, errno);
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    return got;
  }

 private:
  const int fd_;
  const std::string what_;
};

}  // namespace

std::unique_ptr<ByteStream> NewFdStream(int fd, std::string what) {
  return std::make_unique<FdStream>(fd, std::move(what));
}

}  // namespace layerdisk
