#include "tools/cli_context.h"

#include "tools/control/store_connect.h"

namespace layerdisk {

void CliContext::Bind(CLI::App* command, std::function<absl::Status()> run) {
  command->callback([this, run = std::move(run)] { action_ = run; });
}

absl::StatusOr<std::unique_ptr<Store>> CliContext::OpenStore() const {
  return OpenStore(StoreOptions());
}

absl::StatusOr<std::unique_ptr<Store>> CliContext::OpenStore(
    const StoreOptions& options) const {
  return ConnectOrOpenStore(store_dir, options);
}

}  // namespace layerdisk
