// `layerdisk pool ...`: the stores sharing a RADOS pool (docs/ceph.md).
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "tools/cli_context.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

absl::Status Stores(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::vector<PoolStore> stores, store->ListPoolStores());
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {{"STORE", "WHERE", ""}};
  for (const PoolStore& s : stores) {
    doc.push_back({{"id", s.id}, {"where", s.where}, {"self", s.self}});
    rows.push_back({s.id, s.where, s.self ? "(this store)" : ""});
  }
  Emit(ctx.json, {{"stores", doc}}, FormatTable(rows));
  return absl::OkStatus();
}

absl::Status Forget(CliContext& ctx, const std::string& id, bool confirmed) {
  if (!confirmed)
    return absl::FailedPreconditionError(absl::StrFormat(
        "forgetting store %s removes the chunks only it references from the pool; a store "
        "that still runs, or comes back, loses them. Stop it for good first, then add "
        "--confirm",
        id));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(PoolForgetResult r, store->ForgetPoolStore(id));
  Emit(ctx.json,
       {{"id", id},
        {"was_registered", r.was_registered},
        {"references_dropped", r.references_dropped},
        {"chunks_removed", r.chunks_removed}},
       absl::StrFormat("forgot store %s%s: dropped its reference from %d chunks, removed %d "
                       "chunks no store references",
                       id, r.was_registered ? "" : " (it was no longer registered)",
                       r.references_dropped, r.chunks_removed));
  return absl::OkStatus();
}

}  // namespace

void RegisterPoolCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group =
      app.add_subcommand("pool", "The stores sharing this store's RADOS pool (init --chunks rados)");
  group->require_subcommand(1);
  ctx.Bind(group->add_subcommand("stores", "List the stores registered in the pool"),
           [&ctx] { return Stores(ctx); });
  auto id = std::make_shared<std::string>();
  auto confirmed = std::make_shared<bool>(false);
  CLI::App* cmd = group->add_subcommand(
      "forget", "Remove a store that is gone for good from the pool, and the chunks only it held");
  cmd->add_option("STORE", *id, "Store id (pool stores)")->required();
  cmd->add_flag("--confirm", *confirmed, "The store is stopped for good");
  ctx.Bind(cmd, [&ctx, id, confirmed] { return Forget(ctx, *id, *confirmed); });
}

}  // namespace layerdisk
