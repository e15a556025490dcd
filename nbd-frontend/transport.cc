#include "nbd-frontend/transport.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

absl::Status SocketError(const char* what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
}

class SocketTransport final : public Transport {
 public:
  explicit SocketTransport(int fd) : fd_(fd) {}
  ~SocketTransport() override { close(fd_); }

  absl::StatusOr<size_t> Read(char* buf, size_t len) override {
    for (;;) {
      int64_t deadline_ns = deadline_ns_.load(std::memory_order_relaxed);
      if (deadline_ns != kNoDeadline) {
        absl::Time deadline = absl::FromUnixNanos(deadline_ns);
        absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration())
          return absl::DeadlineExceededError("handshake timed out");
        struct pollfd p = {fd_, POLLIN, 0};
        int ms = static_cast<int>(
            std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
        int r = poll(&p, 1, ms);
        if (r < 0 && errno != EINTR) return SocketError("poll", errno);
        if (r <= 0) continue;
      }
      ssize_t n = recv(fd_, buf, len, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      return SocketError("recv", errno);
    }
  }

  absl::Status WriteAll(struct iovec* iov, int iovcnt) override {
    while (iovcnt > 0) {
      struct msghdr msg = {};
      msg.msg_iov = iov;
      msg.msg_iovlen = std::min(iovcnt, IOV_MAX);
      // MSG_NOSIGNAL: a vanished client is an error return, not SIGPIPE.
      ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return SocketError("send", errno);
      }
      size_t left = static_cast<size_t>(n);
      while (iovcnt > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --iovcnt;
      }
      if (iovcnt > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    return absl::OkStatus();
  }

  void Shutdown() override { shutdown(fd_, SHUT_RDWR); }

  void SetReadDeadline(absl::Time deadline) override {
    deadline_ns_.store(deadline == absl::InfiniteFuture()
                           ? kNoDeadline
                           : absl::ToUnixNanos(deadline));
  }

  int fd() const override { return fd_; }

 private:
  static constexpr int64_t kNoDeadline = INT64_MAX;
  const int fd_;
  std::atomic<int64_t> deadline_ns_{kNoDeadline};
};

}  // namespace

std::unique_ptr<Transport> NewSocketTransport(int fd) {
  return std::make_unique<SocketTransport>(fd);
}

absl::Status BufferedReader::ReadExact(char* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    if (begin_ < end_) {
      size_t take = std::min(n - done, end_ - begin_);
      memcpy(out + done, buf_.get() + begin_, take);
      begin_ += take;
      done += take;
      continue;
    }
    begin_ = end_ = 0;
    size_t want = n - done;
    size_t got;
    // Large payloads go straight to their destination; small reads refill
    // the buffer so the next headers are already here.
    if (want >= kBufferSize / 2) {
      ASSIGN_OR_RETURN(got, transport_->Read(out + done, want));
      done += got;
    } else {
      ASSIGN_OR_RETURN(got, transport_->Read(buf_.get(), kBufferSize));
      end_ = got;
    }
    if (got == 0) {
      if (done == 0) return absl::CancelledError("client closed the connection");
      return absl::OutOfRangeError("client closed the connection mid-message");
    }
  }
  return absl::OkStatus();
}

absl::Status BufferedReader::Skip(size_t n) {
  char scratch[4096];
  while (n > 0) {
    size_t take = std::min(n, sizeof(scratch));
    RETURN_IF_ERROR(ReadExact(scratch, take));
    n -= take;
  }
  return absl::OkStatus();
}

absl::Status WriteString(Transport& transport, const char* data, size_t n) {
  struct iovec iov = {const_cast<char*>(data), n};
  return transport.WriteAll(&iov, 1);
}

}  // namespace layerdisk
