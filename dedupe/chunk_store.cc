#include "dedupe/chunk_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/parallel.h"
#include "common/status_macros.h"
#include "dedupe/chunk_codec.h"
#include "dedupe/rocks_status.h"

namespace layerdisk {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

void DeleteCachedChunk(const rocksdb::Slice& /*key*/, void* value) {
  delete static_cast<std::string*>(value);
}

}  // namespace

ChunkStore::ChunkStore(rocksdb::DB* db, std::unique_ptr<ChunkBytes> bytes,
                       rocksdb::ColumnFamilyHandle* refs, uint64_t cache_bytes,
                       std::vector<rocksdb::ColumnFamilyHandle*> families,
                       ChunkCompression compression)
    : db_(db),
      bytes_(std::move(bytes)),
      refs_(refs),
      cache_(cache_bytes == 0 ? nullptr
                              : rocksdb::NewLRUCache(std::max<uint64_t>(cache_bytes, 1 << 20))),
      families_(db->GetDBOptions().atomic_flush ? std::move(families)
                                                : std::vector<rocksdb::ColumnFamilyHandle*>()),
      compression_(compression) {}

absl::Status ChunkStore::FlushMemtables() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  // Another writer's flush may have switched the memtables already; waiting
  // for it is what this call needs anyway.
  fo.allow_write_stall = true;
  return FromRocks(db_->Flush(fo, families_), "flush memtables");
}

bool ChunkStore::ReadCached(const ChunkName& name, absl::Span<char> out) {
  if (cache_ == nullptr) return false;
  rocksdb::Cache::Handle* h = cache_->Lookup(ToSlice(name.view()));
  if (h == nullptr) {
    cache_misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  cache_hits_.fetch_add(1, std::memory_order_relaxed);
  const auto* bytes = static_cast<const std::string*>(cache_->Value(h));
  bool fits = bytes->size() == out.size();
  if (fits) std::memcpy(out.data(), bytes->data(), out.size());
  cache_->Release(h);
  return fits;
}

absl::Status ChunkStore::DecodeAndCache(const ChunkName& name, std::string_view record,
                                        absl::Span<char> out) {
  absl::Status decoded = DecodeChunk(record, out);
  if (!decoded.ok())
    return absl::DataLossError(absl::StrCat("chunk ", name.Hex(), ": ", decoded.message()));
  // A shared pool is written by other hosts too: a record that decodes is
  // not trusted to be the chunk its name says until its SHA-256 agrees.
  if (shared_pool() != nullptr && !(NameChunk({out.data(), out.size()}) == name))
    return absl::DataLossError(absl::StrCat("chunk ", name.Hex(), " in RADOS pool ",
                                            shared_pool()->pool_name(),
                                            " does not hold the bytes its name says"));
  if (cache_ == nullptr) return absl::OkStatus();
  auto* copy = new std::string(out.data(), out.size());
  if (!cache_->Insert(ToSlice(name.view()), copy, copy->size(), &DeleteCachedChunk).ok())
    delete copy;
  return absl::OkStatus();
}

absl::Status ChunkStore::Read(const ChunkName& name, absl::Span<char> out) {
  if (ReadCached(name, out)) return absl::OkStatus();
  const ChunkName* names[] = {&name};
  std::vector<absl::StatusOr<std::string>> records = FetchRecords(names);
  RETURN_IF_ERROR(records[0].status());
  return DecodeAndCache(name, *records[0], out);
}

std::vector<absl::StatusOr<std::string>> ChunkStore::FetchRecords(
    absl::Span<const ChunkName* const> names) {
  std::vector<absl::StatusOr<std::string>> records = bytes_->GetMany(names);
  for (size_t i = 0; i < names.size(); ++i)
    if (absl::IsNotFound(records[i].status()))
      records[i] = absl::DataLossError(absl::StrCat("chunk ", names[i]->Hex(), " is missing"));
  return records;
}

absl::Status ChunkStore::ReadMany(absl::Span<const ChunkName* const> names, size_t length,
                                  absl::Span<char> out) {
  std::vector<size_t> misses;
  for (size_t i = 0; i < names.size(); ++i)
    if (!ReadCached(*names[i], out.subspan(i * length, length))) misses.push_back(i);
  if (misses.empty()) return absl::OkStatus();
  std::vector<const ChunkName*> missed;
  missed.reserve(misses.size());
  for (size_t i : misses) missed.push_back(names[i]);
  std::vector<absl::StatusOr<std::string>> records = FetchRecords(missed);
  std::vector<absl::Status> results(misses.size());
  auto decode = [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      if (!records[j].ok()) {
        results[j] = records[j].status();
      } else {
        results[j] = DecodeAndCache(*missed[j], *records[j],
                                    out.subspan(misses[j] * length, length));
      }
    }
  };
  // Decompression is the wall (~500 MB/s a core for 4 KiB chunks): spread
  // a large batch over the cores; a small one is not worth the threads.
  if (misses.size() >= 32) {
    ParallelFor(misses.size(), decode);
  } else {
    decode(0, misses.size());
  }
  for (const absl::Status& r : results) RETURN_IF_ERROR(r);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChunkStore::ReadRecord(const ChunkName& name) {
  const ChunkName* names[] = {&name};
  return std::move(FetchRecords(names)[0]);
}

absl::StatusOr<std::vector<std::string>> ChunkStore::ReadRecords(
    absl::Span<const ChunkName> names) {
  std::vector<const ChunkName*> pointers;
  pointers.reserve(names.size());
  for (const ChunkName& n : names) pointers.push_back(&n);
  std::vector<absl::StatusOr<std::string>> fetched = FetchRecords(pointers);
  std::vector<std::string> records(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    RETURN_IF_ERROR(fetched[i].status());
    records[i] = std::move(*fetched[i]);
  }
  return records;
}

absl::StatusOr<std::optional<RefRecord>> ChunkStore::Lookup(
    const ChunkName& name) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), refs_, ToSlice(name.view()), &value);
  if (s.IsNotFound()) return std::optional<RefRecord>();
  RETURN_IF_ERROR(FromRocks(s, "read chunk reference count"));
  std::optional<RefRecord> r = DecodeRefRecord(value);
  if (!r)
    return absl::DataLossError(
        absl::StrCat("reference count of chunk ", name.Hex(), " is damaged"));
  return r;
}

