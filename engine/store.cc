// Store opening, recovery, layer loading and background work. The
// operations themselves are in store_volumes.cc, store_layers.cc and
// store_maintenance.cc.
#include <chrono>
#include <cstdio>
#include <random>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"
#include "engine/column_families.h"
#include "engine/store_impl.h"
#include "layers/layer_writer.h"
#include "layers/sealed_layer.h"
#include "rocksdb/options.h"

namespace layerdisk {

uint64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
uint64_t NowUnix() { return NowUnixMs() / 1000; }

absl::Status ValidateName(const std::string& kind, const std::string& name) {
  if (name.empty() || name.size() > 128)
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s name '%s' must be 1 to 128 characters", kind, name));
  if (name[0] == '.' || name[0] == '-')
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s name '%s' must not start with '.' or '-'", kind, name));
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s name '%s' may hold only letters, digits, '.', '_' and '-'", kind,
          name));
  }
  return absl::OkStatus();
}

absl::Status ValidateDescription(const std::string& description) {
  if (description.size() > kMaxDescription)
    return absl::InvalidArgumentError(absl::StrFormat(
        "a layer description may be at most %d bytes, not %d", kMaxDescription,
        description.size()));
  for (unsigned char c : description)
    if (c < 0x20 || c == 0x7f)
      return absl::InvalidArgumentError(
          "a layer description may not hold control characters (newlines, tabs)");
  return absl::OkStatus();
}

absl::Status CheckChunkSize(uint32_t size) {
  if (size < 4096 || size > (1u << 20) || (size & (size - 1)) != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "chunk size %d must be a power of two from 4 KiB to 1 MiB", size));
  return absl::OkStatus();
}

namespace {

// A store's name among those sharing a RADOS pool: 64 random bits, hex.
std::string NewStoreId() {
  std::random_device entropy;
  uint64_t id = (uint64_t{entropy()} << 32) | entropy();
  return absl::StrFormat("%016x", id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir,
                                                   const StoreOptions& options) {
  auto store = std::make_unique<StoreImpl>(dir, options);
  RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

absl::Status StoreImpl::Init() {
  const std::string db_dir = dir_ + "/db";
  bool exists = env_->FileExists(db_dir + "/CURRENT");
  if (exists && options_.error_if_exists)
    return absl::AlreadyExistsError(absl::StrCat("a store already exists in ", dir_));
  if (!exists && !options_.create_if_missing)
    return absl::NotFoundError(absl::StrCat("no layerdisk store in ", dir_));
  std::unique_ptr<ChunkBytes> bytes;
  if (!exists) {
    RETURN_IF_ERROR(CheckChunkSize(options_.chunk_size));
    format_.chunk_size = options_.chunk_size;
    format_.chunks = options_.chunks;
    format_.rados = options_.rados;
    if (format_.chunks == ChunkBackend::kRados && format_.rados.store_id.empty())
      format_.rados.store_id = NewStoreId();
    // A pool that cannot be reached fails `init` before anything is made.
    if (format_.chunks != ChunkBackend::kRocksDb) {
      ASSIGN_OR_RETURN(bytes, OpenChunkBytes(/*claim=*/true));
    }
  }
  RETURN_IF_ERROR(env_->CreateDirIfMissing(dir_));
  RETURN_IF_ERROR(env_->CreateDirIfMissing(dir_ + "/heads"));

  rocksdb::DBOptions db_options = StoreDbOptions();
  db_options.create_if_missing = !exists;
  db_options.create_missing_column_families = true;
  rocksdb::DB* db = nullptr;
  RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::Open(db_options, db_dir,
                        StoreColumnFamilies(rocksdb::NewLRUCache(options_.index_cache_bytes)),
                        &handles_, &db),
      absl::StrCat("open store ", dir_)));
  db_.reset(db);
  maps_ = handles_[kMapsFamily];
  heads_ = handles_[kHeadsFamily];
  chunks_cf_ = handles_[kChunksFamily];
  refs_ = handles_[kRefsFamily];

  ChunkCompression compression = options_.compression;
  if (exists) {
    ASSIGN_OR_RETURN(format_, catalog().Format());
    if (format_.format_version != kStoreFormatVersion)
      return absl::FailedPreconditionError(absl::StrFormat(
          "store %s has format version %d; this layerdisk reads version %d",
          dir_, format_.format_version, kStoreFormatVersion));
    RETURN_IF_ERROR(CheckChunkSize(format_.chunk_size));
    ASSIGN_OR_RETURN(compression, catalog().Compression());
  }
  if (!bytes) {
    ASSIGN_OR_RETURN(bytes, OpenChunkBytes(/*claim=*/false));
  }
  chunks_ = std::make_unique<ChunkStore>(db_.get(), std::move(bytes), refs_,
                                         options_.chunk_cache_bytes, handles_, compression);
  if (!exists) {
    rocksdb::WriteBatch batch;
    batch.Put(kFormatKey, EncodeFormat(format_));
    batch.Put(kCompressionKey, EncodeCompression(compression));
    RETURN_IF_ERROR(Commit(&batch));
  }
  RETURN_IF_ERROR(Recover());
  if (chunks_->shared_pool() != nullptr) {
    pool_catalog_ = std::make_unique<PoolCatalog>(this, chunks_.get());
    RETURN_IF_ERROR(pool_catalog_->PublishAll());
  }
  if (options_.background_sealing) worker_ = std::thread([this] { WorkerLoop(); });
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ChunkBytes>> StoreImpl::OpenChunkBytes(bool claim) {
  if (format_.chunks == ChunkBackend::kRocksDb)
    return NewRocksDbChunkBytes(db_.get(), chunks_cf_);
  if (format_.rados.ceph_conf.empty() || format_.rados.pool.empty())
    return absl::InvalidArgumentError(
        "chunks in RADOS need a Ceph configuration file and a pool name");
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  RadosOpen open{format_.rados, format_.chunk_size, /*join=*/claim,
                 absl::StrCat(host, ":", dir_)};
  absl::StatusOr<std::unique_ptr<ChunkBytes>> bytes = OpenRadosChunkBytes(open);
  if (!bytes.ok())
    return absl::Status(bytes.status().code(),
                        absl::StrCat("store ", dir_, ": ", bytes.status().message()));
  return bytes;
}

StoreImpl::~StoreImpl() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [name, weak] : open_volumes_) {
      if (std::shared_ptr<Volume> v = weak.lock()) {
        absl::Status s = v->Flush();
        if (!s.ok())
          std::fprintf(stderr, "layerdisk: flush of %s failed: %s\n",
                       name.c_str(), std::string(s.message()).c_str());
        v->Detach("the store was closed");
      }
    }
  }
  if (worker_.joinable()) worker_.join();
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

