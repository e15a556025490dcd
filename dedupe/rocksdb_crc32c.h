// RocksDB's CRC-32C, computed with the CPU's crc32 instruction in place of
// the portable loop Debian's librocksdb is built with (rocksdb_crc32c.cc
// says how and why).
#ifndef LAYERDISK_DEDUPE_ROCKSDB_CRC32C_H_
#define LAYERDISK_DEDUPE_ROCKSDB_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace rocksdb::crc32c {
// The function librocksdb exports (util/crc32c.h, not an installed header):
// CRC-32C of data[0, n) continuing from crc.
uint32_t Extend(uint32_t crc, const char* data, size_t n);
}  // namespace rocksdb::crc32c

namespace layerdisk {

// Whether RocksDB's checksums run on this program's hardware version: the
// CPU has SSE4.2 and the dynamic linker resolves rocksdb::crc32c::Extend to
// the definition in rocksdb_crc32c.cc.
bool RocksDbCrc32cInHardware();

// The same CRC-32C one bit at a time: the reference the tests hold both to,
// and the last resort where neither the CPU nor the library has one.
uint32_t Crc32cBitwise(uint32_t crc, const char* data, size_t n);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_ROCKSDB_CRC32C_H_
