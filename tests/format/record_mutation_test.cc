// Every record decoder of the store against mutated records whose checksum
// is made good again, so the damage reaches the parser rather than the
// checksum: bits flipped, bytes set to varint traps, cut short, grown,
// ranges repeated. Each decoder must refuse or return a record that keeps
// the invariants the engine indexes by (a volume's base count within its
// stack, a map segment's names one per data block), and that re-encodes to
// a record it accepts again. Run sanitized (scripts/test-sanitized), a read
// past the input aborts the test. Replay a seed with LAYERDISK_TEST_SEED=N.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/checksum.h"
#include "common/coding.h"
#include "dedupe/chunk_name.h"
#include "dedupe/refcount_merge.h"
#include "engine/catalog.h"
#include "layers/map_segment.h"
#include "tests/engine/test_util.h"

namespace layerdisk {
namespace {

using testing_util::AnnounceSeed;
using testing_util::TestSeeds;

constexpr int kMutationsPerSample = 4000;

// One random edit of `body`.
std::string Mutate(std::string body, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  // Values that trip length and varint parsing: continuation bits, huge
  // lengths, zero.
  static constexpr uint8_t kTraps[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x20};
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (!body.empty()) body[pick(body.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // a trap value
        if (!body.empty()) body[pick(body.size())] = static_cast<char>(kTraps[pick(7)]);
        break;
      case 2:  // cut short
        body.resize(pick(body.size() + 1));
        break;
      case 3: {  // grow
        const size_t n = 1 + pick(16);
        for (size_t i = 0; i < n; ++i) body.push_back(static_cast<char>(rng()));
        break;
      }
      case 4:  // run of continuation bytes (an endless varint)
        if (!body.empty()) {
          const size_t at = pick(body.size());
          body.replace(at, std::min<size_t>(11, body.size() - at), std::string(11, '\xff'));
        }
        break;
      case 5:  // repeat a range
        if (!body.empty()) {
          const size_t at = pick(body.size());
          body.insert(at, body.substr(at, 1 + pick(8)));
        }
        break;
    }
  }
  return body;
}

std::string Sealed(std::string body, uint64_t seed) {
  PutFixed64(&body, Checksum64(body, seed));
  return body;
}

// Mutates each sample (records with an 8-byte trailing checksum over the
// rest, seeded with `checksum_seed`) and hands every result to `check`,
// which decodes it, checks what it accepted, and says whether it did.
void MutateAll(const std::vector<std::string>& samples, uint64_t checksum_seed,
               const std::function<bool(const std::string&)>& check) {
  for (uint64_t seed : TestSeeds({1, 2})) {
    AnnounceSeed(seed);
    std::mt19937_64 rng(seed);
    int accepted = 0, tried = 0;
    for (const std::string& sample : samples) {
      ASSERT_GE(sample.size(), 8u);
      ASSERT_TRUE(check(sample)) << "the unmutated sample is refused";
      const std::string body = sample.substr(0, sample.size() - 8);
      for (int i = 0; i < kMutationsPerSample; ++i) {
        ++tried;
        accepted += check(Sealed(Mutate(body, rng), checksum_seed));
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
    // Most damage must be refused; some (a flipped flag, a changed count)
    // is a different valid record.
    EXPECT_LT(accepted, tried);
    std::cout << accepted << " of " << tried << " mutated records decoded\n";
  }
}

uint64_t CatalogSeed(char kind) { return kCatalogSeed + static_cast<uint8_t>(kind); }

ChunkName NameOf(int i) { return NameChunk(std::string(64, static_cast<char>(i))); }

TEST(RecordMutationTest, LayerRecords) {
  LayerRecord plain;
  plain.id = 7;
  plain.name = "os";
  plain.size = 1 << 30;
  plain.data_blocks = 1000;
  plain.source = "import:/gold/os.vhdx";
  LayerRecord full = plain;
  full.parent = 3;
  full.image_id = "6f0e1a2b-0000-4000-8000-000000000001";
  full.fetching = true;
  full.description = "Windows 11 23H2 gold";
  full.content_sha256 = std::string(64, 'a');
  full.base = {1, 2, 3};
  full.content_digest = "blocks-4096:" + std::string(64, 'b');
  MutateAll({EncodeLayer(plain), EncodeLayer(full)}, CatalogSeed('L'), [](const std::string& r) {
    absl::StatusOr<LayerRecord> d = DecodeLayer(r);
    if (!d.ok()) return false;
    EXPECT_TRUE(d->kind == LayerKind::kSealed || d->kind == LayerKind::kHead);
    EXPECT_LE(static_cast<int>(d->state), 2);
    absl::StatusOr<LayerRecord> again = DecodeLayer(EncodeLayer(*d));
    EXPECT_TRUE(again.ok() && EncodeLayer(*again) == EncodeLayer(*d));
    return true;
  });
}

TEST(RecordMutationTest, VolumeRecords) {
  VolumeRecord v{"desk-017", 64ull << 30, {4, 9, 12}, 2, 13, 1764400000};
  MutateAll({EncodeVolume(v)}, CatalogSeed('V'), [](const std::string& r) {
    absl::StatusOr<VolumeRecord> d = DecodeVolume(r);
    if (!d.ok()) return false;
    EXPECT_LE(d->base_count, d->stack.size());
    EXPECT_TRUE(DecodeVolume(EncodeVolume(*d)).ok());
    return true;
  });
}

TEST(RecordMutationTest, SnapshotRecords) {
  SnapshotRecord old_style{"desk-017", "before-patch", 1764400000123, {4, 9}, 4096, false, {}};
  SnapshotRecord s{"desk-017", "hourly-1", 1764400000123, {4, 9, 12, 20}, 1 << 20, true, 2};
  MutateAll({EncodeSnapshot(old_style), EncodeSnapshot(s)}, CatalogSeed('S'),
            [](const std::string& r) {
              absl::StatusOr<SnapshotRecord> d = DecodeSnapshot(r);
              if (!d.ok()) return false;
              if (d->base_count) EXPECT_LE(*d->base_count, d->stack.size());
              EXPECT_TRUE(DecodeSnapshot(EncodeSnapshot(*d)).ok());
              return true;
            });
}

TEST(RecordMutationTest, ScheduleAndFormatRecords) {
  MutateAll({EncodeSchedule({"desk-017", 3600, 24, 1764403600})}, CatalogSeed('T'),
            [](const std::string& r) {
              absl::StatusOr<ScheduleRecord> d = DecodeSchedule(r);
              if (!d.ok()) return false;
              EXPECT_GT(d->every_seconds, 0u);
              EXPECT_GT(d->keep, 0u);
              return true;
            });
  FormatRecord local;
  FormatRecord rados;
  rados.chunks = ChunkBackend::kRados;
  rados.rados = {"/etc/ceph/ceph.conf", "vdi", "client.admin", "0123456789abcdef"};
  MutateAll({EncodeFormat(local), EncodeFormat(rados)}, CatalogSeed('F'),
            [](const std::string& r) {
              absl::StatusOr<FormatRecord> d = DecodeFormat(r);
              if (!d.ok()) return false;
              if (d->chunks == ChunkBackend::kRados) EXPECT_FALSE(d->rados.store_id.empty());
              absl::StatusOr<FormatRecord> again = DecodeFormat(EncodeFormat(*d));
              EXPECT_TRUE(again.ok() && EncodeFormat(*again) == EncodeFormat(*d));
              return true;
            });
}

TEST(RecordMutationTest, CompressionRecords) {
  std::vector<std::string> samples;
  for (int c = 0; c <= static_cast<int>(kLastChunkCompression); ++c)
    samples.push_back(EncodeCompression(static_cast<ChunkCompression>(c)));
  MutateAll(samples, CatalogSeed('C'), [](const std::string& r) {
    absl::StatusOr<ChunkCompression> d = DecodeCompression(r);
    if (!d.ok()) return false;
    EXPECT_LE(static_cast<int>(*d), static_cast<int>(kLastChunkCompression));
    EXPECT_EQ(EncodeCompression(*d), r);
    return true;
  });
  // A mode from a newer layerdisk is refused, by number, not guessed at.
  absl::StatusOr<ChunkCompression> newer = DecodeCompression(EncodeCompression(
      static_cast<ChunkCompression>(static_cast<int>(kLastChunkCompression) + 1)));
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("setting (3)"), std::string::npos) << newer.status();
}

TEST(RecordMutationTest, MapSegmentsAndHeadPages) {
  constexpr uint64_t kLayer = 42, kSegment = 5;
  MapSegment seg;
  for (uint32_t i = 0; i < kSegmentBlocks; i += 3) {
    if (i % 2 == 0) {
      seg.states.Set(i, BlockKind::kData);
      seg.name_index[i] = static_cast<uint16_t>(seg.names.size());
      seg.names.push_back(NameOf(static_cast<int>(i % 7)));
    } else {
      seg.states.Set(i, BlockKind::kZero);
    }
  }
  MapSegment empty;
  const uint64_t seed = RecordSeed(kLayer, kSegment);
  MutateAll({EncodeMapSegment(kLayer, kSegment, seg), EncodeMapSegment(kLayer, kSegment, empty)},
            seed, [&](const std::string& r) {
              absl::StatusOr<MapSegment> d = DecodeMapSegment(kLayer, kSegment, r);
              if (!d.ok()) return false;
              uint32_t data = 0;
              for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
                if (d->states.Get(i) != BlockKind::kData) continue;
                ++data;
                EXPECT_LT(d->name_index[i], d->names.size()) << "block " << i;
              }
              EXPECT_EQ(d->names.size(), data);
              EXPECT_EQ(EncodeMapSegment(kLayer, kSegment, *d), r) << "not canonical";
              return true;
            });
  MutateAll({EncodeHeadPage(kLayer, kSegment, seg.states)}, seed, [&](const std::string& r) {
    absl::StatusOr<BlockStates> d = DecodeHeadPage(kLayer, kSegment, r);
    if (!d.ok()) return false;
    EXPECT_EQ(EncodeHeadPage(kLayer, kSegment, *d), r) << "not canonical";
    return true;
  });
}

// Reference counts carry no checksum of their own (RocksDB's block
// checksums cover them); any bytes at all must decode or be refused.
TEST(RecordMutationTest, ReferenceCountRecords) {
  for (uint64_t seed : TestSeeds({1, 2})) {
    AnnounceSeed(seed);
    std::mt19937_64 rng(seed);
    const std::string sample = EncodeRefRecord({3, 4096, 1800});
    ASSERT_TRUE(DecodeRefRecord(sample).has_value());
    for (int i = 0; i < 20000; ++i) {
      std::optional<RefRecord> d = DecodeRefRecord(Mutate(sample, rng));
      if (d) {
        EXPECT_TRUE(DecodeRefRecord(EncodeRefRecord(*d)).has_value());
      }
    }
  }
}

}  // namespace
}  // namespace layerdisk
