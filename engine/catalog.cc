#include "engine/catalog.h"

#include "absl/strings/str_cat.h"
#include "common/checksum.h"
#include "common/coding.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"

namespace layerdisk {
namespace {

// Records carry their kind's key letter so a checksum over one kind never
// validates as another.
std::string Seal(char kind, std::string body) {
  PutFixed64(&body, Checksum64(body, kCatalogSeed + static_cast<uint8_t>(kind)));
  return body;
}

absl::StatusOr<Decoder> Open(char kind, std::string_view v, const char* what) {
  if (v.size() < 9)
    return absl::DataLossError(absl::StrCat(what, " record is truncated"));
  std::string_view body = v.substr(0, v.size() - 8);
  if (DecodeFixed64(v.data() + body.size()) !=
      Checksum64(body, kCatalogSeed + static_cast<uint8_t>(kind)))
    return absl::DataLossError(absl::StrCat(what, " record has a bad checksum"));
  if (static_cast<uint8_t>(body[0]) != kCatalogRecordVersion)
    return absl::DataLossError(absl::StrCat(what, " record has unknown version"));
  return Decoder(body.substr(1));
}

absl::Status Malformed(const char* what) {
  return absl::DataLossError(absl::StrCat(what, " record is malformed"));
}

std::string Begin() { return std::string(1, static_cast<char>(kCatalogRecordVersion)); }

void PutIds(std::string* out, const std::vector<uint64_t>& ids) {
  PutVarint64(out, ids.size());
  for (uint64_t id : ids) PutVarint64(out, id);
}

bool GetIds(Decoder* d, std::vector<uint64_t>* ids) {
  uint64_t n;
  if (!d->GetVarint64(&n) || n > 4096) return false;
  ids->resize(n);
  for (uint64_t& id : *ids)
    if (!d->GetVarint64(&id)) return false;
  return true;
}

}  // namespace

std::string LayerKey(uint64_t id) {
  std::string k = "L";
  PutBigEndian64(&k, id);
  return k;
}
std::string LayerNameKey(const std::string& name) { return "l" + name; }
std::string VolumeKey(const std::string& name) { return "V" + name; }
std::string SnapshotPrefix(const std::string& volume) {
  return "S" + volume + std::string(1, '\0');
}
std::string SnapshotKey(const std::string& volume, const std::string& name) {
  return SnapshotPrefix(volume) + name;
}
std::string ScheduleKey(const std::string& volume) { return "T" + volume; }

std::string EncodeId(uint64_t id) {
  std::string out;
  PutBigEndian64(&out, id);
  return out;
}

absl::StatusOr<uint64_t> DecodeId(std::string_view v) {
  if (v.size() != 8) return absl::DataLossError("id record is malformed");
  return DecodeBigEndian64(v.data());
}

std::string EncodeCompression(ChunkCompression c) {
  std::string out = Begin();
  out.push_back(static_cast<char>(c));
  return Seal('C', std::move(out));
}

absl::StatusOr<ChunkCompression> DecodeCompression(std::string_view v) {
  ASSIGN_OR_RETURN(Decoder d, Open('C', v, "compression"));
  std::string_view mode;
  if (!d.GetBytes(1, &mode) || !d.done()) return Malformed("compression");
  const uint8_t value = static_cast<uint8_t>(mode[0]);
  if (value > static_cast<uint8_t>(kLastChunkCompression))
    return absl::FailedPreconditionError(absl::StrCat(
        "the store's chunk compression setting (", value,
        ") is unknown to this layerdisk; a newer one made it"));
  return static_cast<ChunkCompression>(value);
}

std::string EncodeFormat(const FormatRecord& r) {
  std::string out = Begin();
  PutFixed32(&out, r.format_version);
  PutFixed32(&out, r.chunk_size);
  // Stores with chunks in the local RocksDB keep the original record, which
  // every layerdisk reads.
  if (r.chunks != ChunkBackend::kRocksDb) {
    out.push_back(static_cast<char>(r.chunks));
    PutLengthPrefixed(&out, r.rados.ceph_conf);
    PutLengthPrefixed(&out, r.rados.pool);
    PutLengthPrefixed(&out, r.rados.user);
    PutLengthPrefixed(&out, r.rados.store_id);
  }
  return Seal('F', std::move(out));
}

absl::StatusOr<FormatRecord> DecodeFormat(std::string_view v) {
  ASSIGN_OR_RETURN(Decoder d, Open('F', v, "format"));
  FormatRecord r;
  if (!d.GetFixed32(&r.format_version) || !d.GetFixed32(&r.chunk_size))
    return Malformed("format");
  if (d.done()) return r;
  std::string_view backend;
  if (!d.GetBytes(1, &backend) || !d.GetLengthPrefixed(&r.rados.ceph_conf) ||
      !d.GetLengthPrefixed(&r.rados.pool) || !d.GetLengthPrefixed(&r.rados.user) ||
      !d.GetLengthPrefixed(&r.rados.store_id) || r.rados.store_id.empty() ||
      static_cast<uint8_t>(backend[0]) != static_cast<uint8_t>(ChunkBackend::kRados))
    return Malformed("format");
  r.chunks = ChunkBackend::kRados;
  return r;
}

std::string EncodeLayer(const LayerRecord& r) {
  std::string out = Begin();
  PutVarint64(&out, r.id);
  PutLengthPrefixed(&out, r.name);
  out.push_back(static_cast<char>(r.kind));
  out.push_back(static_cast<char>(r.state));
  out.push_back(r.frozen ? 1 : 0);
  PutVarint64(&out, r.size);
  PutVarint64(&out, r.data_blocks);
  PutVarint64(&out, r.created_unix);
  PutLengthPrefixed(&out, r.source);
  out.push_back(r.opaque ? 1 : 0);
  PutVarint64(&out, r.parent);
  PutLengthPrefixed(&out, r.image_id);
  out.push_back(r.fetching ? 1 : 0);
  PutLengthPrefixed(&out, r.description);
  PutLengthPrefixed(&out, r.content_sha256);
  PutIds(&out, r.base);
  PutLengthPrefixed(&out, r.content_digest);
  return Seal('L', std::move(out));
}

absl::StatusOr<LayerRecord> DecodeLayer(std::string_view v) {
  ASSIGN_OR_RETURN(Decoder d, Open('L', v, "layer"));
  LayerRecord r;
  std::string_view flags, opaque;
  if (!d.GetVarint64(&r.id) || !d.GetLengthPrefixed(&r.name) ||
      !d.GetBytes(3, &flags) || !d.GetVarint64(&r.size) ||
      !d.GetVarint64(&r.data_blocks) || !d.GetVarint64(&r.created_unix) ||
      !d.GetLengthPrefixed(&r.source) || !d.GetBytes(1, &opaque))
    return Malformed("layer");
  r.opaque = opaque[0] != 0;
  // Records written before delta layers end here; readers that predate them
  // ignore these trailing fields.
  if (!d.done() && (!d.GetVarint64(&r.parent) || !d.GetLengthPrefixed(&r.image_id)))
    return Malformed("layer");
  // Records written before lazy replication end here.
  std::string_view fetching;
  if (!d.done()) {
    if (!d.GetBytes(1, &fetching)) return Malformed("layer");
    r.fetching = fetching[0] != 0;
  }
  // Likewise records written before layer metadata end here.
  if (!d.done() && (!d.GetLengthPrefixed(&r.description) ||
                    !d.GetLengthPrefixed(&r.content_sha256) || !GetIds(&d, &r.base)))
    return Malformed("layer");
  // And records written before content digests here.
  if (!d.done() && !d.GetLengthPrefixed(&r.content_digest)) return Malformed("layer");
  uint8_t kind = flags[0], state = flags[1];
  if (kind < 1 || kind > 2 || state > 2) return Malformed("layer");
  r.kind = static_cast<LayerKind>(kind);
  r.state = static_cast<LayerState>(state);
  r.frozen = flags[2] != 0;
  return r;
}

std::string EncodeVolume(const VolumeRecord& r) {
  std::string out = Begin();
  PutLengthPrefixed(&out, r.name);
  PutVarint64(&out, r.size);
  PutIds(&out, r.stack);
  PutVarint64(&out, r.base_count);
  PutVarint64(&out, r.head);
  PutVarint64(&out, r.created_unix);
  return Seal('V', std::move(out));
}

absl::StatusOr<VolumeRecord> DecodeVolume(std::string_view v) {
  ASSIGN_OR_RETURN(Decoder d, Open('V', v, "volume"));
  VolumeRecord r;
  uint64_t base;
  if (!d.GetLengthPrefixed(&r.name) || !d.GetVarint64(&r.size) ||
      !GetIds(&d, &r.stack) || !d.GetVarint64(&base) || base > r.stack.size() ||
      !d.GetVarint64(&r.head) || !d.GetVarint64(&r.created_unix))
    return Malformed("volume");
  r.base_count = static_cast<uint32_t>(base);
  return r;
}

std::string EncodeSnapshot(const SnapshotRecord& r) {
  std::string out = Begin();
  PutLengthPrefixed(&out, r.volume);
  PutLengthPrefixed(&out, r.name);
  PutVarint64(&out, r.created_unix_ms);
  PutIds(&out, r.stack);
  PutVarint64(&out, r.changed_bytes);
  out.push_back(r.scheduled ? 1 : 0);
  if (r.base_count) PutVarint64(&out, *r.base_count);
  return Seal('S', std::move(out));
}

absl::StatusOr<SnapshotRecord> DecodeSnapshot(std::string_view v) {
  ASSIGN_OR_RETURN(Decoder d, Open('S', v, "snapshot"));
  SnapshotRecord r;
  if (!d.GetLengthPrefixed(&r.volume) || !d.GetLengthPrefixed(&r.name) ||
      !d.GetVarint64(&r.created_unix_ms) || !GetIds(&d, &r.stack) ||
      !d.GetVarint64(&r.changed_bytes))
    return Malformed("snapshot");
  // Records written before scheduled snapshots end here; readers that
  // predate them ignore the trailing flag.
  std::string_view scheduled;
  if (!d.done()) {
    if (!d.GetBytes(1, &scheduled)) return Malformed("snapshot");
    r.scheduled = scheduled[0] != 0;
  }
  // Records written before rebases end here.
  if (!d.done()) {
    uint64_t base;
    if (!d.GetVarint64(&base) || base > r.stack.size()) return Malformed("snapshot");
    r.base_count = static_cast<uint32_t>(base);
  }
  return r;
}

std::string EncodeSchedule(const ScheduleRecord& r) {
  std::string out = Begin();
  PutLengthPrefixed(&out, r.volume);
  PutVarint64(&out, r.every_seconds);
  PutVarint64(&out, r.keep);
  PutVarint64(&out, r.next_due_unix);
  return Seal('T', std::move(out));
}

absl::StatusOr<ScheduleRecord> DecodeSchedule(std::string_view v) {
  ASSIGN_OR_RETURN(Decoder d, Open('T', v, "schedule"));
  ScheduleRecord r;
  uint64_t keep;
  if (!d.GetLengthPrefixed(&r.volume) || !d.GetVarint64(&r.every_seconds) ||
      !d.GetVarint64(&keep) || keep == 0 || keep > UINT32_MAX ||
      !d.GetVarint64(&r.next_due_unix) || r.every_seconds == 0)
    return Malformed("schedule");
  r.keep = static_cast<uint32_t>(keep);
  return r;
}

absl::StatusOr<std::string> CatalogReader::Get(const std::string& key) {
  std::string value;
  RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), key, &value),
                            "read catalog"));
  return value;
}

