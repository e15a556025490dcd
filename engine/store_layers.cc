// Layers: import, list, delete, seal a volume into a layer, open one alone.
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "absl/strings/str_format.h"
#include "common/all_zero.h"
#include "common/ordered_worker.h"
#include "common/status_macros.h"
#include "dedupe/content_digest.h"
#include "engine/image_read_ahead.h"
#include "engine/store_impl.h"
#include "layers/layer_writer.h"
#include "layers/sealed_layer.h"

namespace layerdisk {
namespace {

// Prepared buffers (chunk records, about a buffer each) queued for commit.
constexpr size_t kImportCommitQueue = 4;

}  // namespace

absl::StatusOr<LayerRecord> StoreImpl::FindNamedLayer(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("layer", name));
  absl::StatusOr<uint64_t> id = catalog().LayerIdByName(name);
  if (absl::IsNotFound(id.status()))
    return absl::NotFoundError(absl::StrFormat("layer '%s' does not exist", name));
  if (!id.ok()) return id.status();
  return catalog().Layer(*id);
}

LayerInfo StoreImpl::DescribeLayer(const LayerRecord& rec) {
  LayerInfo info;
  info.name = rec.name;
  info.id = rec.id;
  info.size = rec.size;
  info.logical_bytes = rec.data_blocks * chunk_size();
  info.created_unix = rec.created_unix;
  info.sealed = rec.kind == LayerKind::kSealed;
  info.source = rec.source;
  info.image_id = rec.image_id;
  if (rec.fetching) DescribeFetchProgress(rec, &info);
  info.description = rec.description;
  info.content_sha256 = rec.content_sha256;
  info.content_digest = rec.content_digest;
  auto name_of = [this](uint64_t id) {
    absl::StatusOr<LayerRecord> layer = catalog().Layer(id);
    return layer.ok() && !layer->name.empty() ? layer->name : absl::StrFormat("#%d", id);
  };
  if (rec.parent != 0) info.parent = name_of(rec.parent);
  for (uint64_t id : rec.base) info.base.push_back(name_of(id));
  return info;
}