// A store that crashed may hold: layers half imported or merged (kWriting),
// deletions begun (kDeleting), frozen heads not yet sealed, and head files
// no record names. Everything is finished or undone here.
absl::Status StoreImpl::Recover() {
  absl::MutexLock lock(&mu_);
  CatalogReader reader = catalog();
  ASSIGN_OR_RETURN(next_id_, reader.NextId());
  ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, reader.AllLayers());
  std::set<uint64_t> heads;
  rocksdb::WriteBatch batch;
  for (LayerRecord& rec : layers) {
    next_id_ = std::max(next_id_, rec.id + 1);
    if (rec.kind == LayerKind::kHead) heads.insert(rec.id);
    if (rec.state == LayerState::kWriting) {
      rec.state = LayerState::kDeleting;
      batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    }
    if (rec.state == LayerState::kDeleting) {
      Enqueue(TaskKind::kDelete, rec.id);
    } else if (rec.kind == LayerKind::kHead && rec.frozen) {
      Enqueue(TaskKind::kSeal, rec.id);
    }
  }
  RETURN_IF_ERROR(Commit(&batch));
  ASSIGN_OR_RETURN(std::vector<std::string> files, env_->ListDir(dir_ + "/heads"));
  for (const std::string& file : files) {
    unsigned long long id = 0;
    char tail = 0;
    bool ours = std::sscanf(file.c_str(), "%16llx.dat%c", &id, &tail) == 2 &&
                tail == 'a' && file.size() == 21;
    if (!ours || heads.count(id) == 0)
      RETURN_IF_ERROR(env_->DeleteFile(dir_ + "/heads/" + file));
  }
  return DropUnreferencedLayers();
}

uint64_t StoreImpl::AllocateId(rocksdb::WriteBatch* batch) {
  uint64_t id = next_id_++;
  batch->Put(kNextIdKey, EncodeId(next_id_));
  return id;
}