absl::StatusOr<FormatRecord> CatalogReader::Format() {
  ASSIGN_OR_RETURN(std::string v, Get(kFormatKey));
  return DecodeFormat(v);
}

absl::StatusOr<ChunkCompression> CatalogReader::Compression() {
  absl::StatusOr<std::string> v = Get(kCompressionKey);
  if (absl::IsNotFound(v.status())) return ChunkCompression::kZstd;
  RETURN_IF_ERROR(v.status());
  return DecodeCompression(*v);
}

absl::StatusOr<LayerRecord> CatalogReader::Layer(uint64_t id) {
  ASSIGN_OR_RETURN(std::string v, Get(LayerKey(id)));
  return DecodeLayer(v);
}

absl::StatusOr<uint64_t> CatalogReader::LayerIdByName(const std::string& name) {
  ASSIGN_OR_RETURN(std::string v, Get(LayerNameKey(name)));
  return DecodeId(v);
}

absl::StatusOr<VolumeRecord> CatalogReader::Volume(const std::string& name) {
  ASSIGN_OR_RETURN(std::string v, Get(VolumeKey(name)));
  return DecodeVolume(v);
}

absl::StatusOr<SnapshotRecord> CatalogReader::Snapshot(
    const std::string& volume, const std::string& name) {
  ASSIGN_OR_RETURN(std::string v, Get(SnapshotKey(volume, name)));
  return DecodeSnapshot(v);
}

