// The objects (docs/ceph.md):
//   <chunk hex>              the record; omap ref.<store id> per store holding it
//   layerdisk.pool           "chunk_size N"; omap store.<store id> -> where
//   layerdisk.layers         omap: layer name -> catalog entry (the list)
//   layer.<name>             the catalog entry, created exclusively: the
//                            commit point that makes a name taken
//   manifest.<name>.<id16>.<part>  the encoded manifest, in parts
#include "dedupe/rados_shared_pool.h"

#include <cerrno>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

constexpr char kPoolObject[] = "layerdisk.pool";
constexpr char kLayersObject[] = "layerdisk.layers";
// The key of each registered store in kPoolObject's omap, before its id.
constexpr char kStoreKeyPrefix[] = "store.";
constexpr size_t kManifestPartBytes = 4 << 20;
// 64 GiB of manifest: an 8 TiB layer of 4 KiB chunks. An entry claiming more
// is damaged (or hostile), not a layer to allocate for.
constexpr uint64_t kMaxManifestParts = 16384;
constexpr size_t kBatch = 4096;

std::string LayerObject(const std::string& name) { return "layer." + name; }

// A catalog entry: "identity\nparts\npublished_by".
struct Entry {
  std::string identity;
  uint64_t parts = 0;
  std::string published_by;
};

std::string EncodeEntry(const Entry& e) {
  return absl::StrCat(e.identity, "\n", e.parts, "\n", e.published_by);
}

absl::StatusOr<Entry> DecodeEntry(const std::string& name, const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits('\n', 2));
  Entry e;
  if (parts.size() != 3 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &e.parts) ||
      e.parts == 0 || e.parts > kMaxManifestParts)
    return absl::DataLossError(absl::StrCat("the pool's catalog entry of layer ", name,
                                            " is damaged"));
  e.identity = parts[0];
  e.published_by = parts[2];
  return e;
}

std::string PartObject(const std::string& name, const Entry& e, uint64_t part) {
  return absl::StrCat("manifest.", name, ".", e.identity.substr(0, 16), ".", part);
}

librados::bufferlist Bytes(std::string_view s) {
  librados::bufferlist bl;
  bl.append(s.data(), s.size());
  return bl;
}

// Whether store `store_id` is registered in the pool.
absl::StatusOr<bool> Registered(RadosConnection& conn, const std::string& store_id) {
  std::map<std::string, librados::bufferlist> vals;
  int r = conn.io.omap_get_vals_by_keys(kPoolObject, {kStoreKeyPrefix + store_id}, &vals);
  RETURN_IF_ERROR(FromRados(r, absl::StrCat("read the stores of RADOS pool ", conn.target.pool)));
  return !vals.empty();
}

class RadosSharedPool : public SharedPool {
 public:
  explicit RadosSharedPool(std::shared_ptr<RadosConnection> conn) : conn_(std::move(conn)) {}

  absl::StatusOr<std::vector<uint32_t>> Claim(absl::Span<const ChunkName> names) override {
    std::vector<uint32_t> lengths;
    lengths.reserve(names.size());
    for (size_t begin = 0; begin < names.size(); begin += kBatch) {
      size_t n = std::min(kBatch, names.size() - begin);
      std::vector<librados::ObjectWriteOperation> ops(n);
      std::vector<uint64_t> sizes(n);
      AioBatch batch(&conn_->io);
      for (size_t i = 0; i < n; ++i) {
        std::string oid = names[begin + i].Hex();
        ops[i].assert_exists();
        ops[i].omap_set(RefMap());
        batch.Write(oid, &ops[i]);
        batch.Stat(oid, &sizes[i]);
      }
      batch.Wait();
      for (size_t i = 0; i < n; ++i) {
        int r = batch.result(2 * i) < 0 ? batch.result(2 * i) : batch.result(2 * i + 1);
        if (r == -ENOENT)
          return absl::NotFoundError(absl::StrCat("chunk ", names[begin + i].Hex(),
                                                  " is no longer in RADOS pool ", pool_name()));
        RETURN_IF_ERROR(FromRados(r, absl::StrCat("reference chunk ", names[begin + i].Hex(),
                                                  " in RADOS pool ", pool_name())));
        lengths.push_back(static_cast<uint32_t>(sizes[i]));
      }
    }
    return lengths;
  }

