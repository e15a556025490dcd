// LayerExchange over a StoreImpl: the engine side of replication
// (engine/layer_exchange.h).
#include <cstring>
#include <optional>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "dedupe/content_digest.h"
#include "dedupe/rocks_status.h"
#include "engine/layer_exchange.h"
#include "engine/store_impl.h"
#include "layers/layer_writer.h"
#include "layers/map_digest.h"

namespace layerdisk {

namespace {
constexpr char kIdentityDomain[] = "layerdisk-layer-manifest-v1";
// Chunk lookups per MultiGet: bounds the memory of one lookup round.
constexpr size_t kLookupBatch = 8192;

void AppendFixed64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
}  // namespace

std::string ManifestIdentity(const LayerManifest& m, const std::string& parent_identity) {
  std::string buf(kIdentityDomain);
  AppendFixed64(&buf, m.size);
  AppendFixed64(&buf, m.block_size);
  buf.push_back(m.opaque ? 1 : 0);
  AppendFixed64(&buf, parent_identity.size());
  buf.append(parent_identity);
  for (const ManifestSegment& s : m.segments) {
    AppendFixed64(&buf, s.index);
    buf.append(s.map.states.bytes());
    for (const ChunkName& n : s.map.names) buf.append(n.view());
  }
  return std::string(NameChunk(buf).view());
}

absl::Status ValidateManifest(const LayerManifest& m) {
  RETURN_IF_ERROR(ValidateName("layer", m.name));
  absl::Status description = ValidateDescription(m.description);
  if (!description.ok())
    return absl::InvalidArgumentError(
        absl::StrFormat("manifest of '%s': %s", m.name, description.message()));
  if (!m.content_sha256.empty() &&
      (m.content_sha256.size() != 64 ||
       m.content_sha256.find_first_not_of("0123456789abcdef") != std::string::npos))
    return absl::InvalidArgumentError(absl::StrFormat(
        "manifest of '%s': the image SHA-256 is not 64 lowercase hex digits", m.name));
  if (!m.content_digest.empty() && !IsContentDigestText(m.content_digest))
    return absl::InvalidArgumentError(absl::StrFormat(
        "manifest of '%s': the content digest is not blocks-SIZE:64 hex digits", m.name));
  if (m.size == 0 || m.size > kMaxVolumeSize)
    return absl::InvalidArgumentError(absl::StrFormat(
        "manifest of '%s': size %d is out of range", m.name, m.size));
  if (m.block_size < 4096 || (m.block_size & (m.block_size - 1)) != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "manifest of '%s': block size %d is not valid", m.name, m.block_size));
  const uint64_t blocks = (m.size + m.block_size - 1) / m.block_size;
  uint64_t data = 0;
  std::optional<uint64_t> last;
  for (const ManifestSegment& s : m.segments) {
    if (last && s.index <= *last)
      return absl::InvalidArgumentError(absl::StrFormat(
          "manifest of '%s': segment %d is out of order", m.name, s.index));
    last = s.index;
    if (s.map.states.Empty())
      return absl::InvalidArgumentError(absl::StrFormat(
          "manifest of '%s': segment %d is empty", m.name, s.index));
    for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
      BlockKind k = s.map.states.Get(i);
      if (k != BlockKind::kAbsent && s.index * kSegmentBlocks + i >= blocks)
        return absl::InvalidArgumentError(absl::StrFormat(
            "manifest of '%s': block %d is past the layer's end", m.name,
            s.index * kSegmentBlocks + i));
    }
    if (s.map.names.size() != s.map.states.Count(BlockKind::kData))
      return absl::InvalidArgumentError(absl::StrFormat(
          "manifest of '%s': segment %d names %d chunks for %d data blocks", m.name,
          s.index, s.map.names.size(), s.map.states.Count(BlockKind::kData)));
    data += s.map.names.size();
  }
  if (data != m.data_blocks)
    return absl::InvalidArgumentError(absl::StrFormat(
        "manifest of '%s': %d data blocks mapped, %d declared", m.name, data,
        m.data_blocks));
  return absl::OkStatus();
}