absl::Status StoreImpl::Commit(rocksdb::WriteBatch* batch) {
  if (batch->Count() == 0) return absl::OkStatus();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, batch), "write catalog");
}

std::string StoreImpl::HeadPath(uint64_t id) const {
  return absl::StrFormat("%s/heads/%016x.data", dir_, id);
}

absl::StatusOr<std::shared_ptr<Head>> StoreImpl::OpenHead(uint64_t id) {
  auto live = open_heads_.find(id);
  if (live != open_heads_.end()) {
    if (std::shared_ptr<Head> head = live->second.lock()) return head;
    open_heads_.erase(live);
  }
  ASSIGN_OR_RETURN(LayerRecord rec, catalog().Layer(id));
  ASSIGN_OR_RETURN(std::shared_ptr<Head> head,
                   Head::Open(env_, HeadPath(id), db_.get(), heads_, id, chunk_size(), rec.size));
  open_heads_[id] = head;
  return head;
}

absl::StatusOr<std::shared_ptr<const LayerView>> StoreImpl::LoadLayer(uint64_t id) {
  auto cached = layer_cache_.find(id);
  if (cached != layer_cache_.end()) {
    if (auto view = cached->second.lock()) return view;
  }
  absl::StatusOr<LayerRecord> rec = catalog().Layer(id);
  if (absl::IsNotFound(rec.status()))
    return absl::DataLossError(absl::StrFormat("layer %d is missing from the catalog", id));
  if (!rec.ok()) return rec.status();
  std::shared_ptr<const LayerView> view;
  if (rec->kind == LayerKind::kSealed) {
    ASSIGN_OR_RETURN(std::shared_ptr<SealedLayer> sealed,
                     SealedLayer::Load(db_.get(), maps_, chunks_.get(), id, chunk_size(),
                                       rec->size, rec->opaque));
    if (rec->fetching) sealed->FetchMissingFrom(missing_source_, rec->name);
    view = std::move(sealed);
  } else {
    ASSIGN_OR_RETURN(view, OpenHead(id));
  }
  layer_cache_[id] = view;
  return view;
}

absl::StatusOr<std::shared_ptr<const Stack>> StoreImpl::BuildStack(
    const std::vector<uint64_t>& ids) {
  std::vector<std::shared_ptr<const LayerView>> views;
  for (uint64_t id : ids) {
    ASSIGN_OR_RETURN(auto view, LoadLayer(id));
    views.push_back(std::move(view));
  }
  return Stack::Build(std::move(views));
}

void StoreImpl::Enqueue(TaskKind kind, uint64_t layer) {
  tasks_.push_back({kind, layer});
}

bool StoreImpl::RunOneTask() {
  absl::MutexLock work(&work_mu_);
  Task task;
  {
    absl::MutexLock lock(&mu_);
    if (tasks_.empty()) return false;
    task = tasks_.front();
    tasks_.pop_front();
    busy_ = true;
  }
  absl::Status s;
  if (task.kind == TaskKind::kSeal) {
    s = SealFrozenHead(task.layer);
    // A newly sealed layer may pair with the one below it.
    if (s.ok()) s = CompactStacks();
  } else if (task.kind == TaskKind::kCompact) {
    s = CompactStacks();
  } else {
    s = DeleteLayerData(task.layer);
  }
  absl::MutexLock lock(&mu_);
  busy_ = false;
  if (!s.ok()) {
    static const char* kWhat[] = {"seal", "deletion", "compaction"};
    std::fprintf(stderr, "layerdisk: background %s of layer %llu failed: %s\n",
                 kWhat[static_cast<int>(task.kind)],
                 static_cast<unsigned long long>(task.layer),
                 std::string(s.message()).c_str());
    background_error_ = s;
  }
  return true;
}

void StoreImpl::WorkerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !tasks_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
    }
    RunOneTask();
  }
}

absl::Status StoreImpl::WaitForBackgroundWork() {
  // Run the queue in this thread too: with the worker it simply shares the
  // queue; without one (tests) this is where the work happens.
  while (RunOneTask()) {
  }
  absl::MutexLock work(&work_mu_);  // a task the worker started has ended
  absl::MutexLock lock(&mu_);
  absl::Status s = background_error_;
  background_error_ = absl::OkStatus();
  return s;
}

