#include "tools/control/store_connect.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "tools/control/control_service.h"
#include "tools/control/remote_store.h"

namespace layerdisk {
namespace {

// Whether something accepts connections on the unix socket at `path`; a
// socket file left by a killed server refuses them.
bool SocketAnswers(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool ServerAnswers(const std::string& dir) { return SocketAnswers(ControlSocketPath(dir)); }

absl::StatusOr<std::unique_ptr<Store>> ConnectOrOpenStore(const std::string& dir,
                                                          const StoreOptions& options) {
  if (!options.error_if_exists && ServerAnswers(dir))
    return ConnectRemoteStore(dir, ControlSocketPath(dir), /*timeout_ms=*/5000);
  return Store::Open(dir, options);
}

}  // namespace layerdisk
