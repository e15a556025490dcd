// Listening sockets for "unix:PATH" and "tcp:HOST:PORT" addresses.
#ifndef LAYERDISK_NBD_FRONTEND_LISTENER_H_
#define LAYERDISK_NBD_FRONTEND_LISTENER_H_

#include <string>

#include "absl/status/statusor.h"

namespace layerdisk::nbd {

struct Listener {
  int fd = -1;
  bool is_unix = false;
  std::string address;    // as bound, with the real port
  std::string unix_path;  // removed again when the server stops
};

// Binds and listens. A stale unix socket (nobody accepting) is replaced; a
// live one is AlreadyExists.
absl::StatusOr<Listener> Listen(const std::string& address);

// Describes an accepted client for the connection log.
std::string PeerName(int fd, bool is_unix);

// Socket options for an accepted connection: TCP_NODELAY, since replies
// are complete messages and Nagle would hold back the small ones, and
// larger unix-socket buffers so a 4 KiB queue-depth-32 workload never
// waits for the peer to drain.
void TuneAcceptedSocket(int fd, bool is_unix, int unix_buffer_bytes);

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_LISTENER_H_
