// Transport: the byte stream under one NBD connection. The plain socket
// implementation lives here; a TLS implementation wraps one (see
// TlsProvider in nbd_server.h). BufferedReader batches small reads so a
// client pipelining requests costs one recv for many request headers.
#ifndef LAYERDISK_NBD_FRONTEND_TRANSPORT_H_
#define LAYERDISK_NBD_FRONTEND_TRANSPORT_H_

#include <sys/uio.h>

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace layerdisk {

// Read() may be called by one thread while WriteAll() is called by another
// (serialised among writers by the caller); Shutdown() from any thread.
class Transport {
 public:
  virtual ~Transport() = default;
  // Reads at least one byte, at most `len`. 0 means the peer closed.
  // DeadlineExceeded once the deadline (if set) passes.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t len) = 0;
  // Writes every byte of every iovec. `iov` may be modified.
  virtual absl::Status WriteAll(struct iovec* iov, int iovcnt) = 0;
  // Makes blocked and future Read/WriteAll calls fail promptly.
  virtual void Shutdown() = 0;
  // absl::InfiniteFuture() clears it.
  virtual void SetReadDeadline(absl::Time deadline) = 0;
  // The socket, for TLS to wrap. The transport still owns it.
  virtual int fd() const = 0;
};

// Takes ownership of a connected socket.
std::unique_ptr<Transport> NewSocketTransport(int fd);

class BufferedReader {
 public:
  explicit BufferedReader(Transport* transport) : transport_(transport) {}
  BufferedReader(const BufferedReader&) = delete;
  BufferedReader& operator=(const BufferedReader&) = delete;

  // Reads exactly n bytes. OutOfRange if the peer closes before n bytes
  // (Cancelled if it closes cleanly before the first byte).
  absl::Status ReadExact(char* out, size_t n);
  // Reads and drops n bytes without buffering them all.
  absl::Status Skip(size_t n);
  // Bytes received but not yet consumed (must be zero at STARTTLS).
  size_t buffered() const { return end_ - begin_; }
  void set_transport(Transport* transport) { transport_ = transport; }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;
  Transport* transport_;
  std::unique_ptr<char[]> buf_{new char[kBufferSize]};
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Writes `data` in one call, for the handshake's small messages.
absl::Status WriteString(Transport& transport, const char* data, size_t n);

}  // namespace layerdisk

#endif  // LAYERDISK_NBD_FRONTEND_TRANSPORT_H_