absl::StatusOr<ScheduleRecord> CatalogReader::Schedule(const std::string& volume) {
  ASSIGN_OR_RETURN(std::string v, Get(ScheduleKey(volume)));
  return DecodeSchedule(v);
}

absl::StatusOr<uint64_t> CatalogReader::NextId() {
  absl::StatusOr<std::string> v = Get(kNextIdKey);
  if (absl::IsNotFound(v.status())) return 1;
  if (!v.ok()) return v.status();
  return DecodeId(*v);
}

namespace {

// A damaged record is skipped and named in `damaged`, so one bad record
// does not hide the rest of the store.
template <typename Record, typename DecodeFn>
absl::StatusOr<std::vector<Record>> Scan(rocksdb::DB* db,
                                         const std::string& prefix,
                                         DecodeFn decode,
                                         std::vector<std::string>* damaged) {
  std::vector<Record> out;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    absl::StatusOr<Record> r = decode({it->value().data(), it->value().size()});
    if (!r.ok()) {
      damaged->push_back(absl::StrCat("catalog record ", it->key().ToString(true),
                                      ": ", r.status().message()));
      continue;
    }
    out.push_back(*std::move(r));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan catalog"));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<LayerRecord>> CatalogReader::AllLayers() {
  return Scan<LayerRecord>(db_, "L", DecodeLayer, &damaged_);
}

absl::StatusOr<std::vector<VolumeRecord>> CatalogReader::AllVolumes() {
  return Scan<VolumeRecord>(db_, "V", DecodeVolume, &damaged_);
}

absl::StatusOr<std::vector<SnapshotRecord>> CatalogReader::Snapshots(
    const std::optional<std::string>& volume) {
  return Scan<SnapshotRecord>(db_, volume ? SnapshotPrefix(*volume) : "S",
                              DecodeSnapshot, &damaged_);
}

absl::StatusOr<std::vector<ScheduleRecord>> CatalogReader::AllSchedules() {
  return Scan<ScheduleRecord>(db_, "T", DecodeSchedule, &damaged_);
}

}  // namespace layerdisk