  absl::StatusOr<uint64_t> Release(absl::Span<const ChunkName> names) override {
    uint64_t removed = 0;
    for (size_t begin = 0; begin < names.size(); begin += kBatch) {
      std::vector<std::string> oids;
      for (size_t i = begin; i < std::min(names.size(), begin + kBatch); ++i)
        oids.push_back(names[i].Hex());
      ASSIGN_OR_RETURN(uint64_t n, ReleaseBatch(oids, conn_->RefKey()));
      removed += n;
    }
    return removed;
  }

  absl::Status ForEachSweepCandidate(
      const std::function<absl::Status(absl::Span<const ChunkName>)>& fn) override {
    return ForEachChunkBatch([&](const std::vector<ChunkName>& chunks) -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<ChunkName> candidates, SweepCandidates(chunks));
      if (!candidates.empty()) RETURN_IF_ERROR(fn(candidates));
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<PoolStore>> ListStores() override {
    std::vector<PoolStore> out;
    std::string after = kStoreKeyPrefix;
    for (bool more = true; more;) {
      std::map<std::string, librados::bufferlist> vals;
      int r = conn_->io.omap_get_vals2(kPoolObject, after, kStoreKeyPrefix, 1000, &vals, &more);
      RETURN_IF_ERROR(FromRados(r, absl::StrCat("read the stores of RADOS pool ", pool_name())));
      for (auto& [key, bl] : vals) {
        std::string id = key.substr(sizeof(kStoreKeyPrefix) - 1);
        out.push_back({id, bl.to_str(), id == conn_->target.store_id});
        after = key;
      }
      if (vals.empty()) break;
    }
    return out;
  }

  absl::StatusOr<PoolForgetResult> ForgetStore(const std::string& store_id) override {
    if (store_id == conn_->target.store_id)
      return absl::FailedPreconditionError(absl::StrCat(
          "store ", store_id, " is this store; forget a store only from another one"));
    if (store_id.empty() || store_id.find_first_not_of("0123456789abcdef") != std::string::npos)
      return absl::InvalidArgumentError(
          absl::StrCat("'", store_id, "' is not a store id (hex digits; see pool stores)"));
    PoolForgetResult result;
    ASSIGN_OR_RETURN(result.was_registered, Registered(*conn_, store_id));
    // Unregistered first: should the store come back while its references
    // go, it refuses to open instead of adding new ones.
    librados::ObjectWriteOperation unregister;
    unregister.omap_rm_keys({kStoreKeyPrefix + store_id});
    RETURN_IF_ERROR(FromRados(conn_->io.operate(kPoolObject, &unregister),
                              absl::StrCat("unregister store ", store_id, " from RADOS pool ",
                                           pool_name())));
    const std::string ref_key = RadosRefKey(store_id);
    RETURN_IF_ERROR(ForEachChunkBatch([&](const std::vector<ChunkName>& chunks) -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<std::string> held, HoldingRef(chunks, ref_key));
      if (held.empty()) return absl::OkStatus();
      ASSIGN_OR_RETURN(uint64_t removed, ReleaseBatch(held, ref_key));
      result.references_dropped += held.size();
      result.chunks_removed += removed;
      return absl::OkStatus();
    }));
    return result;
  }

  absl::Status PublishLayer(const std::string& name, const std::string& identity,
                            std::string_view manifest) override {
    Entry entry{identity, (manifest.size() + kManifestPartBytes - 1) / kManifestPartBytes,
                conn_->where};
    if (entry.parts == 0) entry.parts = 1;
    ASSIGN_OR_RETURN(std::optional<Entry> existing, ReadEntry(name));
    if (existing) return SameOrTaken(name, *existing, identity);
    {
      std::vector<librados::ObjectWriteOperation> ops(entry.parts);
      AioBatch batch(&conn_->io);
      for (uint64_t p = 0; p < entry.parts; ++p) {
        ops[p].write_full(Bytes(manifest.substr(
            std::min(manifest.size(), p * kManifestPartBytes), kManifestPartBytes)));
        batch.Write(PartObject(name, entry, p), &ops[p]);
      }
      batch.Wait();
      for (uint64_t p = 0; p < entry.parts; ++p)
        RETURN_IF_ERROR(FromRados(batch.result(p), absl::StrCat("publish layer ", name,
                                                                " in RADOS pool ", pool_name())));
    }
    librados::ObjectWriteOperation create;
    create.create(true);
    create.write_full(Bytes(EncodeEntry(entry)));
    int r = conn_->io.operate(LayerObject(name), &create);
    if (r == -EEXIST) {  // published meanwhile by another store
      ASSIGN_OR_RETURN(existing, ReadEntry(name));
      if (existing) return SameOrTaken(name, *existing, identity);
    }
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("publish layer ", name, " in RADOS pool ",
                                              pool_name())));
    return IndexEntry(name, entry);
  }

  absl::StatusOr<std::string> ReadLayer(const std::string& name) override {
    ASSIGN_OR_RETURN(std::optional<Entry> entry, ReadEntry(name));
    if (!entry)
      return absl::NotFoundError(absl::StrCat("no layer ", name, " in RADOS pool ", pool_name()));
    std::vector<librados::bufferlist> parts(entry->parts);
    std::vector<librados::ObjectReadOperation> ops(entry->parts);
    std::vector<int> results(entry->parts);
    AioBatch batch(&conn_->io);
    for (uint64_t p = 0; p < entry->parts; ++p) {
      ops[p].read(0, 0, &parts[p], &results[p]);
      batch.Read(PartObject(name, *entry, p), &ops[p]);
    }
    batch.Wait();
    std::string manifest;
    for (uint64_t p = 0; p < entry->parts; ++p) {
      int r = batch.result(p) < 0 ? batch.result(p) : results[p];
      if (r == -ENOENT)
        return absl::NotFoundError(absl::StrCat("layer ", name, " was removed from RADOS pool ",
                                                pool_name(), " while it was read"));
      RETURN_IF_ERROR(FromRados(r, absl::StrCat("read layer ", name, " from RADOS pool ",
                                                pool_name())));
      manifest += parts[p].to_str();
    }
    return manifest;
  }

  absl::StatusOr<std::vector<PoolLayer>> ListLayers() override {
    std::vector<PoolLayer> out;
    std::string after;
    for (bool more = true; more;) {
      std::map<std::string, librados::bufferlist> vals;
      int r = conn_->io.omap_get_vals2(kLayersObject, after, 1000, &vals, &more);
      if (r == -ENOENT) break;  // nothing published yet
      RETURN_IF_ERROR(FromRados(r, absl::StrCat("list the layers of RADOS pool ", pool_name())));
      for (auto& [name, bl] : vals) {
        ASSIGN_OR_RETURN(Entry e, DecodeEntry(name, bl.to_str()));
        out.push_back({name, e.identity, e.published_by});
        after = name;
      }
      if (vals.empty()) break;
    }
    return out;
  }

  absl::Status UnpublishLayer(const std::string& name, const std::string& identity) override {
    librados::bufferlist bl;
    int r = conn_->io.read(LayerObject(name), bl, 0, 0);
    if (r == -ENOENT) return DropIndexEntry(name, identity);
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("read layer ", name, " in RADOS pool ",
                                              pool_name())));
    uint64_t version = conn_->io.get_last_version();
    ASSIGN_OR_RETURN(Entry entry, DecodeEntry(name, bl.to_str()));
    if (entry.identity != identity) return absl::OkStatus();  // republished by another store
    librados::ObjectWriteOperation remove;
    remove.assert_version(version);
    remove.remove();
    r = conn_->io.operate(LayerObject(name), &remove);
    if (r == -ERANGE || r == -EOVERFLOW || r == -ENOENT) return absl::OkStatus();
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("unpublish layer ", name, " in RADOS pool ",
                                              pool_name())));
    RETURN_IF_ERROR(DropIndexEntry(name, identity));
    AioBatch batch(&conn_->io);
    std::vector<librados::ObjectWriteOperation> ops(entry.parts);
    for (uint64_t p = 0; p < entry.parts; ++p) {
      ops[p].remove();
      batch.Write(PartObject(name, entry, p), &ops[p]);
    }
    return absl::OkStatus();  // parts left by a failed removal are only space
  }

  absl::StatusOr<PoolUsage> Usage() override {
    PoolUsage usage;
    std::list<std::string> pools{pool_name()};
    librados::stats_map stats;
    RETURN_IF_ERROR(FromRados(conn_->cluster->get_pool_stats(pools, stats),
                              absl::StrCat("read the usage of RADOS pool ", pool_name())));
    if (auto it = stats.find(pool_name()); it != stats.end()) {
      usage.objects = it->second.num_objects;
      usage.bytes = it->second.num_bytes;
    }
    ASSIGN_OR_RETURN(std::vector<PoolStore> stores, ListStores());
    usage.stores = stores.size();
    return usage;
  }

  const std::string& pool_name() const override { return conn_->target.pool; }

 private:
  std::map<std::string, librados::bufferlist> RefMap() const {
    std::map<std::string, librados::bufferlist> ref;
    ref[conn_->RefKey()];
    return ref;
  }

  // Drops the reference `ref_key` from each object, then removes the ones
  // left with none, asserting the version seen empty: a reference another
  // store adds meanwhile changes it, and that object stays.
  absl::StatusOr<uint64_t> ReleaseBatch(const std::vector<std::string>& oids,
                                        const std::string& ref_key) {
    const size_t n = oids.size();
    std::vector<librados::ObjectWriteOperation> drops(n);
    {
      AioBatch batch(&conn_->io);
      std::set<std::string> ref{ref_key};
      for (size_t i = 0; i < n; ++i) {
        drops[i].omap_rm_keys(ref);
        batch.Write(oids[i], &drops[i]);
      }
      batch.Wait();
      for (size_t i = 0; i < n; ++i)
        if (batch.result(i) != -ENOENT)
          RETURN_IF_ERROR(FromRados(batch.result(i), absl::StrCat("release chunk ", oids[i],
                                                                  " in RADOS pool ", pool_name())));
    }
    std::vector<std::set<std::string>> keys(n);
    std::vector<int> key_results(n);
    std::vector<librados::ObjectReadOperation> reads(n);
    AioBatch check(&conn_->io);
    for (size_t i = 0; i < n; ++i) {
      reads[i].omap_get_keys2("", 1, &keys[i], nullptr, &key_results[i]);
      check.Read(oids[i], &reads[i]);
    }
    check.Wait();
    std::vector<librados::ObjectWriteOperation> removes(n);
    AioBatch remove(&conn_->io);
    std::vector<size_t> sent;
    for (size_t i = 0; i < n; ++i) {
      if (check.result(i) < 0 || key_results[i] < 0 || !keys[i].empty()) continue;
      removes[i].assert_version(check.version(i));
      removes[i].remove();
      remove.Write(oids[i], &removes[i]);
      sent.push_back(i);
    }
    remove.Wait();
    uint64_t removed = 0;
    for (size_t j = 0; j < sent.size(); ++j) {
      int r = remove.result(j);
      if (r == 0) ++removed;
      // -ERANGE/-EOVERFLOW: referenced again meanwhile; -ENOENT: removed by another store.
      if (r < 0 && r != -ERANGE && r != -EOVERFLOW && r != -ENOENT)
        return FromRados(r, absl::StrCat("remove chunk ", oids[sent[j]], " from RADOS pool ",
                                         pool_name()));
    }
    return removed;
  }

  // Calls `fn` with the chunk objects of the pool, a batch at a time.
  absl::Status ForEachChunkBatch(
      const std::function<absl::Status(const std::vector<ChunkName>&)>& fn) {
    librados::ObjectCursor cursor = conn_->io.object_list_begin();
    const librados::ObjectCursor end = conn_->io.object_list_end();
    while (!conn_->io.object_list_is_end(cursor)) {
      std::vector<librados::ObjectItem> items;
      int r = conn_->io.object_list(cursor, end, kBatch, {}, &items, &cursor);
      RETURN_IF_ERROR(FromRados(r, absl::StrCat("list RADOS pool ", pool_name())));
      std::vector<ChunkName> chunks;
      for (const librados::ObjectItem& item : items) {
        if (std::optional<ChunkName> name = ChunkName::FromHex(item.oid)) chunks.push_back(*name);
      }
      if (!chunks.empty()) RETURN_IF_ERROR(fn(chunks));
    }
    return absl::OkStatus();
  }

  // What one read of a chunk object's references found.
  struct Refs {
    bool exists = false;  // not removed meanwhile
    bool holds = false;   // it carries the reference asked about
    bool any = false;     // it carries some store's reference
  };
  // The references of `chunks`, in one batch of reads.
  absl::StatusOr<std::vector<Refs>> ReadRefs(const std::vector<ChunkName>& chunks,
                                             const std::string& ref_key) {
    const size_t n = chunks.size();
    std::vector<std::map<std::string, librados::bufferlist>> held(n);
    std::vector<std::set<std::string>> any(n);
    std::vector<int> r1(n), r2(n);
    std::vector<librados::ObjectReadOperation> reads(n);
    AioBatch batch(&conn_->io);
    for (size_t i = 0; i < n; ++i) {
      reads[i].omap_get_vals_by_keys({ref_key}, &held[i], &r1[i]);
      reads[i].omap_get_keys2("", 1, &any[i], nullptr, &r2[i]);
      batch.Read(chunks[i].Hex(), &reads[i]);
    }
    batch.Wait();
    std::vector<Refs> out(n);
    for (size_t i = 0; i < n; ++i) {
      if (batch.result(i) == -ENOENT) continue;
      RETURN_IF_ERROR(FromRados(batch.result(i), absl::StrCat("read chunk ", chunks[i].Hex(),
                                                              " in RADOS pool ", pool_name())));
      out[i] = {true, !held[i].empty(), !any[i].empty()};
    }
    return out;
  }

  // Of `chunks`, the objects (by name) carrying the reference `ref_key`.
  absl::StatusOr<std::vector<std::string>> HoldingRef(const std::vector<ChunkName>& chunks,
                                                      const std::string& ref_key) {
    ASSIGN_OR_RETURN(std::vector<Refs> refs, ReadRefs(chunks, ref_key));
    std::vector<std::string> out;
    for (size_t i = 0; i < chunks.size(); ++i)
      if (refs[i].holds) out.push_back(chunks[i].Hex());
    return out;
  }

  // Of `chunks`, those carrying this store's reference or none.
  absl::StatusOr<std::vector<ChunkName>> SweepCandidates(const std::vector<ChunkName>& chunks) {
    ASSIGN_OR_RETURN(std::vector<Refs> refs, ReadRefs(chunks, conn_->RefKey()));
    std::vector<ChunkName> out;
    for (size_t i = 0; i < chunks.size(); ++i)
      if (refs[i].exists && (refs[i].holds || !refs[i].any)) out.push_back(chunks[i]);
    return out;
  }

  absl::StatusOr<std::optional<Entry>> ReadEntry(const std::string& name) {
    librados::bufferlist bl;
    int r = conn_->io.read(LayerObject(name), bl, 0, 0);
    if (r == -ENOENT) return std::optional<Entry>();
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("read layer ", name, " in RADOS pool ",
                                              pool_name())));
    ASSIGN_OR_RETURN(Entry e, DecodeEntry(name, bl.to_str()));
    return std::optional<Entry>(std::move(e));
  }

  absl::Status SameOrTaken(const std::string& name, const Entry& existing,
                           const std::string& identity) {
    if (existing.identity != identity)
      return absl::AlreadyExistsError(
          absl::StrCat("layer ", name, " is already published in RADOS pool ", pool_name(),
                       " by ", existing.published_by, " with other content"));
    return IndexEntry(name, existing);  // a publish interrupted before its index entry
  }

  absl::Status IndexEntry(const std::string& name, const Entry& entry) {
    std::map<std::string, librados::bufferlist> kv;
    kv[name] = Bytes(EncodeEntry(entry));
    librados::ObjectWriteOperation op;
    op.omap_set(kv);
    return FromRados(conn_->io.operate(kLayersObject, &op),
                     absl::StrCat("list layer ", name, " in RADOS pool ", pool_name()));
  }

  absl::Status DropIndexEntry(const std::string& name, const std::string& identity) {
    std::map<std::string, librados::bufferlist> vals;
    int r = conn_->io.omap_get_vals_by_keys(kLayersObject, {name}, &vals);
    if (r == -ENOENT || vals.empty()) return absl::OkStatus();
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("read the layers of RADOS pool ", pool_name())));
    absl::StatusOr<Entry> e = DecodeEntry(name, vals.begin()->second.to_str());
    if (e.ok() && e->identity != identity) return absl::OkStatus();
    librados::ObjectWriteOperation op;
    op.omap_rm_keys({name});
    return FromRados(conn_->io.operate(kLayersObject, &op),
                     absl::StrCat("unlist layer ", name, " in RADOS pool ", pool_name()));
  }

  const std::shared_ptr<RadosConnection> conn_;
};

}  // namespace

