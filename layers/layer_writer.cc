#include "layers/layer_writer.h"

#include "absl/strings/str_format.h"
#include "common/parallel.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"

namespace layerdisk {

absl::Status LayerWriter::Advance(uint64_t block) {
  if (data_complete_)
    return absl::InternalError(absl::StrFormat("layer %d: block %d added after the last", id_, block));
  if (last_block_ && block <= *last_block_)
    return absl::InternalError(absl::StrFormat(
        "layer %d: block %d written after block %d", id_, block, *last_block_));
  last_block_ = block;
  uint64_t segment = block / kSegmentBlocks;
  if (segment_ && *segment_ != segment) EmitSegment();
  segment_ = segment;
  if (pending_segments_ >= kSegmentsPerCommit) {
    RETURN_IF_ERROR(batch_.Commit(/*sync=*/false));
    pending_segments_ = 0;
  }
  return absl::OkStatus();
}

void LayerWriter::EmitSegment() {
  batch_.records()->Put(maps_, MapKey(id_, *segment_),
                        EncodeMapSegment(id_, *segment_, current_));
  current_ = MapSegment();
  segment_.reset();
  ++pending_segments_;
}

absl::Status LayerWriter::AddData(uint64_t block, std::string_view data) {
  RETURN_IF_ERROR(Advance(block));
  MapData(block, batch_.AddData(data));
  return absl::OkStatus();
}

absl::Status LayerWriter::AddPrepared(uint64_t block, PreparedChunk chunk) {
  RETURN_IF_ERROR(Advance(block));
  MapData(block, batch_.AddPrepared(std::move(chunk)));
  return absl::OkStatus();
}

absl::Status LayerWriter::AddName(uint64_t block, const ChunkName& name) {
  RETURN_IF_ERROR(Advance(block));
  batch_.AddRef(name);
  MapData(block, name);
  return absl::OkStatus();
}

void LayerWriter::MapData(uint64_t block, const ChunkName& name) {
  uint32_t i = block % kSegmentBlocks;
  current_.states.Set(i, BlockKind::kData);
  current_.name_index[i] = static_cast<uint16_t>(current_.names.size());
  current_.names.push_back(name);
  ++data_blocks_;
}

absl::Status LayerWriter::AddZero(uint64_t block) {
  RETURN_IF_ERROR(Advance(block));
  current_.states.Set(block % kSegmentBlocks, BlockKind::kZero);
  return absl::OkStatus();
}

absl::Status LayerWriter::CompleteData() {
  if (data_complete_) return absl::OkStatus();
  if (segment_) EmitSegment();
  if (batch_.log() == CommitLog::kUnlogged) {
    // The map and chunks go unlogged too; only the final records, written
    // after the flush has made everything before them durable, are logged.
    RETURN_IF_ERROR(batch_.Commit(/*sync=*/false));
    RETURN_IF_ERROR(batch_.MakeDurable());
  }
  data_complete_ = true;
  return absl::OkStatus();
}

absl::Status LayerWriter::Finish(
    const std::function<void(rocksdb::WriteBatch*)>& final_records) {
  RETURN_IF_ERROR(CompleteData());
  if (final_records) final_records(batch_.records());
  return batch_.Commit(/*sync=*/true);
}

absl::StatusOr<PreparedBlocks> PrepareBlocks(
    ChunkStore* chunks, std::vector<BlockRun> runs, std::string_view data,
    uint32_t block_size, const std::function<bool(std::string_view)>& skip,
    bool mark_skipped_as_zero, WriterNames* seen) {
  const size_t count = data.size() / block_size;
  auto block_at = [&](size_t i) { return data.substr(i * block_size, block_size); };
  // Name every block (in parallel), look the names not seen before up in one
  // batched read, then encode the new ones (in parallel).
  std::vector<ChunkName> names(count);
  std::vector<char> wanted(count);
  ParallelFor(count, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      wanted[i] = !skip || !skip(block_at(i));
      if (wanted[i]) names[i] = NameChunk(block_at(i));
    }
  });
  WriterNames here;
  if (seen == nullptr) seen = &here;
  constexpr size_t kRepeat = ~size_t{0};
  std::vector<size_t> lookup_of(count, kRepeat);
  std::vector<const ChunkName*> lookups;
  for (size_t i = 0; i < count; ++i) {
    if (!wanted[i] || seen->Repeat(names[i])) continue;
    lookup_of[i] = lookups.size();
    lookups.push_back(&names[i]);
  }
  const uint64_t gc_generation = chunks->gc_generation();  // before the lookup
  ASSIGN_OR_RETURN(std::vector<std::optional<RefRecord>> stored, chunks->LookupMany(lookups));
  PreparedBlocks blocks;
  blocks.runs = std::move(runs);
  blocks.mark_skipped_as_zero = mark_skipped_as_zero;
  blocks.chunks.resize(count);
  ParallelFor(count, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (!wanted[i]) continue;
      if (lookup_of[i] == kRepeat) {
        // Stored before this block commits (WriterNames): the name alone.
        PreparedChunk& repeat = blocks.chunks[i].emplace();
        repeat.name = names[i];
        repeat.stored_as_of = gc_generation;
      } else {
        blocks.chunks[i] = chunks->Prepare(names[i], block_at(i),
                                           stored[lookup_of[i]].has_value(), gc_generation);
      }
    }
  });
  return blocks;
}