absl::StatusOr<std::vector<std::optional<RefRecord>>> ChunkStore::LookupMany(
    absl::Span<const ChunkName* const> names) {
  std::vector<rocksdb::Slice> keys;
  keys.reserve(names.size());
  for (const ChunkName* n : names) keys.push_back(ToSlice(n->view()));
  std::vector<rocksdb::PinnableSlice> values(names.size());
  std::vector<rocksdb::Status> statuses(names.size());
  db_->MultiGet(rocksdb::ReadOptions(), refs_, keys.size(), keys.data(), values.data(),
                statuses.data());
  std::vector<std::optional<RefRecord>> out(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    RETURN_IF_ERROR(FromRocks(statuses[i], "read chunk reference counts"));
    out[i] = DecodeRefRecord({values[i].data(), values[i].size()});
    if (!out[i])
      return absl::DataLossError(
          absl::StrCat("reference count of chunk ", names[i]->Hex(), " is damaged"));
  }
  return out;
}

absl::Status ChunkStore::ForEachChunk(
    const std::function<bool(const ChunkName&, const RefRecord&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), refs_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    rocksdb::Slice v = it->value();
    std::optional<RefRecord> r = DecodeRefRecord({v.data(), v.size()});
    if (k.size() != kChunkNameSize || !r)
      return absl::DataLossError("a chunk reference-count record is damaged");
    if (!fn(ChunkName::FromBytes({k.data(), k.size()}), *r)) break;
  }
  return FromRocks(it->status(), "scan chunk reference counts");
}