absl::StatusOr<ImportResult> StoreImpl::ImportHere(const std::string& name,
                                                   BlockDevice* image, ByteStream* stream,
                                                   const ImportOptions& options,
                                                   const ProgressFn& progress) {
  auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(ValidateName("layer", name));
  RETURN_IF_ERROR(ValidateDescription(options.description));
  // A stream's size is known only at its end; until then the layer's record
  // (which says it is still being written) holds 0.
  const uint64_t size = image ? WholeSectors(image->size()) : 0;
  const uint64_t progress_total = image ? image->size() : 0;  // 0: not known
  if (image && size == 0) return absl::InvalidArgumentError("the image is empty");
  if (image && image->size() > kMaxVolumeSize)
    return absl::InvalidArgumentError("the image is larger than the largest supported (8 TiB)");
  const bool delta = !options.parent.empty();
  if (stream && delta)
    return absl::InvalidArgumentError("a stream imports as a whole disk, without a parent");
  LayerRecord rec;
  {
    absl::MutexLock lock(&mu_);
    if (catalog().LayerIdByName(name).ok() || importing_.count(name))
      return absl::AlreadyExistsError(absl::StrFormat("layer '%s' already exists", name));
    if (delta) {
      ASSIGN_OR_RETURN(LayerRecord parent, FindNamedLayer(options.parent));
      // A smaller delta would let the parent's tail show through past the
      // end of the image it stands for.
      if (parent.size > size)
        return absl::InvalidArgumentError(absl::StrFormat(
            "the image (%d bytes) is smaller than its parent layer '%s' (%d bytes)",
            image->size(), options.parent, parent.size));
      rec.parent = parent.id;
    }
    rocksdb::WriteBatch batch;
    rec.id = AllocateId(&batch);
    rec.name = name;
    rec.kind = LayerKind::kSealed;
    rec.state = LayerState::kWriting;
    rec.size = size;
    rec.created_unix = NowUnix();
    rec.source = "import:" + options.origin;
    rec.image_id = options.image_id;
    rec.description = options.description;
    // A whole disk: its zeroes and holes hide what is below. A delta shows
    // its parent wherever it maps nothing.
    rec.opaque = !delta;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    RETURN_IF_ERROR(Commit(&batch));
    importing_.insert(name);
  }
  // Unlogged: the chunk bytes go to blob files once instead of through the
  // WAL first; Finish flushes before the commit that makes the layer live.
  LayerWriter writer(db_.get(), maps_, chunks_.get(), rec.id, chunk_size(),
                     CommitLog::kUnlogged);
  ImportResult result;
  auto import = [&]() -> absl::Status {
    const uint64_t bs = chunk_size();
    std::unique_ptr<ImageReadAhead> reader;
    // An image's digest is spelled as it is read; a stream's needs its size
    // first, so it is read back from the map once the stream has ended.
    std::optional<ContentDigest> digest;
    if (image) {
      ASSIGN_OR_RETURN(std::vector<DeviceExtent> extents, image->Map(0, image->size()));
      // A whole disk skips zeroes (its holes read as zero anyway); a delta
      // must record them, as they hide the parent, and skips only holes.
      reader = std::make_unique<ImageReadAhead>(
          *image,
          PlanImportReads(extents, image->size(), bs, kImportBuffer, /*keep_zero=*/delta),
          kImportReadAhead, options.sha256);
      digest.emplace(image->size(), bs);
    } else {
      reader = std::make_unique<ImageReadAhead>(*stream, bs, kMaxVolumeSize, kImportReadAhead,
                                                options.sha256);
    }
    // Buffers commit in order on their own thread while later ones are
    // hashed and compressed here and read ahead. A few may wait: commits
    // come in bursts (a flush, the other threads taking both cores), and
    // with one slot this thread would idle while they catch up.
    OrderedWorker committer(kImportCommitQueue);
    WriterNames given;  // names already prepared for `writer`
    for (;;) {
      ASSIGN_OR_RETURN(std::optional<ImageReadAhead::Filled> filled, reader->Next());
      if (!filled) break;
      result.bytes_read += filled->length();
      std::vector<BlockRun> runs;
      for (const ImportRange& range : filled->ranges)
        runs.push_back({range.first_block, range.padded / bs});
      ASSIGN_OR_RETURN(PreparedBlocks blocks,
                       PrepareBlocks(chunks_.get(), std::move(runs), filled->bytes, bs,
                                     AllZero, /*mark_skipped_as_zero=*/delta, &given));
      reader->Recycle(std::move(filled->bytes));
      if (digest) {
        AddToDigest(&*digest, filled->ranges, bs, [&](size_t i) {
          return blocks.chunks[i] ? &blocks.chunks[i]->name : nullptr;
        });
      }
      auto shared = std::make_shared<PreparedBlocks>(std::move(blocks));
      RETURN_IF_ERROR(committer.Push(
          [&writer, shared] { return AddPreparedBlocks(&writer, std::move(*shared)); }));
      const ImportRange& last = filled->ranges.back();
      if (progress) progress(last.offset + last.length, progress_total);
    }
    RETURN_IF_ERROR(committer.Finish());
    rec.content_sha256 = reader->ContentSha256();
    if (stream) {
      rec.size = WholeSectors(reader->stream_length());
      if (rec.size == 0)
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s is empty", options.origin.empty() ? "the stream" : options.origin));
    }
    RETURN_IF_ERROR(writer.CompleteData());
    if (digest) {
      rec.content_digest = digest->Text();
    } else {
      ASSIGN_OR_RETURN(rec.content_digest, MapContentDigest(rec));
    }
    absl::MutexLock lock(&mu_);
    if (delta) {
      // The parent may have been deleted while we read; a delta without it
      // would compose to nothing meaningful.
      absl::StatusOr<LayerRecord> parent = catalog().Layer(rec.parent);
      if (!parent.ok() || parent->state != LayerState::kLive)
        return absl::FailedPreconditionError(absl::StrFormat(
            "parent layer '%s' was deleted during the import", options.parent));
    }
    rec.state = LayerState::kLive;
    rec.data_blocks = writer.data_blocks();
    return writer.Finish([&](rocksdb::WriteBatch* batch) {
      batch->Put(LayerKey(rec.id), EncodeLayer(rec));
      batch->Put(LayerNameKey(name), EncodeId(rec.id));
    });
  };
  absl::Status s = import();
  absl::MutexLock lock(&mu_);
  importing_.erase(name);
  if (!s.ok()) {
    // Nothing of a failed import stays: its partial map goes in the
    // background (and on the next open if we crash first). Its unlogged
    // commits must be durable before logged ones undo them; if they cannot
    // be made so, the layer stays kWriting and goes at the next open.
    if (!writer.MakeDurable().ok()) return s;
    rec.state = LayerState::kDeleting;
    rocksdb::WriteBatch batch;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    if (Commit(&batch).ok()) Enqueue(TaskKind::kDelete, rec.id);
    return s;
  }
  if (progress) progress(image ? image->size() : result.bytes_read, progress_total);
  result.layer = DescribeLayer(rec);
  result.new_chunks = writer.new_chunks();
  result.new_stored_bytes = writer.new_stored_bytes();
  result.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start).count();
  return result;
}

absl::StatusOr<std::vector<LayerInfo>> StoreImpl::ListLayers() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::vector<LayerRecord> recs, catalog().AllLayers());
  std::vector<LayerInfo> out;
  for (const LayerRecord& rec : recs)
    if (!rec.name.empty() && rec.state == LayerState::kLive)
      out.push_back(DescribeLayer(rec));
  return out;
}

absl::StatusOr<LayerInfo> StoreImpl::GetLayer(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
  return DescribeLayer(rec);
}

