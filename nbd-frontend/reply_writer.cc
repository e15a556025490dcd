#include "nbd-frontend/reply_writer.h"

#include <algorithm>
#include <cstring>

namespace layerdisk::nbd {

void ReplyWriter::Send(struct iovec* iov, int iovcnt) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_) return;
  if (!transport_->WriteAll(iov, iovcnt).ok()) {
    failed_ = true;
    transport_->Shutdown();
  }
}

bool ReplyWriter::failed() {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

void ReplyWriter::SendOk(uint64_t handle) {
  // A simple reply is allowed for payload-free replies even when structured
  // replies are negotiated, and is 4 bytes shorter.
  char header[kSimpleReplyHeaderSize];
  EncodeSimpleReplyHeader(header, 0, handle);
  struct iovec iov = {header, sizeof(header)};
  Send(&iov, 1);
}

void ReplyWriter::SendError(uint64_t handle, uint32_t error,
                            std::string_view message) {
  if (!structured_) {
    char header[kSimpleReplyHeaderSize];
    EncodeSimpleReplyHeader(header, error, handle);
    struct iovec iov = {header, sizeof(header)};
    Send(&iov, 1);
    return;
  }
  message = message.substr(0, 512);
  char header[kStructuredReplyHeaderSize + 6];
  EncodeStructuredReplyHeader(header, kReplyFlagDone, kReplyTypeError, handle,
                              static_cast<uint32_t>(6 + message.size()));
  EncodeBE32(header + kStructuredReplyHeaderSize, error);
  EncodeBE16(header + kStructuredReplyHeaderSize + 4,
             static_cast<uint16_t>(message.size()));
  struct iovec iov[2] = {{header, sizeof(header)},
                         {const_cast<char*>(message.data()), message.size()}};
  Send(iov, message.empty() ? 1 : 2);
}

void ReplyWriter::SendReadData(uint64_t handle, uint64_t offset,
                               const char* data, uint32_t length) {
  char header[kStructuredReplyHeaderSize + 8];
  size_t header_size;
  if (structured_) {
    // The data is complete before the chunk is sent, so it can carry DONE.
    EncodeStructuredReplyHeader(header, kReplyFlagDone, kReplyTypeOffsetData,
                                handle, 8 + length);
    EncodeBE64(header + kStructuredReplyHeaderSize, offset);
    header_size = kStructuredReplyHeaderSize + 8;
  } else {
    EncodeSimpleReplyHeader(header, 0, handle);
    header_size = kSimpleReplyHeaderSize;
  }
  struct iovec iov[2] = {{header, header_size},
                         {const_cast<char*>(data), length}};
  Send(iov, 2);
}

void ReplyWriter::SendReadChunks(uint64_t handle,
                                 absl::Span<const ReadChunk> chunks) {
  constexpr size_t kHeaderRoom = kStructuredReplyHeaderSize + 12;
  std::vector<char> headers(chunks.size() * kHeaderRoom);
  std::vector<struct iovec> iov;
  iov.reserve(chunks.size() * 2);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ReadChunk& c = chunks[i];
    char* h = headers.data() + i * kHeaderRoom;
    uint16_t flags = i + 1 == chunks.size() ? kReplyFlagDone : 0;
    if (c.data == nullptr) {
      EncodeStructuredReplyHeader(h, flags, kReplyTypeOffsetHole, handle, 12);
      EncodeBE64(h + kStructuredReplyHeaderSize, c.offset);
      EncodeBE32(h + kStructuredReplyHeaderSize + 8, c.length);
      iov.push_back({h, kStructuredReplyHeaderSize + 12});
    } else {
      EncodeStructuredReplyHeader(h, flags, kReplyTypeOffsetData, handle,
                                  8 + c.length);
      EncodeBE64(h + kStructuredReplyHeaderSize, c.offset);
      iov.push_back({h, kStructuredReplyHeaderSize + 8});
      iov.push_back({const_cast<char*>(c.data), c.length});
    }
  }
  Send(iov.data(), static_cast<int>(iov.size()));
}

void ReplyWriter::SendBlockStatus(
    uint64_t handle, uint32_t context_id,
    absl::Span<const StatusDescriptor> descriptors) {
  std::vector<char> payload(kStructuredReplyHeaderSize + 4 +
                            8 * descriptors.size());
  char* p = payload.data();
  EncodeStructuredReplyHeader(
      p, kReplyFlagDone, kReplyTypeBlockStatus, handle,
      static_cast<uint32_t>(payload.size() - kStructuredReplyHeaderSize));
  p += kStructuredReplyHeaderSize;
  EncodeBE32(p, context_id);
  p += 4;
  for (const StatusDescriptor& d : descriptors) {
    EncodeBE32(p, d.length);
    EncodeBE32(p + 4, d.flags);
    p += 8;
  }
  struct iovec iov = {payload.data(), payload.size()};
  Send(&iov, 1);
}

}  // namespace layerdisk::nbd
