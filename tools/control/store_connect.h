// How every CLI command reaches a store: through the running server's
// control socket when a server owns the store, else by opening it directly.
#ifndef LAYERDISK_TOOLS_CONTROL_STORE_CONNECT_H_
#define LAYERDISK_TOOLS_CONTROL_STORE_CONNECT_H_

#include <memory>
#include <string>

#include "engine/store.h"

namespace layerdisk {

// Whether a `layerdisk serve` answers on the store's control socket.
bool ServerAnswers(const std::string& dir);

absl::StatusOr<std::unique_ptr<Store>> ConnectOrOpenStore(const std::string& dir,
                                                          const StoreOptions& options);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_CONTROL_STORE_CONNECT_H_
