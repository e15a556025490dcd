#include "nbd-frontend/reply_writer.h"

#include <limits.h>

#include <algorithm>
#include <cstring>

namespace layerdisk::nbd {
namespace {

// A batch stops growing here; the rest goes in the next writev.
constexpr size_t kMaxBatchIov = IOV_MAX;

}  // namespace

void ReplyWriter::SetIov(PendingReply* reply, const char* a, size_t a_len,
                         const char* b, size_t b_len) {
  reply->iov_[0] = {const_cast<char*>(a), a_len};
  reply->iovcnt_ = 1;
  reply->many_ = false;
  if (b_len > 0) {
    reply->iov_[1] = {const_cast<char*>(b), b_len};
    reply->iovcnt_ = 2;
  }
}

void ReplyWriter::SendOk(PendingReply* reply, uint64_t handle) {
  // A simple reply is allowed for payload-free replies even when structured
  // replies are negotiated, and is 4 bytes shorter.
  EncodeSimpleReplyHeader(reply->header_, 0, handle);
  SetIov(reply, reply->header_, kSimpleReplyHeaderSize);
  Enqueue(reply);
}

void ReplyWriter::SendError(PendingReply* reply, uint64_t handle,
                            uint32_t error, std::string_view message) {
  if (!structured_) {
    EncodeSimpleReplyHeader(reply->header_, error, handle);
    SetIov(reply, reply->header_, kSimpleReplyHeaderSize);
    Enqueue(reply);
    return;
  }
  reply->message_.assign(message.substr(0, 512));
  char* h = reply->header_;
  EncodeStructuredReplyHeader(h, kReplyFlagDone, kReplyTypeError, handle,
                              static_cast<uint32_t>(6 + reply->message_.size()));
  EncodeBE32(h + kStructuredReplyHeaderSize, error);
  EncodeBE16(h + kStructuredReplyHeaderSize + 4,
             static_cast<uint16_t>(reply->message_.size()));
  SetIov(reply, h, kStructuredReplyHeaderSize + 6, reply->message_.data(),
         reply->message_.size());
  Enqueue(reply);
}

void ReplyWriter::SendReadData(PendingReply* reply, uint64_t handle,
                               uint64_t offset, const char* data,
                               uint32_t length) {
  char* h = reply->header_;
  if (structured_) {
    // The data is complete before the chunk is sent, so it can carry DONE.
    EncodeStructuredReplyHeader(h, kReplyFlagDone, kReplyTypeOffsetData,
                                handle, 8 + length);
    EncodeBE64(h + kStructuredReplyHeaderSize, offset);
    SetIov(reply, h, kStructuredReplyHeaderSize + 8, data, length);
  } else {
    EncodeSimpleReplyHeader(h, 0, handle);
    SetIov(reply, h, kSimpleReplyHeaderSize, data, length);
  }
  Enqueue(reply);
}

void ReplyWriter::SendReadChunks(PendingReply* reply, uint64_t handle,
                                 absl::Span<const ReadChunk> chunks) {
  constexpr size_t kRoom = kStructuredReplyHeaderSize + 12;
  reply->scratch_.resize(chunks.size() * kRoom);
  reply->many_iov_.clear();
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ReadChunk& c = chunks[i];
    char* h = reply->scratch_.data() + i * kRoom;
    uint16_t flags = i + 1 == chunks.size() ? kReplyFlagDone : 0;
    if (c.data == nullptr) {
      EncodeStructuredReplyHeader(h, flags, kReplyTypeOffsetHole, handle, 12);
      EncodeBE64(h + kStructuredReplyHeaderSize, c.offset);
      EncodeBE32(h + kStructuredReplyHeaderSize + 8, c.length);
      reply->many_iov_.push_back({h, kStructuredReplyHeaderSize + 12});
    } else {
      EncodeStructuredReplyHeader(h, flags, kReplyTypeOffsetData, handle,
                                  8 + c.length);
      EncodeBE64(h + kStructuredReplyHeaderSize, c.offset);
      reply->many_iov_.push_back({h, kStructuredReplyHeaderSize + 8});
      reply->many_iov_.push_back({const_cast<char*>(c.data), c.length});
    }
  }
  reply->iovcnt_ = static_cast<int>(reply->many_iov_.size());
  reply->many_ = true;
  Enqueue(reply);
}

void ReplyWriter::SendBlockStatus(PendingReply* reply, uint64_t handle,
                                  absl::Span<const ContextStatus> contexts) {
  std::vector<char>& payload = reply->scratch_;
  size_t total = 0;
  for (const ContextStatus& c : contexts)
    total += kStructuredReplyHeaderSize + 4 + 8 * c.descriptors.size();
  payload.resize(total);
  char* p = payload.data();
  for (size_t i = 0; i < contexts.size(); ++i) {
    const ContextStatus& c = contexts[i];
    EncodeStructuredReplyHeader(p, i + 1 == contexts.size() ? kReplyFlagDone : 0,
                                kReplyTypeBlockStatus, handle,
                                static_cast<uint32_t>(4 + 8 * c.descriptors.size()));
    p += kStructuredReplyHeaderSize;
    EncodeBE32(p, c.context_id);
    p += 4;
    for (const StatusDescriptor& d : c.descriptors) {
      EncodeBE32(p, d.length);
      EncodeBE32(p + 4, d.flags);
      p += 8;
    }
  }
  SetIov(reply, payload.data(), payload.size());
  Enqueue(reply);
}

void ReplyWriter::Enqueue(PendingReply* reply) {
  reply->next_ = nullptr;
  PendingReply* batch;
  bool failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tail_ != nullptr) {
      tail_->next_ = reply;
    } else {
      head_ = reply;
    }
    tail_ = reply;
    if (sending_) return;  // the current sender will pick it up
    sending_ = true;
    batch = head_;
    head_ = tail_ = nullptr;
    failed = failed_;
  }
  for (;;) {
    const bool ok = WriteBatch(batch, failed);
    PendingReply* const sent = batch;
    bool more;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!ok) failed_ = true;
      failed = failed_;
      more = head_ != nullptr;
      if (more) {
        batch = head_;
        head_ = tail_ = nullptr;
      } else {
        sending_ = false;
      }
    }
    // After the lock, and with nothing of this writer used afterwards unless
    // replies of the next batch (not yet OnSent) keep the connection up: the
    // connection ends when its last reply is out, and frees this writer.
    NotifySent(sent);
    if (!more) return;
  }
}

bool ReplyWriter::WriteBatch(PendingReply* first, bool failed) {
  for (PendingReply* r = first; r != nullptr && !failed;) {
    // Gather replies until the iovec array is full.
    batch_.clear();
    while (r != nullptr &&
           (batch_.empty() || batch_.size() + r->iovcnt_ <= kMaxBatchIov)) {
      const struct iovec* iov = r->many_ ? r->many_iov_.data() : r->iov_;
      batch_.insert(batch_.end(), iov, iov + r->iovcnt_);
      r = r->next_;
    }
    if (!transport_->WriteAll(batch_.data(), static_cast<int>(batch_.size())).ok()) {
      failed = true;
      transport_->Shutdown();
    }
  }
  return !failed;
}

void ReplyWriter::NotifySent(PendingReply* first) {
  while (first != nullptr) {
    PendingReply* next = first->next_;  // OnSent may recycle it
    first->OnSent();
    first = next;
  }
}

}  // namespace layerdisk::nbd
