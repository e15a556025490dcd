// `layerdisk`: the administrator's command line. Parsing and dispatch only;
// each command group lives in its own file and registers itself here.
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/cli_context.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

constexpr char kDefaultStore[] = "./layerdisk-store";

int Run(int argc, char** argv) {
  CLI::App app("layerdisk: layered, deduplicating block storage for virtual desktops",
               "layerdisk");
  // Global flags are accepted after the subcommand too (`layerdisk stats
  // --json`): subcommands created below inherit fallthrough.
  app.fallthrough();
  app.require_subcommand(1);
  CliContext ctx;
  ctx.store_dir = kDefaultStore;
  app.add_option("--store", ctx.store_dir, "Store directory")
      ->envname("LAYERDISK_STORE")
      ->capture_default_str();
  app.add_flag("--json", ctx.json, "Print results as JSON");
  app.footer(
      "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 already exists, "
      "5 in use or refused, 6 damaged data, 7 store busy, 8 disk full.");

  RegisterMaintenanceCommands(app, ctx);
  RegisterLayerCommands(app, ctx);
  RegisterVolumeCommands(app, ctx);
  RegisterLayerOpsCommands(app, ctx);
  RegisterSnapshotCommands(app, ctx);
  RegisterCompareCommands(app, ctx);
  RegisterServeCommand(app, ctx);
  RegisterReplicateCommands(app, ctx);
  RegisterPoolCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return ReportError(absl::InvalidArgumentError(
        std::string(e.what()) + " (run with --help for usage)"));
  }
  if (!ctx.action())
    return ReportError(absl::InvalidArgumentError(
        "missing command (run with --help for usage)"));
  absl::Status status = ctx.action()();
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace
}  // namespace layerdisk

int main(int argc, char** argv) { return layerdisk::Run(argc, argv); }