absl::Status StoreImpl::SealFrozenHead(uint64_t id) {
  std::shared_ptr<const LayerView> view;
  LayerRecord rec;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<LayerRecord> r = catalog().Layer(id);
    if (absl::IsNotFound(r.status())) return absl::OkStatus();  // deleted
    if (!r.ok()) return r.status();
    rec = *r;
    if (rec.kind != LayerKind::kHead || !rec.frozen ||
        rec.state != LayerState::kLive)
      return absl::OkStatus();
    ASSIGN_OR_RETURN(view, LoadLayer(id));
  }
  // A crash during an earlier attempt may have left part of a map.
  RETURN_IF_ERROR(DeleteLayerMap(db_.get(), maps_, chunks_.get(), id));
  LayerWriter writer(db_.get(), maps_, chunks_.get(), id, chunk_size());
  const uint32_t bs = chunk_size();
  std::string run;
  WriterNames given;  // a block repeating an earlier one costs no lookup
  absl::Status status;
  view->ForEachSegment([&](uint64_t segment, const BlockStates& states) {
    for (uint32_t i = 0; i < kSegmentBlocks && status.ok(); ++i) {
      uint64_t block = segment * kSegmentBlocks + i;
      BlockKind kind = states.Get(i);
      if (kind == BlockKind::kZero) status = writer.AddZero(block);
      if (kind != BlockKind::kData) continue;
      // Read the run of data blocks starting here in one go.
      uint32_t n = 1;
      while (i + n < kSegmentBlocks && states.Get(i + n) == BlockKind::kData) ++n;
      run.resize(size_t{n} * bs);
      status = view->ReadData(block, absl::MakeSpan(run));
      if (status.ok())
        status = AddBlocksParallel(&writer, chunks_.get(), block, run, bs, nullptr,
                                   /*mark_skipped_as_zero=*/false, &given);
      i += n - 1;
    }
  });
  RETURN_IF_ERROR(status);
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<LayerRecord> now = catalog().Layer(id);
    if (!now.ok() || now->state != LayerState::kLive) {
      // Deleted while sealing: the deletion task removes the partial map.
      return absl::OkStatus();
    }
    rec = *now;
    rec.kind = LayerKind::kSealed;
    rec.frozen = false;
    rec.data_blocks = writer.data_blocks();
    RETURN_IF_ERROR(writer.Finish([&](rocksdb::WriteBatch* batch) {
      batch->Put(LayerKey(id), EncodeLayer(rec));
      Head::DeleteRecords(batch, heads_, id);
    }));
    layer_cache_.erase(id);
  }
  // Volumes still reading the frozen head hold its open file.
  return env_->DeleteFile(HeadPath(id));
}

absl::Status StoreImpl::DeleteLayerData(uint64_t id) {
  bool holds_references = true;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<LayerRecord> rec = catalog().Layer(id);
    // A layer still fetching never added its map's references.
    if (rec.ok()) holds_references = !rec->fetching;
  }
  RETURN_IF_ERROR(DeleteLayerMap(db_.get(), maps_, chunks_.get(), id, holds_references));
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LayerRecord> rec = catalog().Layer(id);
  if (absl::IsNotFound(rec.status())) return absl::OkStatus();
  if (!rec.ok()) return rec.status();
  rocksdb::WriteBatch batch;
  Head::DeleteRecords(&batch, heads_, id);
  batch.Delete(LayerKey(id));
  RETURN_IF_ERROR(Commit(&batch));
  layer_cache_.erase(id);
  return env_->DeleteFile(HeadPath(id));
}

absl::Status StoreImpl::DropUnreferencedLayers() {
  CatalogReader reader = catalog();
  ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, reader.AllLayers());
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, reader.AllVolumes());
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, reader.Snapshots(std::nullopt));
  if (!reader.damaged().empty()) {
    // Unknown records may reference anything: delete nothing.
    return absl::OkStatus();
  }
  std::set<uint64_t> used;
  for (const VolumeRecord& v : volumes) {
    used.insert(v.stack.begin(), v.stack.end());
    used.insert(v.head);
  }
  for (const SnapshotRecord& s : snaps) used.insert(s.stack.begin(), s.stack.end());
  rocksdb::WriteBatch batch;
  for (LayerRecord& rec : layers) {
    if (!rec.name.empty() || used.count(rec.id) || rec.state != LayerState::kLive)
      continue;
    rec.state = LayerState::kDeleting;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    Enqueue(TaskKind::kDelete, rec.id);
  }
  return Commit(&batch);
}

}  // namespace layerdisk
