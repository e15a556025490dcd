#include "nbd-frontend/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace layerdisk::nbd {
namespace {

constexpr int kBacklog = 128;

absl::Status Errno(const std::string& what, int err) {
  if (err == EADDRINUSE) return absl::AlreadyExistsError(absl::StrCat(what, ": ", strerror(err)));
  if (err == EACCES || err == EPERM)
    return absl::PermissionDeniedError(absl::StrCat(what, ": ", strerror(err)));
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(err)));
}

std::string FormatSockaddr(const struct sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const struct sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return "?";
}

// True if something accepts connections on the unix socket at `path`.
bool UnixSocketLive(const struct sockaddr_un& addr) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;  // cannot tell: do not delete it
  bool live = connect(fd, reinterpret_cast<const struct sockaddr*>(&addr),
                      sizeof(addr)) == 0 || errno != ECONNREFUSED;
  close(fd);
  return live;
}

absl::StatusOr<Listener> ListenUnix(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path empty or longer than ",
                     sizeof(addr.sun_path) - 1, " bytes: ", path));
  memcpy(addr.sun_path, path.data(), path.size());
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode) || UnixSocketLive(addr))
      return absl::AlreadyExistsError(absl::StrCat(path, " exists"));
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket", errno);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, kBacklog) != 0) {
    int err = errno;
    close(fd);
    return Errno(absl::StrCat("listen on ", path), err);
  }
  Listener l;
  l.fd = fd;
  l.is_unix = true;
  l.address = absl::StrCat("unix:", path);
  l.unix_path = path;
  return l;
}

absl::StatusOr<Listener> ListenTcp(const std::string& spec) {
  // HOST:PORT, HOST may be [v6] and may be empty (all interfaces).
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError(absl::StrCat("expected HOST:PORT, got ", spec));
  std::string host = spec.substr(0, colon);
  std::string port = spec.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port_number;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535)
    return absl::InvalidArgumentError(absl::StrCat("bad port in ", spec));

  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* result = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(),
                       &hints, &result);
  if (rc != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", spec, ": ", gai_strerror(rc)));
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", spec));
  for (struct addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Errno("socket", errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, kBacklog) != 0) {
      last = Errno(absl::StrCat("listen on ", spec), errno);
      close(fd);
      continue;
    }
    struct sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<struct sockaddr*>(&bound), &len);
    freeaddrinfo(result);
    Listener l;
    l.fd = fd;
    l.address = absl::StrCat("tcp:", FormatSockaddr(reinterpret_cast<struct sockaddr*>(&bound)));
    return l;
  }
  freeaddrinfo(result);
  return last;
}

}  // namespace

absl::StatusOr<Listener> Listen(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) return ListenUnix(address.substr(5));
  if (absl::StartsWith(address, "tcp:")) return ListenTcp(address.substr(4));
  return absl::InvalidArgumentError(
      absl::StrCat("listen address must be unix:PATH or tcp:HOST:PORT, got '",
                   address, "'"));
}

std::string PeerName(int fd, bool is_unix) {
  if (is_unix) return "unix";
  struct sockaddr_storage peer;
  socklen_t len = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&peer), &len) != 0)
    return "?";
  return FormatSockaddr(reinterpret_cast<struct sockaddr*>(&peer));
}

void TuneAcceptedSocket(int fd, bool is_unix, int unix_buffer_bytes) {
  if (is_unix) {
    if (unix_buffer_bytes > 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &unix_buffer_bytes, sizeof(int));
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &unix_buffer_bytes, sizeof(int));
    }
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace layerdisk::nbd
