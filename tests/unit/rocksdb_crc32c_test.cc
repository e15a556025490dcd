// The hardware rocksdb::crc32c::Extend (dedupe/rocksdb_crc32c.cc) is the one
// RocksDB calls, and computes exactly what librocksdb's own does: a store
// written by either reads with the other.
#include "dedupe/rocksdb_crc32c.h"

#include <dlfcn.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "rocksdb/db.h"

namespace layerdisk {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);

// librocksdb's definition, the one ours takes the place of.
ExtendFn LibraryExtend() {
  return reinterpret_cast<ExtendFn>(dlsym(RTLD_NEXT, "_ZN7rocksdb6crc32c6ExtendEjPKcm"));
}

TEST(RocksDbCrc32c, RocksDbCallsTheHardwareVersion) {
  if (!__builtin_cpu_supports("sse4.2")) GTEST_SKIP() << "this CPU has no SSE4.2";
  EXPECT_TRUE(RocksDbCrc32cInHardware());
}

// Blob records and table blocks written with the hardware checksum read
// back with checksums verified.
TEST(RocksDbCrc32c, BlobDatabaseRoundTrip) {
  std::string dir = ::testing::TempDir() + "crc32c_db";
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.enable_blob_files = true;
  options.min_blob_size = 16;
  std::string value(4096, 'x');
  for (size_t i = 0; i < value.size(); i += 7) value[i] = static_cast<char>(i);
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "key", value).ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  std::string got;
  ASSERT_TRUE(db->Get(read, "key", &got).ok());
  EXPECT_EQ(got, value);
  db.reset();
  std::filesystem::remove_all(dir);
}

TEST(RocksDbCrc32c, KnownValue) {
  // The CRC-32C check value (RFC 3720, B.4).
  EXPECT_EQ(rocksdb::crc32c::Extend(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32cBitwise(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(rocksdb::crc32c::Extend(0, "", 0), 0u);
}

TEST(RocksDbCrc32c, SameAsLibraryForEveryLengthAndAlignment) {
  ExtendFn library = LibraryExtend();
  ASSERT_NE(library, nullptr) << "librocksdb exports no rocksdb::crc32c::Extend";
  ASSERT_NE(library, &rocksdb::crc32c::Extend);
  std::mt19937_64 rng(7);
  std::string data(5000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t n = 0; n < 300; ++n) {
      uint32_t seed = static_cast<uint32_t>(rng());
      uint32_t want = Crc32cBitwise(seed, data.data() + offset, n);
      ASSERT_EQ(rocksdb::crc32c::Extend(seed, data.data() + offset, n), want)
          << "offset " << offset << " length " << n;
      ASSERT_EQ(library(seed, data.data() + offset, n), want)
          << "offset " << offset << " length " << n;
    }
  }
  EXPECT_EQ(rocksdb::crc32c::Extend(1, data.data(), data.size()),
            library(1, data.data(), data.size()));
}

TEST(RocksDbCrc32c, ExtendContinues) {
  const std::string text = "a blob record, checksummed in two pieces";
  for (size_t split = 0; split <= text.size(); ++split) {
    uint32_t first = rocksdb::crc32c::Extend(0, text.data(), split);
    EXPECT_EQ(rocksdb::crc32c::Extend(first, text.data() + split, text.size() - split),
              rocksdb::crc32c::Extend(0, text.data(), text.size()));
  }
}

}  // namespace
}  // namespace layerdisk