namespace {

// The content digest is metadata the identity does not cover: it must be
// the one the map spells, or the layer would claim to be an image it is not.
absl::Status CheckContentDigest(const LayerManifest& m) {
  if (m.content_digest.empty()) return absl::OkStatus();
  MapDigest spelled(m.size, m.block_size);
  for (const ManifestSegment& s : m.segments) spelled.AddSegment(s.index, s.map);
  if (spelled.Text() != m.content_digest)
    return absl::InvalidArgumentError(absl::StrFormat(
        "manifest of '%s': its map does not read as its content digest says", m.name));
  return absl::OkStatus();
}

}  // namespace

// Friend of StoreImpl: reaches its catalog, maps and chunks.
class StoreExchange final : public LayerExchange {
 public:
  explicit StoreExchange(StoreImpl* store) : s_(store) {}

  uint32_t chunk_size() const override { return s_->chunk_size(); }

  absl::StatusOr<LayerManifest> ExportLayerManifest(const std::string& name) override {
    absl::MutexLock lock(&s_->mu_);
    ASSIGN_OR_RETURN(LayerRecord rec, s_->FindNamedLayer(name));
    return ExportLocked(rec, /*allow_fetching=*/false);
  }

  absl::StatusOr<std::vector<LayerInfo>> ListLayers() override { return s_->ListLayers(); }

  absl::StatusOr<std::vector<std::string>> ReadChunkRecords(
      absl::Span<const ChunkName> names) override {
    return s_->chunks_->ReadRecords(names);
  }