absl::StatusOr<ChunkGcResult> ChunkStore::CollectGarbage() {
  std::vector<ChunkName> candidates;
  RETURN_IF_ERROR(ForEachChunk([&](const ChunkName& name, const RefRecord& r) {
    if (r.refs <= 0) candidates.push_back(name);
    return true;
  }));
  ChunkGcResult result;
  if (candidates.empty()) return result;
  {
    absl::MutexLock lock(&commit_mu_);
    rocksdb::WriteBatch batch;
    std::vector<ChunkName> dead;
    for (const ChunkName& name : candidates) {
      // A writer may have referenced it again since the scan.
      ASSIGN_OR_RETURN(std::optional<RefRecord> r, Lookup(name));
      if (!r || r->refs > 0) continue;
      dead.push_back(name);
      batch.Delete(refs_, ToSlice(name.view()));
      ++result.chunks_removed;
      result.bytes_reclaimed += r->stored_length;
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    // Once the counts are deleted, and only then: a writer that read the
    // old generation before its lookup must look again at commit; one that
    // reads the new one looks after the deletion.
    auto delete_counts = [&]() -> absl::Status {
      absl::Status written = FromRocks(db_->Write(wo, &batch), "delete chunks");
      if (written.ok() && !dead.empty()) gc_generation_.fetch_add(1);
      return written;
    };
    if (shared_pool() == nullptr) {
      RETURN_IF_ERROR(bytes_->DeleteMany(dead, &batch));  // into the batch
      RETURN_IF_ERROR(delete_counts());
    } else {
      // The local counts go first: a crash in between leaves references in
      // the pool that this store no longer holds, which SweepPool releases.
      // The other order would leave local counts whose records other
      // stores may have removed, and a writer would reference them.
      RETURN_IF_ERROR(delete_counts());
      RETURN_IF_ERROR(bytes_->DeleteMany(dead, nullptr));
    }
  }
  RETURN_IF_ERROR(bytes_->Reclaim());
  result.garbage_bytes_left = bytes_->FileUsage().garbage_bytes;
  return result;
}

ChunkStore::CacheStats ChunkStore::cache_stats() const {
  CacheStats stats;
  stats.hits = cache_hits_.load(std::memory_order_relaxed);
  stats.misses = cache_misses_.load(std::memory_order_relaxed);
  if (cache_ != nullptr) {
    stats.bytes = cache_->GetUsage();
    stats.capacity = cache_->GetCapacity();
  }
  return stats;
}

absl::StatusOr<std::vector<ChunkName>> ChunkStore::Unknown(absl::Span<const ChunkName> names) {
  std::vector<const ChunkName*> pointers;
  for (const ChunkName& n : names) pointers.push_back(&n);
  ASSIGN_OR_RETURN(std::vector<std::optional<RefRecord>> known, LookupMany(pointers));
  std::vector<ChunkName> unknown;
  for (size_t i = 0; i < names.size(); ++i)
    if (!known[i]) unknown.push_back(names[i]);
  return unknown;
}

absl::Status ChunkStore::AdoptPooled(absl::Span<const ChunkName> names, uint32_t raw_length) {
  SharedPool* pool = shared_pool();
  if (pool == nullptr)
    return absl::FailedPreconditionError("the store's chunks are not in a shared pool");
  // Under the commit lock, like a writer: the store's own sweep must not
  // release a reference between the claim and the local count.
  absl::MutexLock lock(&commit_mu_);
  ASSIGN_OR_RETURN(std::vector<ChunkName> missing, Unknown(names));
  if (missing.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::vector<uint32_t> stored_lengths, pool->Claim(missing));
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < missing.size(); ++i) {
    RefRecord add{0, raw_length, stored_lengths[i]};
    batch.Merge(refs_, ToSlice(missing[i].view()), ToSlice(EncodeRefRecord(add)));
  }
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "adopt pooled chunks");
}

absl::StatusOr<uint64_t> ChunkStore::SweepPool() {
  SharedPool* pool = shared_pool();
  if (pool == nullptr) return 0;
  uint64_t removed = 0;
  RETURN_IF_ERROR(pool->ForEachSweepCandidate([&](absl::Span<const ChunkName> candidates) {
    absl::MutexLock lock(&commit_mu_);
    ASSIGN_OR_RETURN(std::vector<ChunkName> unheld, Unknown(candidates));
    ASSIGN_OR_RETURN(uint64_t n, pool->Release(unheld));
    removed += n;
    return absl::OkStatus();
  }));
  return removed;
}