absl::Status StoreImpl::DeleteLayerHere(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
  CatalogReader reader = catalog();
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, reader.AllVolumes());
  for (const VolumeRecord& v : volumes)
    if (std::count(v.stack.begin(), v.stack.end(), rec.id))
      return absl::FailedPreconditionError(absl::StrFormat(
          "layer '%s' is used by volume '%s'", name, v.name));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, reader.Snapshots(std::nullopt));
  for (const SnapshotRecord& s : snaps)
    if (std::count(s.stack.begin(), s.stack.end(), rec.id))
      return absl::FailedPreconditionError(absl::StrFormat(
          "layer '%s' is used by snapshot '%s@%s'", name, s.volume, s.name));
  ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, reader.AllLayers());
  for (const LayerRecord& l : layers)
    if (l.parent == rec.id && l.state == LayerState::kLive)
      return absl::FailedPreconditionError(absl::StrFormat(
          "layer '%s' is the parent of delta layer '%s'", name, l.name));
  if (!reader.damaged().empty())
    return absl::DataLossError(
        "the catalog has damaged records (run fsck); refusing to delete a "
        "layer that one of them might use");
  rec.state = LayerState::kDeleting;
  rocksdb::WriteBatch batch;
  batch.Put(LayerKey(rec.id), EncodeLayer(rec));
  batch.Delete(LayerNameKey(name));
  RETURN_IF_ERROR(Commit(&batch));
  Enqueue(TaskKind::kDelete, rec.id);
  return absl::OkStatus();
}

absl::StatusOr<LayerInfo> StoreImpl::SealVolumeHere(const std::string& volume,
                                                const std::string& layer,
                                                const std::string& description) {
  RETURN_IF_ERROR(ValidateName("layer", layer));
  RETURN_IF_ERROR(ValidateDescription(description));
  LayerRecord rec;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(VolumeRecord vol, FindVolume(volume));
    if (catalog().LayerIdByName(layer).ok() || importing_.count(layer))
      return absl::AlreadyExistsError(absl::StrFormat("layer '%s' already exists", layer));
    RETURN_IF_ERROR(FreezeHead(&vol, nullptr));
    ASSIGN_OR_RETURN(rec, BeginNewLayer(layer, vol.size, "seal:" + volume, description));
    rec.base.assign(vol.stack.begin(), vol.stack.begin() + vol.base_count);
  }
  // Seal the frozen heads first: then merging moves chunk names, not data.
  absl::Status s = WaitForBackgroundWork();
  LayerWriter writer(db_.get(), maps_, chunks_.get(), rec.id, chunk_size());
  std::vector<std::shared_ptr<const SealedLayer>> layers;
  if (s.ok()) {
    // Read the stack only now: compaction may have merged its layers while
    // they were sealed. The loaded maps stay valid whatever happens next.
    absl::MutexLock lock(&mu_);
    absl::StatusOr<VolumeRecord> vol = FindVolume(volume);
    if (!vol.ok()) s = vol.status();
    std::vector<uint64_t> above;  // the volume's layers above its base
    if (vol.ok()) above.assign(vol->stack.begin() + vol->base_count, vol->stack.end());
    for (uint64_t id : above) {
      absl::StatusOr<std::shared_ptr<const LayerView>> view = LoadLayer(id);
      if (!view.ok()) { s = view.status(); break; }
      auto sealed = std::dynamic_pointer_cast<const SealedLayer>(*view);
      if (!sealed) { s = absl::InternalError("a frozen head is still unsealed"); break; }
      layers.push_back(std::move(sealed));
    }
  }
  if (s.ok()) {
    std::set<uint64_t> segments;
    for (const auto& l : layers)
      l->ForEachSegment([&](uint64_t seg, const BlockStates&) { segments.insert(seg); });
    for (uint64_t seg : segments) {
      for (uint32_t i = 0; i < kSegmentBlocks && s.ok(); ++i) {
        uint64_t block = seg * kSegmentBlocks + i;
        for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
          BlockKind k = (*it)->Kind(block);
          if (k == BlockKind::kAbsent) continue;
          if (k == BlockKind::kZero) {
            s = writer.AddZero(block);
          } else if (const ChunkName* name = (*it)->NameOf(block)) {
            s = writer.AddName(block, *name);
          } else {
            s = absl::DataLossError(absl::StrFormat(
                "block %d of volume '%s' is damaged; fsck for details", block, volume));
          }
          break;
        }
      }
      if (!s.ok()) break;
    }
  }
  absl::MutexLock lock(&mu_);
  return FinishNewLayer(std::move(rec), &writer, s);
}

absl::StatusOr<LayerInfo> StoreImpl::SetLayerDescription(
    const std::string& name, const std::string& description) {
  RETURN_IF_ERROR(ValidateDescription(description));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
  rec.description = description;
  rocksdb::WriteBatch batch;
  batch.Put(LayerKey(rec.id), EncodeLayer(rec));
  RETURN_IF_ERROR(Commit(&batch));
  return DescribeLayer(rec);
}

absl::StatusOr<std::shared_ptr<BlockDevice>> StoreImpl::OpenLayer(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
  ASSIGN_OR_RETURN(auto stack, BuildStack({rec.id}));
  return std::shared_ptr<BlockDevice>(std::make_shared<Volume>(
      "layer:" + name, rec.size, chunk_size(), std::move(stack), nullptr));
}

}  // namespace layerdisk