absl::Status JoinRadosPool(RadosConnection& conn, uint32_t chunk_size, const std::string& where) {
  const std::string pool = conn.target.pool;
  const std::string record = absl::StrCat("chunk_size ", chunk_size);
  librados::ObjectWriteOperation create;
  create.create(true);
  create.write_full(Bytes(record));
  int r = conn.io.operate(kPoolObject, &create);
  if (r == -EEXIST) {
    librados::bufferlist bl;
    r = conn.io.read(kPoolObject, bl, 0, 0);
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("read the layerdisk record of RADOS pool ", pool)));
    if (bl.to_str() != record)
      return absl::FailedPreconditionError(absl::StrCat(
          "RADOS pool ", pool, " holds stores with \"", bl.to_str(),
          "\"; this store's chunk size is ", chunk_size, ": stores sharing a pool must agree"));
  } else {
    RETURN_IF_ERROR(FromRados(r, absl::StrCat("make the layerdisk record of RADOS pool ", pool)));
  }
  std::map<std::string, librados::bufferlist> kv;
  kv[kStoreKeyPrefix + conn.target.store_id] = Bytes(where);
  librados::ObjectWriteOperation join;
  join.omap_set(kv);
  return FromRados(conn.io.operate(kPoolObject, &join),
                   absl::StrCat("register the store in RADOS pool ", pool));
}

absl::Status CheckRegisteredInRadosPool(RadosConnection& conn) {
  ASSIGN_OR_RETURN(bool registered, Registered(conn, conn.target.store_id));
  if (!registered)
    return absl::FailedPreconditionError(absl::StrCat(
        "this store (id ", conn.target.store_id, ") was forgotten from RADOS pool ",
        conn.target.pool, " (layerdisk pool forget): chunks it referenced may be gone; "
        "make a new store with layerdisk init"));
  return absl::OkStatus();
}

std::unique_ptr<SharedPool> NewRadosSharedPool(std::shared_ptr<RadosConnection> conn) {
  return std::make_unique<RadosSharedPool>(std::move(conn));
}

}  // namespace layerdisk