  absl::StatusOr<std::vector<bool>> HasChunks(absl::Span<const ChunkName> names) override {
    std::vector<bool> out;
    out.reserve(names.size());
    for (size_t i = 0; i < names.size(); i += kLookupBatch) {
      ASSIGN_OR_RETURN(std::vector<bool> part,
                       s_->chunks_->Contains(names.subspan(i, kLookupBatch)));
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

  absl::Status IngestChunkRecords(
      absl::Span<const ChunkStore::ReceivedRecord> records) override {
    return s_->chunks_->IngestRecords(records, s_->chunk_size());
  }

  absl::StatusOr<LayerInfo> CommitLayerManifest(const LayerManifest& m,
                                                const std::string& origin) override {
    return CommitManifest(m, origin, /*lazy=*/false);
  }

  absl::StatusOr<LayerInfo> BeginFetchingLayer(const LayerManifest& m,
                                               const std::string& origin) override {
    return CommitManifest(m, origin, /*lazy=*/true);
  }

  absl::StatusOr<std::vector<ChunkName>> MissingChunks(const std::string& name) override {
    absl::MutexLock lock(&s_->mu_);
    ASSIGN_OR_RETURN(LayerRecord rec, s_->FindNamedLayer(name));
    return s_->MissingChunksOf(rec);
  }

  absl::StatusOr<LayerInfo> CompleteFetchingLayer(const std::string& name) override {
    return s_->CompleteFetching(name);
  }

  absl::StatusOr<std::vector<std::string>> FetchingLayers() override {
    return s_->FetchingLayerNames();
  }

  void SetMissingChunkSource(std::shared_ptr<MissingChunkSource> source) override {
    s_->SetMissingChunkSource(std::move(source));
  }

 private:
  // A layer from a manifest: complete (every chunk here, references added
  // as the map is written), or lazy (marked fetching, the map written
  // without references, chunks to come).
  absl::StatusOr<LayerInfo> CommitManifest(const LayerManifest& m, const std::string& origin,
                                           bool lazy);
  // Writes a fetching layer's map as is: it holds no references.
  absl::Status WriteMapWithoutReferences(uint64_t id, const LayerManifest& m);
  // The manifest of `rec`. A layer still fetching (or over one) is refused
  // unless allow_fetching: it cannot be replicated onward until complete.
  // REQUIRES: s_->mu_ held.
  absl::StatusOr<LayerManifest> ExportLocked(const LayerRecord& rec, bool allow_fetching);

  StoreImpl* const s_;
};

absl::StatusOr<LayerManifest> StoreExchange::ExportLocked(const LayerRecord& rec,
                                                          bool allow_fetching) {
  if (rec.kind != LayerKind::kSealed || rec.state != LayerState::kLive)
    return absl::FailedPreconditionError(
        absl::StrFormat("layer '%s' is not sealed yet", rec.name));
  if (rec.fetching && !allow_fetching)
    return absl::FailedPreconditionError(absl::StrFormat(
        "layer '%s' is still being fetched from upstream; it can be replicated once "
        "complete", rec.name));
  LayerManifest m;
  m.name = rec.name;
  m.size = rec.size;
  m.block_size = s_->chunk_size();
  m.opaque = rec.opaque;
  m.image_id = rec.image_id;
  m.data_blocks = rec.data_blocks;
  m.description = rec.description;
  m.content_sha256 = rec.content_sha256;
  m.content_digest = rec.content_digest;
  std::string parent_identity;
  if (rec.parent != 0) {
    ASSIGN_OR_RETURN(LayerRecord parent, s_->catalog().Layer(rec.parent));
    // The parent's own manifest is read only for its identity: the chain
    // is short (a delta over a whole disk) and this keeps one definition.
    ASSIGN_OR_RETURN(LayerManifest pm, ExportLocked(parent, allow_fetching));
    m.parent = parent.name;
    parent_identity = pm.identity;
  }
  ASSIGN_OR_RETURN(m.segments, s_->ReadLayerSegments(rec));
  m.identity = ManifestIdentity(m, parent_identity);
  return m;
}

absl::Status StoreExchange::WriteMapWithoutReferences(uint64_t id, const LayerManifest& m) {
  constexpr size_t kSegmentsPerCommit = 16;
  rocksdb::WriteBatch batch;
  for (const ManifestSegment& seg : m.segments) {
    batch.Put(s_->maps_, MapKey(id, seg.index), EncodeMapSegment(id, seg.index, seg.map));
    if (batch.Count() == kSegmentsPerCommit) {
      RETURN_IF_ERROR(FromRocks(s_->db_->Write(rocksdb::WriteOptions(), &batch),
                                "write layer map"));
      batch.Clear();
    }
  }
  // Unsynced, as a LayerWriter's: the final synced catalog commit orders after.
  return FromRocks(s_->db_->Write(rocksdb::WriteOptions(), &batch), "write layer map");
}

absl::StatusOr<LayerInfo> StoreExchange::CommitManifest(const LayerManifest& m,
                                                        const std::string& origin,
                                                        bool lazy) {
  RETURN_IF_ERROR(ValidateManifest(m));
  if (m.block_size != s_->chunk_size())
    return absl::FailedPreconditionError(absl::StrFormat(
        "layer '%s' has %d-byte blocks but this store's chunk size is %d", m.name,
        m.block_size, s_->chunk_size()));
  LayerRecord rec;
  {
    absl::MutexLock lock(&s_->mu_);
    if (s_->catalog().LayerIdByName(m.name).ok() || s_->importing_.count(m.name))
      return absl::AlreadyExistsError(absl::StrFormat("layer '%s' already exists", m.name));
    std::string parent_identity;
    if (!m.parent.empty()) {
      absl::StatusOr<LayerRecord> parent = s_->FindNamedLayer(m.parent);
      if (absl::IsNotFound(parent.status()))
        return absl::FailedPreconditionError(absl::StrFormat(
            "layer '%s' is a delta over '%s', which this store lacks", m.name, m.parent));
      if (!parent.ok()) return parent.status();
      // A parent still fetching reads the same once complete: its identity
      // is its manifest's.
      ASSIGN_OR_RETURN(LayerManifest pm, ExportLocked(*parent, /*allow_fetching=*/true));
      parent_identity = pm.identity;
      rec.parent = parent->id;
    }
    if (ManifestIdentity(m, parent_identity) != m.identity)
      return absl::Status(
          lazy ? absl::StatusCode::kDataLoss : absl::StatusCode::kFailedPrecondition,
          absl::StrFormat(
              "the manifest of layer '%s' does not match its identity%s", m.name,
              m.parent.empty() ? "" : " over the local parent layer (different content?)"));
    RETURN_IF_ERROR(CheckContentDigest(m));
    rocksdb::WriteBatch batch;
    rec.id = s_->AllocateId(&batch);
    rec.name = m.name;
    rec.kind = LayerKind::kSealed;
    rec.state = LayerState::kWriting;
    rec.size = m.size;
    rec.created_unix = NowUnix();
    rec.source = "replicate:" + origin;
    rec.image_id = m.image_id;
    rec.opaque = m.opaque;
    rec.description = m.description;
    rec.content_sha256 = m.content_sha256;
    rec.content_digest = m.content_digest;
    // Set from the first record on: a crash before the commit leaves a
    // kWriting layer whose removal must not drop references it never took.
    rec.fetching = lazy;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    RETURN_IF_ERROR(s_->Commit(&batch));
    s_->importing_.insert(m.name);
  }
  if (lazy) {
    absl::Status st = WriteMapWithoutReferences(rec.id, m);
    absl::MutexLock lock(&s_->mu_);
    s_->importing_.erase(m.name);
    rocksdb::WriteBatch batch;
    if (st.ok()) {
      rec.state = LayerState::kLive;
      rec.data_blocks = m.data_blocks;
      batch.Put(LayerKey(rec.id), EncodeLayer(rec));
      batch.Put(LayerNameKey(m.name), EncodeId(rec.id));
      st = s_->Commit(&batch);
      if (st.ok()) return s_->DescribeLayer(rec);
      batch.Clear();
    }
    rec.state = LayerState::kDeleting;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    if (s_->Commit(&batch).ok()) s_->Enqueue(StoreImpl::TaskKind::kDelete, rec.id);
    return st;
  }
  LayerWriter writer(s_->db_.get(), s_->maps_, s_->chunks_.get(), rec.id, s_->chunk_size());
  absl::Status st;
  for (const ManifestSegment& seg : m.segments) {
    for (uint32_t i = 0; i < kSegmentBlocks && st.ok(); ++i) {
      uint64_t block = seg.index * kSegmentBlocks + i;
      switch (seg.map.states.Get(i)) {
        case BlockKind::kData: st = writer.AddName(block, seg.map.NameOf(i)); break;
        case BlockKind::kZero: st = writer.AddZero(block); break;
        default: break;
      }
    }
    if (!st.ok()) break;
  }
  absl::MutexLock lock(&s_->mu_);
  s_->importing_.erase(m.name);
  if (st.ok()) {
    rec.state = LayerState::kLive;
    rec.data_blocks = writer.data_blocks();
    st = writer.Finish([&](rocksdb::WriteBatch* batch) {
      batch->Put(LayerKey(rec.id), EncodeLayer(rec));
      batch->Put(LayerNameKey(m.name), EncodeId(rec.id));
    });
  }
  if (!st.ok()) {
    // As a failed import: the partial map goes in the background.
    rec.state = LayerState::kDeleting;
    rocksdb::WriteBatch batch;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    if (s_->Commit(&batch).ok()) s_->Enqueue(StoreImpl::TaskKind::kDelete, rec.id);
    return st;
  }
  return s_->DescribeLayer(rec);
}

std::unique_ptr<LayerExchange> GetLayerExchange(Store* store) {
  auto* impl = dynamic_cast<StoreImpl*>(store);
  if (impl == nullptr) return nullptr;
  return std::make_unique<StoreExchange>(impl);
}

}  // namespace layerdisk
