#include "layers/head.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"

namespace layerdisk {
namespace {

// The most a head hands the kernel in one write. Linux 6.16+ caches ext4
// files in large folios, as large as the write that created them, and every
// later write into part of such a folio walks all of its block buffers: a
// guest's 4 KiB overwrites of blocks it first wrote 1 MiB at a time ran at
// half the IOPS (30k against 62k, NBD at QD32). 64 KiB pieces keep that walk
// short and cost sequential writes nothing measurable.
constexpr size_t kWritePiece = 64 << 10;

}  // namespace

absl::StatusOr<std::shared_ptr<Head>> Head::Open(
    Env* env, const std::string& path, rocksdb::DB* db,
    rocksdb::ColumnFamilyHandle* heads, uint64_t id, uint32_t block_size,
    uint64_t size) {
  ASSIGN_OR_RETURN(auto file, env->OpenRW(path, /*create=*/true));
  std::shared_ptr<Head> head(
      new Head(path, std::move(file), db, heads, id, block_size, size));
  std::string begin = MapKey(id, 0), end = MapKey(id + 1, 0);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, heads));
  absl::MutexLock lock(&head->mu_);
  for (it->Seek(begin); it->Valid(); it->Next()) {
    uint64_t layer_id, page;
    if (!ParseMapKey({it->key().data(), it->key().size()}, &layer_id, &page))
      return absl::DataLossError(
          absl::StrFormat("head %d has a malformed map key", id));
    absl::StatusOr<BlockStates> states =
        DecodeHeadPage(id, page, {it->value().data(), it->value().size()});
    if (!states.ok()) {
      head->damaged_.emplace(page, states.status());
      continue;
    }
    head->data_blocks_ += states->Count(BlockKind::kData);
    head->pages_.emplace(page, *states);
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "load head map"));
  return head;
}

BlockKind Head::Kind(uint64_t block) const {
  absl::MutexLock lock(&mu_);
  auto it = pages_.find(block / kSegmentBlocks);
  if (it != pages_.end()) return it->second.Get(block % kSegmentBlocks);
  // Claimed as data so that reads reach ReadData and report the loss.
  return damaged_.count(block / kSegmentBlocks) ? BlockKind::kData : BlockKind::kAbsent;
}

bool Head::HasSegment(uint64_t segment) const {
  absl::MutexLock lock(&mu_);
  return pages_.count(segment) != 0 || damaged_.count(segment) != 0;
}

absl::Status Head::CheckDamaged(uint64_t first, uint64_t count) const {
  if (damaged_.empty() || count == 0) return absl::OkStatus();
  auto it = damaged_.lower_bound(first / kSegmentBlocks);
  if (it == damaged_.end() || it->first > (first + count - 1) / kSegmentBlocks)
    return absl::OkStatus();
  return it->second;
}

uint64_t Head::data_blocks() const {
  absl::MutexLock lock(&mu_);
  return data_blocks_;
}

absl::Status Head::ReadData(uint64_t first, absl::Span<char> out) const {
  RETURN_IF_ERROR(CheckDamaged(first, out.size() / block_size_));
  return file_->ReadAt(first * block_size_, out);
}

void Head::ForEachSegment(
    const std::function<void(uint64_t, const BlockStates&)>& fn) const {
  std::map<uint64_t, BlockStates> copy;
  {
    absl::MutexLock lock(&mu_);
    copy.insert(pages_.begin(), pages_.end());
  }
  for (const auto& [page, why] : damaged_) copy.emplace(page, BlockStates::AllData());
  for (const auto& [page, states] : copy) fn(page, states);
}

void Head::SetStates(uint64_t first, uint64_t count,
                     const std::function<BlockKind(uint64_t)>& kind) {
  absl::MutexLock lock(&mu_);
  for (uint64_t b = first; b < first + count; ++b) {
    uint64_t page = b / kSegmentBlocks;
    BlockKind k = kind(b);
    auto it = pages_.find(page);
    if (it == pages_.end()) {
      if (k == BlockKind::kAbsent) continue;
      it = pages_.emplace(page, BlockStates()).first;
    }
    BlockKind old = it->second.Get(b % kSegmentBlocks);
    if (old == k) continue;
    data_blocks_ += (k == BlockKind::kData) - (old == BlockKind::kData);
    it->second.Set(b % kSegmentBlocks, k);
    dirty_.insert(page);
  }
}

absl::Status Head::WriteData(uint64_t first, absl::Span<const char> data) {
  // A damaged page cannot take writes: committing it would record the
  // lost blocks as absent, silently showing the layers below.
  RETURN_IF_ERROR(CheckDamaged(first, data.size() / block_size_));
  for (size_t done = 0; done < data.size(); done += kWritePiece)
    RETURN_IF_ERROR(file_->WriteAt(first * block_size_ + done,
                                   data.subspan(done, kWritePiece)));
  // The state changes only after the bytes are in the file: a concurrent
  // Flush that sees kData also syncs these bytes.
  SetStates(first, data.size() / block_size_,
            [](uint64_t) { return BlockKind::kData; });
  return absl::OkStatus();
}

absl::Status Head::WriteZero(uint64_t first, uint64_t count,
                             const std::function<bool(uint64_t)>& mask) {
  RETURN_IF_ERROR(CheckDamaged(first, count));
  // Mark first, punch second: a crash between them leaves zero markers over
  // stale bytes, which read as zeroes.
  SetStates(first, count, [&](uint64_t b) {
    return mask(b) ? BlockKind::kZero : BlockKind::kAbsent;
  });
  return file_->PunchHole(first * block_size_, count * block_size_);
}

absl::Status Head::Flush() {
  absl::MutexLock flush_lock(&flush_mu_);
  std::vector<std::pair<uint64_t, BlockStates>> pages;
  {
    absl::MutexLock lock(&mu_);
    for (uint64_t page : dirty_) {
      auto it = pages_.find(page);
      pages.emplace_back(page, it == pages_.end() ? BlockStates() : it->second);
    }
    dirty_.clear();
  }
  auto redirty = [&] {
    absl::MutexLock lock(&mu_);
    for (const auto& p : pages) dirty_.insert(p.first);
  };
  absl::Status synced = file_->Sync();
  if (!synced.ok() || pages.empty()) {
    if (!synced.ok()) redirty();
    return synced;
  }
  rocksdb::WriteBatch batch;
  for (const auto& [page, states] : pages) {
    std::string key = MapKey(id_, page);
    if (states.Empty()) {
      batch.Delete(heads_, key);
    } else {
      batch.Put(heads_, key, EncodeHeadPage(id_, page, states));
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  absl::Status written = FromRocks(db_->Write(wo, &batch), "commit head map");
  if (!written.ok()) redirty();
  return written;
}

uint64_t Head::AllocatedBytes() const {
  absl::StatusOr<uint64_t> n = file_->AllocatedBytes();
  return n.ok() ? *n : 0;
}

void Head::DeleteRecords(rocksdb::WriteBatch* batch,
                         rocksdb::ColumnFamilyHandle* heads, uint64_t id) {
  batch->DeleteRange(heads, MapKey(id, 0), MapKey(id + 1, 0));
}

}  // namespace layerdisk
