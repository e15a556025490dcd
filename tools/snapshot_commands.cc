// `layerdisk snapshot ...`: create, list, rollback, delete (schedules are in
// snapshot_schedule_commands.cc).
#include <chrono>
#include <memory>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "tools/cli_context.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

std::string FormatUnixMs(uint64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S",
                          absl::FromUnixMillis(static_cast<int64_t>(unix_ms)),
                          absl::LocalTimeZone());
}

absl::Status Create(CliContext& ctx, const std::string& volume,
                    const std::string& name) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(SnapshotInfo snap, store->CreateSnapshot(volume, name));
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
  nlohmann::json doc = ToJson(snap);
  doc["latency_ms"] = ms;
  Emit(ctx.json, doc,
       absl::StrFormat("created snapshot %s@%s in %.2f ms (%s changed since the "
                       "previous snapshot)",
                       volume, snap.name, ms, FormatSize(snap.changed_bytes)));
  return absl::OkStatus();
}

absl::Status List(CliContext& ctx, const std::string& volume) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snaps, store->ListSnapshots(volume));
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {{"TIME", "NAME", "CHANGED", "SCHEDULED"}};
  for (const SnapshotInfo& s : snaps) {
    doc.push_back(ToJson(s));
    rows.push_back({FormatUnixMs(s.created_unix_ms), s.name,
                    "+" + FormatSize(s.changed_bytes), s.scheduled ? "yes" : "no"});
  }
  Emit(ctx.json, {{"volume", volume}, {"snapshots", doc}},
       snaps.empty() ? absl::StrFormat("volume %s has no snapshots", volume)
                     : absl::StrFormat("snapshots of %s, oldest first:\n%s", volume,
                                       FormatTable(rows)));
  return absl::OkStatus();
}

absl::Status Rollback(CliContext& ctx, const std::string& volume,
                      const std::string& name, bool force) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  RETURN_IF_ERROR(store->RollbackSnapshot(volume, name, force));
  Emit(ctx.json, {{"volume", volume}, {"rolled_back_to", name}},
       absl::StrFormat("rolled volume %s back to snapshot %s", volume, name));
  return absl::OkStatus();
}

absl::Status Delete(CliContext& ctx, const std::string& volume,
                    const std::string& name, bool force) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  RETURN_IF_ERROR(store->DeleteSnapshot(volume, name, force));
  Emit(ctx.json, {{"volume", volume}, {"deleted", name}},
       absl::StrFormat("deleted snapshot %s@%s", volume, name));
  return absl::OkStatus();
}

}  // namespace

void RegisterSnapshotCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("snapshot", "Snapshot and roll back volumes");
  group->require_subcommand(1);
  auto volume = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);

  CLI::App* cmd = group->add_subcommand("create", "Freeze a volume's current state (O(1))");
  cmd->add_option("VOLUME", *volume, "Volume name")->required();
  cmd->add_option("NAME", *name, "Snapshot name")->required();
  ctx.Bind(cmd, [&ctx, volume, name] { return Create(ctx, *volume, *name); });

  cmd = group->add_subcommand("list", "A volume's snapshots: time and bytes changed");
  cmd->add_option("VOLUME", *volume, "Volume name")->required();
  ctx.Bind(cmd, [&ctx, volume] { return List(ctx, *volume); });

  cmd = group->add_subcommand("rollback",
                              "Make a volume read as at a snapshot (later writes are lost)");
  cmd->add_option("VOLUME", *volume, "Volume name")->required();
  cmd->add_option("NAME", *name, "Snapshot name")->required();
  cmd->add_flag("--force", *force, "Roll back even while the volume is in use");
  ctx.Bind(cmd, [&ctx, volume, name, force] {
    return Rollback(ctx, *volume, *name, *force);
  });

  cmd = group->add_subcommand("delete", "Delete a snapshot");
  cmd->add_option("VOLUME", *volume, "Volume name")->required();
  cmd->add_option("NAME", *name, "Snapshot name")->required();
  cmd->add_flag("--force", *force,
                "Delete even while a client reads the snapshot (it is disconnected)");
  ctx.Bind(cmd, [&ctx, volume, name, force] { return Delete(ctx, *volume, *name, *force); });

  RegisterSnapshotScheduleCommands(group, ctx);
}

}  // namespace layerdisk
