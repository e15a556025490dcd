// ReplyWriter: encodes transmission-phase replies and sends each one with a
// single writev under the connection's send mutex, so replies from many
// workers interleave whole and header and payload leave in one syscall.
//
// Thread-safe. After a send fails the writer shuts the transport down (the
// reader thread then sees the connection end) and drops later replies.
#ifndef LAYERDISK_NBD_FRONTEND_REPLY_WRITER_H_
#define LAYERDISK_NBD_FRONTEND_REPLY_WRITER_H_

#include <sys/uio.h>

#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "nbd-frontend/nbd_protocol.h"
#include "nbd-frontend/transport.h"

namespace layerdisk::nbd {

// One content chunk of a structured read reply.
struct ReadChunk {
  uint64_t offset = 0;
  uint32_t length = 0;
  const char* data = nullptr;  // null: a hole (reads as zeroes)
};

struct StatusDescriptor {
  uint32_t length = 0;
  uint32_t flags = 0;
};

class ReplyWriter {
 public:
  ReplyWriter(Transport* transport, bool structured)
      : transport_(transport), structured_(structured) {}

  // Success without payload (every command but READ and BLOCK_STATUS).
  void SendOk(uint64_t handle);
  // An error reply; structured when negotiated (mandatory for READ).
  void SendError(uint64_t handle, uint32_t error, std::string_view message);
  // A whole successful read as one data chunk (or a simple reply).
  void SendReadData(uint64_t handle, uint64_t offset, const char* data,
                    uint32_t length);
  // A successful structured read as data and hole chunks.
  // REQUIRES: structured replies; chunks non-empty.
  void SendReadChunks(uint64_t handle, absl::Span<const ReadChunk> chunks);
  // REQUIRES: structured replies; descriptors non-empty.
  void SendBlockStatus(uint64_t handle, uint32_t context_id,
                       absl::Span<const StatusDescriptor> descriptors);

  bool failed();

 private:
  void Send(struct iovec* iov, int iovcnt);

  Transport* const transport_;
  const bool structured_;
  std::mutex mu_;
  bool failed_ = false;  // guarded by mu_
};

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_REPLY_WRITER_H_
