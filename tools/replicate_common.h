// What the `layerdisk replicate` commands share (replicate_command.cc,
// replicate_volume_commands.cc).
#ifndef LAYERDISK_TOOLS_REPLICATE_COMMON_H_
#define LAYERDISK_TOOLS_REPLICATE_COMMON_H_

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include "absl/status/status.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"
#include "replication/peer_link.h"
#include "tools/cli_context.h"

namespace layerdisk {

// The local store opened in this process: replication reads and writes
// chunk records directly, which the control socket does not carry.
// FailedPrecondition (saying `why`) while a `layerdisk serve` owns it.
absl::Status OpenLocal(const CliContext& ctx, const std::string& why,
                       std::unique_ptr<Store>* store, std::unique_ptr<LayerExchange>* local);

// --insecure, --tls-cert, --tls-key, --tls-ca.
void AddSecurityFlags(CLI::App* cmd, PeerSecurity* security);

// push-volume and pull-volume, under `replicate`.
void RegisterReplicateVolumeCommands(CLI::App* group, CliContext& ctx);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_REPLICATE_COMMON_H_