absl::Status AddPreparedBlocks(LayerWriter* writer, PreparedBlocks blocks) {
  size_t i = 0;
  for (const BlockRun& run : blocks.runs) {
    for (uint64_t block = run.first; block < run.first + run.count; ++block, ++i) {
      if (i >= blocks.chunks.size()) return absl::InternalError("block runs beyond the data");
      if (blocks.chunks[i]) {
        RETURN_IF_ERROR(writer->AddPrepared(block, *std::move(blocks.chunks[i])));
      } else if (blocks.mark_skipped_as_zero) {
        RETURN_IF_ERROR(writer->AddZero(block));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status AddBlocksParallel(LayerWriter* writer, ChunkStore* chunks,
                               uint64_t first, std::string_view data,
                               uint32_t block_size,
                               const std::function<bool(std::string_view)>& skip,
                               bool mark_skipped_as_zero, WriterNames* seen) {
  ASSIGN_OR_RETURN(PreparedBlocks blocks,
                   PrepareBlocks(chunks, {{first, data.size() / block_size}}, data, block_size,
                                 skip, mark_skipped_as_zero, seen));
  return AddPreparedBlocks(writer, std::move(blocks));
}

absl::Status DeleteLayerMap(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* maps,
                            ChunkStore* chunks, uint64_t id, bool holds_references) {
  constexpr int kSegmentsPerCommit = 16;
  std::string begin = MapKey(id, 0), end = MapKey(id + 1, 0);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, maps));
  ChunkBatch batch(chunks);
  int pending = 0;
  for (it->Seek(begin); it->Valid(); it->Next()) {
    uint64_t layer_id, segment;
    std::string_view key(it->key().data(), it->key().size());
    if (holds_references && ParseMapKey(key, &layer_id, &segment)) {
      absl::StatusOr<MapSegment> seg = DecodeMapSegment(
          id, segment, {it->value().data(), it->value().size()});
      // A damaged segment's references cannot be known: it is removed, and
      // fsck reports the counts it leaves too high (GC keeps those chunks).
      if (seg.ok())
        for (const ChunkName& name : seg->names) batch.DropRef(name);
    }
    batch.records()->Delete(maps, it->key());
    if (++pending == kSegmentsPerCommit) {
      RETURN_IF_ERROR(batch.Commit(/*sync=*/false));
      pending = 0;
    }
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan layer map"));
  return batch.Commit(/*sync=*/true);
}

}  // namespace layerdisk
