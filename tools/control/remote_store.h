// RemoteStore: the Store interface over the control API of a running
// `layerdisk serve`. Devices it opens read and write through the server.
#ifndef LAYERDISK_TOOLS_CONTROL_REMOTE_STORE_H_
#define LAYERDISK_TOOLS_CONTROL_REMOTE_STORE_H_

#include <memory>
#include <string>

#include "engine/store.h"

namespace layerdisk {

// Connects to the control socket at `socket_path`. Unavailable when no
// server answers there within `timeout_ms`.
absl::StatusOr<std::unique_ptr<Store>> ConnectRemoteStore(const std::string& store_dir,
                                                          const std::string& socket_path,
                                                          int timeout_ms);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_CONTROL_REMOTE_STORE_H_
