// What every `layerdisk` command shares: the global flags, how a command is
// bound to the parser, and how the store is opened.
#ifndef LAYERDISK_TOOLS_CLI_CONTEXT_H_
#define LAYERDISK_TOOLS_CLI_CONTEXT_H_

#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/store.h"

namespace layerdisk {

class CliContext {
 public:
  // Global flags, filled by the parser.
  std::string store_dir;
  bool json = false;

  // Makes `run` the action when `command` is the subcommand given.
  void Bind(CLI::App* command, std::function<absl::Status()> run);
  // The action chosen by parsing; empty before parsing or for bare groups.
  const std::function<absl::Status()>& action() const { return action_; }

  // The store in `store_dir`: through the control socket when `layerdisk
  // serve` owns it, else opened here (created with defaults if missing).
  absl::StatusOr<std::unique_ptr<Store>> OpenStore() const;
  absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) const;

 private:
  std::function<absl::Status()> action_;
};

// One registration function per command group; main.cc calls each once.
void RegisterMaintenanceCommands(CLI::App& app, CliContext& ctx);  // init stats gc fsck
void RegisterLayerCommands(CLI::App& app, CliContext& ctx);        // layer ...
void RegisterVolumeCommands(CLI::App& app, CliContext& ctx);       // volume ..., export
// layer merge/flatten/describe, volume rebase; after the two above.
void RegisterLayerOpsCommands(CLI::App& app, CliContext& ctx);
void RegisterSnapshotCommands(CLI::App& app, CliContext& ctx);     // snapshot ...
// snapshot schedule, snapshot schedules: called by RegisterSnapshotCommands.
void RegisterSnapshotScheduleCommands(CLI::App* snapshot_group, CliContext& ctx);
void RegisterServeCommand(CLI::App& app, CliContext& ctx);         // serve
void RegisterReplicateCommands(CLI::App& app, CliContext& ctx);   // replicate ...
void RegisterPoolCommands(CLI::App& app, CliContext& ctx);         // pool stores, pool forget
// layer diff/conflicts, snapshot diff, volume map; after their groups.
void RegisterCompareCommands(CLI::App& app, CliContext& ctx);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_CLI_CONTEXT_H_