absl::Status ChunkStore::IngestRecords(absl::Span<const ReceivedRecord> records,
                                       uint32_t raw_length) {
  // Verify everything before taking the lock: decoding and hashing are the
  // CPU work, spread over the cores for a large batch.
  std::vector<absl::Status> checks(records.size());
  auto verify = [&](size_t begin, size_t end) {
    std::string bytes(raw_length, '\0');
    for (size_t i = begin; i < end; ++i) {
      const ReceivedRecord& r = records[i];
      if (ChunkRawLength(r.record) != raw_length) {
        checks[i] = absl::DataLossError(absl::StrCat(
            "chunk ", r.name.Hex(), ": the record holds ", ChunkRawLength(r.record),
            " bytes, not a block of ", raw_length));
        continue;
      }
      absl::Status decoded = DecodeChunk(r.record, absl::MakeSpan(bytes));
      if (!decoded.ok()) {
        checks[i] = absl::DataLossError(
            absl::StrCat("chunk ", r.name.Hex(), ": ", decoded.message()));
      } else if (!(NameChunk(bytes) == r.name)) {
        checks[i] = absl::DataLossError(absl::StrCat(
            "chunk ", r.name.Hex(), ": its bytes do not match its name (SHA-256)"));
      }
    }
  };
  if (records.size() >= 32) {
    ParallelFor(records.size(), verify);
  } else {
    verify(0, records.size());
  }
  for (const absl::Status& c : checks) RETURN_IF_ERROR(c);

  absl::MutexLock lock(&commit_mu_);
  rocksdb::WriteBatch batch;
  for (const ReceivedRecord& r : records) {
    ASSIGN_OR_RETURN(std::optional<RefRecord> known, Lookup(r.name));
    if (known) continue;
    rocksdb::Slice key = ToSlice(r.name.view());
    bytes_->Put(r.name, r.record, &batch);
    RefRecord add{0, raw_length, static_cast<uint32_t>(r.record.size())};
    batch.Merge(refs_, key, ToSlice(EncodeRefRecord(add)));
  }
  RETURN_IF_ERROR(bytes_->Flush());
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "store received chunks");
}

absl::StatusOr<std::vector<bool>> ChunkStore::Contains(absl::Span<const ChunkName> names) {
  std::vector<const ChunkName*> pointers;
  pointers.reserve(names.size());
  for (const ChunkName& n : names) pointers.push_back(&n);
  ASSIGN_OR_RETURN(std::vector<std::optional<RefRecord>> found, LookupMany(pointers));
  std::vector<bool> present(names.size());
  for (size_t i = 0; i < names.size(); ++i) present[i] = found[i].has_value();
  return present;
}

PreparedChunk ChunkStore::Prepare(std::string_view data) {
  ChunkName name = NameChunk(data);
  absl::StatusOr<std::optional<RefRecord>> known = Lookup(name);
  return Prepare(name, data, known.ok() && known->has_value());
}

PreparedChunk ChunkStore::Prepare(const ChunkName& name, std::string_view data,
                                  bool stored, uint64_t gc_generation) const {
  PreparedChunk chunk;
  chunk.name = name;
  if (stored) {
    chunk.stored_as_of = gc_generation;
    chunk.raw.assign(data);  // in case GC removes it before the commit
  } else {
    EncodeChunk(data, &chunk.record, compression_);
  }
  return chunk;
}

ChunkName ChunkBatch::AddData(std::string_view data) {
  ChunkName name = NameChunk(data);
  PendingChange& change = Change(name);
  change.delta += 1;
  if (change.raw.empty() && change.record.empty()) {
    PreparedChunk prepared = store_->Prepare(data);
    change.raw = std::move(prepared.raw);
    change.record = std::move(prepared.record);
  }
  return name;
}

ChunkName ChunkBatch::AddPrepared(PreparedChunk chunk) {
  PendingChange& change = Change(chunk.name);
  change.delta += 1;
  if (change.raw.empty() && change.record.empty()) {
    change.raw = std::move(chunk.raw);
    change.record = std::move(chunk.record);
    change.stored_as_of = chunk.stored_as_of;
  }
  return chunk.name;
}

