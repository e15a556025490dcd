#include "engine/pool_catalog.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/manifest_codec.h"
#include "layers/merged_index.h"

namespace layerdisk {
namespace {

std::string HexIdentity(const LayerManifest& m) { return absl::BytesToHexString(m.identity); }

bool Adopted(const LayerInfo& layer) {
  return layer.source == absl::StrCat("replicate:", kPoolOrigin);
}

}  // namespace

PoolCatalog::PoolCatalog(Store* store, ChunkStore* chunks)
    : store_(store),
      chunks_(chunks),
      pool_(chunks->shared_pool()),
      exchange_(GetLayerExchange(store)) {}

absl::Status PoolCatalog::Publish(const std::string& name) {
  ASSIGN_OR_RETURN(LayerManifest m, exchange_->ExportLayerManifest(name));
  absl::Status s = pool_->PublishLayer(name, HexIdentity(m), EncodeManifest(m));
  if (!s.ok() && !absl::IsAlreadyExists(s))
    return absl::Status(s.code(), absl::StrCat("layer ", name, " is stored here but not yet "
                                               "shared (it is at the next start): ",
                                               s.message()));
  return s;
}

absl::Status PoolCatalog::PublishAll() {
  ASSIGN_OR_RETURN(std::vector<PoolLayer> published, pool_->ListLayers());
  absl::flat_hash_set<std::string> names;
  for (const PoolLayer& p : published) names.insert(p.name);
  ASSIGN_OR_RETURN(std::vector<LayerInfo> layers, store_->ListLayers());
  for (const LayerInfo& layer : layers) {
    if (!layer.sealed || layer.fetching || Adopted(layer) || names.contains(layer.name))
      continue;
    absl::Status s = Publish(layer.name);
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  }
  return absl::OkStatus();
}

absl::Status PoolCatalog::CheckNameFree(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<PoolLayer> published, pool_->ListLayers());
  for (const PoolLayer& p : published)
    if (p.name == name)
      return absl::AlreadyExistsError(absl::StrCat("layer ", name, " exists in RADOS pool ",
                                                   pool_->pool_name(), " (published by ",
                                                   p.published_by, ")"));
  return absl::OkStatus();
}

absl::Status PoolCatalog::Adopt(const std::string& name) { return AdoptChain(name, 0); }

absl::Status PoolCatalog::AdoptChain(const std::string& name, int depth) {
  if (depth > static_cast<int>(kMaxStackDepth))
    return absl::DataLossError(absl::StrCat("layer ", name, " in RADOS pool ",
                                            pool_->pool_name(), " has a parent chain loop"));
  ASSIGN_OR_RETURN(std::string bytes, pool_->ReadLayer(name));
  ASSIGN_OR_RETURN(LayerManifest m, DecodeManifest(bytes));
  if (m.name != name)
    return absl::DataLossError(absl::StrCat("the pool's manifest of layer ", name,
                                            " names layer ", m.name));
  RETURN_IF_ERROR(ValidateManifest(m));
  if (m.block_size != exchange_->chunk_size())
    return absl::FailedPreconditionError(absl::StrCat(
        "layer ", name, " has ", m.block_size, "-byte chunks; this store's are ",
        exchange_->chunk_size()));
  if (!m.parent.empty() && absl::IsNotFound(store_->GetLayer(m.parent).status()))
    RETURN_IF_ERROR(AdoptChain(m.parent, depth + 1));
  std::vector<ChunkName> names;
  absl::flat_hash_set<ChunkName> seen;
  for (const ManifestSegment& s : m.segments)
    for (const ChunkName& n : s.map.names)
      if (seen.insert(n).second) names.push_back(n);
  // A GC of this store between the adoption and the commit removes the
  // adopted chunks again (they have no local count yet): one more try.
  absl::Status committed;
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::Status adopted = chunks_->AdoptPooled(names, m.block_size);
    if (absl::IsNotFound(adopted))
      return absl::NotFoundError(absl::StrCat("layer ", name, " cannot be used: ",
                                              adopted.message(),
                                              " (the layer was deleted meanwhile)"));
    RETURN_IF_ERROR(adopted);
    committed = exchange_->CommitLayerManifest(m, kPoolOrigin).status();
    if (!absl::IsDataLoss(committed)) break;
  }
  return committed;
}

absl::Status PoolCatalog::AdoptMissing(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (!absl::IsNotFound(store_->GetLayer(name).status())) continue;
    absl::Status s = Adopt(name);
    // Not in the pool either: the caller reports the missing layer itself.
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PoolCatalog::Identity(const std::string& name) {
  ASSIGN_OR_RETURN(LayerManifest m, exchange_->ExportLayerManifest(name));
  return HexIdentity(m);
}

absl::Status PoolCatalog::Unpublish(const std::string& name, const std::string& identity) {
  return pool_->UnpublishLayer(name, identity);
}

absl::StatusOr<std::vector<PoolLayer>> PoolCatalog::List() { return pool_->ListLayers(); }

}  // namespace layerdisk
