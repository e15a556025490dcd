// Hardware CRC32C for RocksDB.
//
// Debian builds librocksdb for any x86-64 CPU, without SSE4.2, so
// rocksdb::crc32c::Extend -- the checksum of every blob record, table block
// and WAL record, written and verified -- runs a table-driven loop: about a
// tenth of an import's CPU, spent mostly while flushing chunk records into
// blob files. RocksDB calls Extend through its PLT, so this definition, in
// the executable (dedupe/CMakeLists.txt makes every program linking ld_dedupe
// pull it in), takes the library's place. It computes the same function:
// CRC-32C (Castagnoli), pre- and post-inverted, so stores written either way
// read either way. On a CPU without SSE4.2 it calls RocksDB's own.
#include "dedupe/rocksdb_crc32c.h"

#include <dlfcn.h>
#include <nmmintrin.h>

#include <cstring>

namespace rocksdb::crc32c {

namespace {

using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const char* data,
                                                       size_t n) {
  uint64_t c = crc ^ 0xffffffffu;
  for (; n >= 8; data += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, data, 8);
    c = _mm_crc32_u64(c, word);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; ++data, --n) c32 = _mm_crc32_u8(c32, static_cast<uint8_t>(*data));
  return c32 ^ 0xffffffffu;
}

ExtendFn Choose() {
  if (__builtin_cpu_supports("sse4.2")) return &ExtendSse42;
  void* library = dlsym(RTLD_NEXT, "_ZN7rocksdb6crc32c6ExtendEjPKcm");
  return library ? reinterpret_cast<ExtendFn>(library) : &layerdisk::Crc32cBitwise;
}

}  // namespace

uint32_t Extend(uint32_t crc, const char* data, size_t n) {
  static const ExtendFn chosen = Choose();
  return chosen(crc, data, n);
}

}  // namespace rocksdb::crc32c

namespace layerdisk {

uint32_t Crc32cBitwise(uint32_t crc, const char* data, size_t n) {
  uint32_t c = crc ^ 0xffffffffu;
  for (; n > 0; ++data, --n) {
    c ^= static_cast<uint8_t>(*data);
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
  }
  return c ^ 0xffffffffu;
}

bool RocksDbCrc32cInHardware() {
  return __builtin_cpu_supports("sse4.2") &&
         dlsym(RTLD_DEFAULT, "_ZN7rocksdb6crc32c6ExtendEjPKcm") ==
             reinterpret_cast<void*>(&rocksdb::crc32c::Extend);
}

}  // namespace layerdisk
