// The format record's optional chunk-backend fields: a RocksDB store keeps
// the original record (every layerdisk reads it), a RADOS store's record
// carries the pool, and damage in the new fields is DataLoss.
#include <string>

#include "engine/catalog.h"
#include "gtest/gtest.h"

namespace layerdisk {
namespace {

TEST(FormatRecordTest, RocksDbStoreKeepsTheOriginalRecord) {
  FormatRecord r;
  r.chunk_size = 65536;
  std::string encoded = EncodeFormat(r);
  // version byte, format_version, chunk_size, checksum: nothing else.
  EXPECT_EQ(encoded.size(), 1u + 4 + 4 + 8);
  absl::StatusOr<FormatRecord> back = DecodeFormat(encoded);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->chunk_size, 65536u);
  EXPECT_EQ(back->chunks, ChunkBackend::kRocksDb);
  EXPECT_TRUE(back->rados.pool.empty());
}

TEST(FormatRecordTest, RadosStoreRecordsWhereItsChunksAre) {
  FormatRecord r;
  r.chunks = ChunkBackend::kRados;
  r.rados = {"/etc/ceph/ceph.conf", "layerdisk", "hostA", "0123456789abcdef"};
  absl::StatusOr<FormatRecord> back = DecodeFormat(EncodeFormat(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->chunks, ChunkBackend::kRados);
  EXPECT_EQ(back->rados.ceph_conf, "/etc/ceph/ceph.conf");
  EXPECT_EQ(back->rados.pool, "layerdisk");
  EXPECT_EQ(back->rados.user, "hostA");
  EXPECT_EQ(back->rados.store_id, "0123456789abcdef");
}

TEST(FormatRecordTest, RadosStoreWithoutItsIdIsDataLoss) {
  FormatRecord r;
  r.chunks = ChunkBackend::kRados;
  r.rados = {"/c", "p", "", ""};  // every store on a pool needs its id
  EXPECT_TRUE(absl::IsDataLoss(DecodeFormat(EncodeFormat(r)).status()));
}

TEST(FormatRecordTest, DamagedBackendFieldIsDataLoss) {
  FormatRecord r;
  r.chunks = ChunkBackend::kRados;
  r.rados = {"/c", "p", "", "0123456789abcdef"};
  std::string encoded = EncodeFormat(r);
  encoded[9] ^= 0x01;  // the backend byte, after version and two fixed32s
  EXPECT_TRUE(absl::IsDataLoss(DecodeFormat(encoded).status()));
}

}  // namespace
}  // namespace layerdisk
