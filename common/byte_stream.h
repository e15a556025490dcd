// ByteStream: bytes read once, front to back, whose length is known only at
// their end: a pipe into `layer import NAME -`, or such an import relayed
// over the control socket.
#ifndef LAYERDISK_COMMON_BYTE_STREAM_H_
#define LAYERDISK_COMMON_BYTE_STREAM_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace layerdisk {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Fills `out` from the stream: all of it, or less only where the stream
  // ends (0 once it has ended).
  virtual absl::StatusOr<size_t> Read(absl::Span<char> out) = 0;
};

// The stream of the open file descriptor `fd` (not owned); errors name it
// `what` ("standard input").
std::unique_ptr<ByteStream> NewFdStream(int fd, std::string what);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_BYTE_STREAM_H_
