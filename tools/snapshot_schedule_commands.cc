// `layerdisk snapshot schedule VOLUME --every INTERVAL --keep N | --off` and
// `layerdisk snapshot schedules`: snapshots a running `layerdisk serve`
// takes on a timetable (engine/snapshot_scheduler.h), keeping the newest N.
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/interval_parse.h"
#include "common/status_macros.h"
#include "tools/cli_context.h"
#include "tools/control/store_connect.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

struct ScheduleFlags {
  std::string volume;
  std::string every;
  int64_t keep = 0;
  bool keep_given = false;
  bool off = false;
};

// Without a server nobody takes the snapshots yet: say so rather than let
// the administrator wait for them.
std::string WithServerNote(std::string text, bool served) {
  if (served) return text;
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text + "(no server runs on this store: snapshots are taken while `layerdisk "
                "serve` runs)";
}

absl::Status Set(CliContext& ctx, const ScheduleFlags& flags) {
  if (flags.every.empty() || !flags.keep_given)
    return absl::InvalidArgumentError(
        "snapshot schedule needs --every INTERVAL and --keep N, or --off");
  ASSIGN_OR_RETURN(uint64_t every, ParseInterval(flags.every));
  if (flags.keep < 1 || flags.keep > kMaxScheduleKeep)
    return absl::InvalidArgumentError(absl::StrFormat(
        "--keep must be 1 to %d, not %d", kMaxScheduleKeep, flags.keep));
  const bool served = ServerAnswers(ctx.store_dir);
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  SnapshotSchedule want;
  want.volume = flags.volume;
  want.every_seconds = every;
  want.keep = static_cast<uint32_t>(flags.keep);
  // The first snapshot comes one interval from now; replacing a schedule
  // starts its timetable afresh.
  want.next_due_unix = static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())) + every;
  ASSIGN_OR_RETURN(SnapshotSchedule set, store->SetSnapshotSchedule(want));
  nlohmann::json doc = ToJson(set);
  doc["server_running"] = served;
  Emit(ctx.json, doc,
       WithServerNote(absl::StrFormat("volume %s: a snapshot every %s, keeping the newest "
                                      "%d scheduled ones; next at %s",
                                      set.volume, FormatInterval(set.every_seconds),
                                      set.keep, FormatUnixTime(set.next_due_unix)),
                      served));
  return absl::OkStatus();
}

absl::Status Off(CliContext& ctx, const ScheduleFlags& flags) {
  if (!flags.every.empty() || flags.keep_given)
    return absl::InvalidArgumentError("snapshot schedule --off takes no --every or --keep");
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  RETURN_IF_ERROR(store->RemoveSnapshotSchedule(flags.volume));
  Emit(ctx.json, {{"volume", flags.volume}, {"schedule_removed", true}},
       absl::StrFormat("volume %s: snapshot schedule removed (its scheduled snapshots "
                       "are kept)",
                       flags.volume));
  return absl::OkStatus();
}

absl::Status List(CliContext& ctx) {
  const bool served = ServerAnswers(ctx.store_dir);
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::vector<SnapshotSchedule> schedules, store->ListSnapshotSchedules());
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {{"VOLUME", "EVERY", "KEEP", "NEXT"}};
  for (const SnapshotSchedule& s : schedules) {
    doc.push_back(ToJson(s));
    rows.push_back({s.volume, FormatInterval(s.every_seconds), absl::StrCat(s.keep),
                    FormatUnixTime(s.next_due_unix)});
  }
  Emit(ctx.json, {{"schedules", doc}, {"server_running", served}},
       schedules.empty() ? "no snapshot schedules"
                         : WithServerNote(FormatTable(rows), served));
  return absl::OkStatus();
}

}  // namespace

void RegisterSnapshotScheduleCommands(CLI::App* group, CliContext& ctx) {
  auto flags = std::make_shared<ScheduleFlags>();
  CLI::App* cmd = group->add_subcommand(
      "schedule",
      "Snapshot a volume every INTERVAL while `layerdisk serve` runs, keeping the newest N "
      "scheduled snapshots (or --off)");
  cmd->add_option("VOLUME", flags->volume, "Volume name")->required();
  cmd->add_option("--every", flags->every,
                  "Interval: a number and s, m, h or d (30m, 1h, 1d); at least 1m unless "
                  "the server was started with --min-schedule-interval");
  CLI::Option* keep = cmd->add_option(
      "--keep", flags->keep, "Scheduled snapshots kept; older ones are deleted (manual ones never)");
  cmd->add_flag("--off", flags->off, "Remove the volume's schedule");
  ctx.Bind(cmd, [&ctx, flags, keep] {
    flags->keep_given = keep->count() > 0;
    return flags->off ? Off(ctx, *flags) : Set(ctx, *flags);
  });

  cmd = group->add_subcommand("schedules", "Every snapshot schedule and when it is due next");
  ctx.Bind(cmd, [&ctx] { return List(ctx); });
}

}  // namespace layerdisk