absl::Status ChunkBatch::Commit(bool sync) {
  const bool unlogged = log_ == CommitLog::kUnlogged;
  if (unlogged && sync)
    return absl::InternalError("an unlogged chunk batch cannot commit synced");
  absl::MutexLock lock(&store_->commit_mu_);
  // The chunk changes join the caller's records in one atomic write. After a
  // failed Commit the batch is spent: the caller abandons it.
  rocksdb::WriteBatch& batch = records_;
  uint64_t new_chunks = 0, new_bytes = 0;
  // Which of the chunks gaining references are stored, in one batched read
  // under the commit lock (GC may have removed one since it was prepared).
  // A chunk found stored since GC last deleted any still is: no lookup.
  const uint64_t generation = store_->gc_generation();
  auto known_stored = [generation](const PendingChange& change) {
    return change.stored_as_of == generation;
  };
  // Written in name order: a memtable's skip list inserts ascending keys
  // much faster than random ones (each search starts where the last ended).
  std::vector<std::pair<const ChunkName*, PendingChange*>> ordered;
  ordered.reserve(changes_.size());
  for (auto& [name, change] : changes_)
    if (change.delta != 0) ordered.emplace_back(&name, &change);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first->view() < b.first->view(); });
  std::vector<const ChunkName*> gaining;
  for (const auto& [name, change] : ordered)
    if (change->delta > 0 && !known_stored(*change)) gaining.push_back(name);
  ASSIGN_OR_RETURN(std::vector<std::optional<RefRecord>> stored,
                   store_->LookupMany(gaining));
  size_t next_gaining = 0;
  for (auto& [name_ptr, change_ptr] : ordered) {
    const ChunkName& name = *name_ptr;
    PendingChange& change = *change_ptr;
    rocksdb::Slice key = ToSlice(name.view());
    RefRecord add{change.delta, 0, 0};
    if (change.delta > 0) {
      if (!known_stored(change) && !stored[next_gaining++]) {
        if (change.record.empty() && change.raw.empty())
          return absl::DataLossError(absl::StrCat(
              "chunk ", name.Hex(), " is referenced but missing from the store"));
        if (change.record.empty())
          EncodeChunk(change.raw, &change.record, store_->compression_);
        store_->bytes_->Put(name, change.record, &batch);
        add.raw_length = ChunkRawLength(change.record);
        add.stored_length = static_cast<uint32_t>(change.record.size());
        ++new_chunks;
        new_bytes += change.record.size();
        if (unlogged) {
          store_->unlogged_chunks_.insert(name);
          unlogged_stored_.push_back(name);
        }
      } else if (!unlogged && store_->unlogged_chunks_.contains(name)) {
        RETURN_IF_ERROR(RestoreUnloggedRecord(name, &change));
        store_->bytes_->Put(name, change.record, &batch);
        add.raw_length = ChunkRawLength(change.record);
        add.stored_length = static_cast<uint32_t>(change.record.size());
      }
    }
    batch.Merge(store_->refs_, key, ToSlice(EncodeRefRecord(add)));
  }
  // Records kept out of band are stored before any reference to them.
  RETURN_IF_ERROR(store_->bytes_->Flush());
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  wo.disableWAL = unlogged;
  RETURN_IF_ERROR(FromRocks(store_->db_->Write(wo, &batch), "write chunks"));
  changes_.clear();
  records_.Clear();
  new_chunks_ += new_chunks;
  new_stored_bytes_ += new_bytes;
  return absl::OkStatus();
}

absl::Status ChunkBatch::RestoreUnloggedRecord(const ChunkName& name, PendingChange* change) {
  if (!change->record.empty()) return absl::OkStatus();
  if (!change->raw.empty()) {
    EncodeChunk(change->raw, &change->record, store_->compression_);
    return absl::OkStatus();
  }
  const ChunkName* names[] = {&name};
  absl::StatusOr<std::string> record = std::move(store_->FetchRecords(names)[0]);
  RETURN_IF_ERROR(record.status());
  change->record = *std::move(record);
  return absl::OkStatus();
}

absl::Status ChunkBatch::MakeDurable() {
  if (log_ == CommitLog::kLogged) return absl::OkStatus();
  RETURN_IF_ERROR(store_->FlushMemtables());
  absl::MutexLock lock(&store_->commit_mu_);
  for (const ChunkName& name : unlogged_stored_) store_->unlogged_chunks_.erase(name);
  unlogged_stored_.clear();
  log_ = CommitLog::kLogged;
  return absl::OkStatus();
}

}  // namespace layerdisk
