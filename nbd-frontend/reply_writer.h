// ReplyWriter: encodes transmission-phase replies and sends them.
//
// Replies are queued, not sent under a lock: whichever thread finds the
// queue idle becomes the sender and writes everything queued meanwhile
// with one writev, so under load many replies share a syscall and no
// worker waits for another's send to finish.
//
// Thread-safe. After a send fails the writer shuts the transport down (the
// reader thread then sees the connection end) and drops later replies.
#ifndef LAYERDISK_NBD_FRONTEND_REPLY_WRITER_H_
#define LAYERDISK_NBD_FRONTEND_REPLY_WRITER_H_

#include <sys/uio.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "nbd-frontend/nbd_protocol.h"
#include "nbd-frontend/transport.h"

namespace layerdisk::nbd {

// One reply on its way out: the bytes to send (which must stay valid until
// OnSent) and the storage encoding needs. Reused across requests, so its
// vectors keep their capacity.
class PendingReply {
 public:
  // Called once the reply is written, or dropped after a send failure.
  // The writer touches nothing of its own after the OnSent calls of its
  // last batch, so the last OnSent of a connection may free the writer.
  virtual void OnSent() = 0;

 protected:
  ~PendingReply() = default;

 private:
  friend class ReplyWriter;
  static constexpr int kInlineIov = 2;

  char header_[kStructuredReplyHeaderSize + 12];
  struct iovec iov_[kInlineIov];
  int iovcnt_ = 0;
  bool many_ = false;                   // iovecs are in many_iov_
  std::vector<struct iovec> many_iov_;
  std::vector<char> scratch_;           // chunk headers, block status payload
  std::string message_;                 // error text
  PendingReply* next_ = nullptr;
};

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

// The descriptors of one selected meta context.
struct ContextStatus {
  uint32_t context_id = 0;
  std::vector<StatusDescriptor> descriptors;
};

class ReplyWriter {
 public:
  ReplyWriter(Transport* transport, bool structured)
      : transport_(transport), structured_(structured) {}

  // Each call queues exactly one reply to request `handle` and ends with
  // `reply->OnSent()`, possibly on another thread.

  // Success without payload (every command but READ and BLOCK_STATUS).
  void SendOk(PendingReply* reply, uint64_t handle);
  // An error reply; structured when negotiated (mandatory for READ).
  void SendError(PendingReply* reply, uint64_t handle, uint32_t error,
                 std::string_view message);
  // A whole successful read as one data chunk (or a simple reply). `data`
  // must stay valid until OnSent.
  void SendReadData(PendingReply* reply, uint64_t handle, uint64_t offset,
                    const char* data, uint32_t length);
  // A successful structured read as data and hole chunks.
  // REQUIRES: structured replies; chunks non-empty.
  void SendReadChunks(PendingReply* reply, uint64_t handle,
                      absl::Span<const ReadChunk> chunks);
  // One block status chunk per context, the last flagged done.
  // REQUIRES: structured replies; contexts and each one's descriptors
  // non-empty.
  void SendBlockStatus(PendingReply* reply, uint64_t handle,
                       absl::Span<const ContextStatus> contexts);

 private:
  void SetIov(PendingReply* reply, const char* a, size_t a_len,
              const char* b = nullptr, size_t b_len = 0);
  void Enqueue(PendingReply* reply);
  // Writes a batch (unless `failed`); false once the connection is broken.
  bool WriteBatch(PendingReply* first, bool failed);
  // Calls OnSent for each reply of a batch written or dropped. Static: it
  // may run after the writer is gone.
  static void NotifySent(PendingReply* first);

  Transport* const transport_;
  const bool structured_;

  std::mutex mu_;
  PendingReply* head_ = nullptr;  // guarded by mu_
  PendingReply* tail_ = nullptr;  // guarded by mu_
  bool sending_ = false;          // guarded by mu_
  bool failed_ = false;           // guarded by mu_
  // Used only by the thread that set sending_.
  std::vector<struct iovec> batch_;
};

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_REPLY_WRITER_H_
