// The stored form of one chunk (docs/format-store.md, "Chunk record"):
//
//   offset size field
//   0      1    kChunkRecordVersion
//   1      1    codec: kCodecRaw or kCodecZstd
//   2      4    raw_length (uncompressed bytes), little-endian
//   6      8    XXH3-64 of the payload seeded with version<<40 |
//               codec<<32 | raw_length, little-endian
//   14     -    payload (raw or zstd frame)
//
// The checksum is verified on every read, before decompression, so a
// damaged record is reported as DataLoss and never fed to the decompressor.
#ifndef LAYERDISK_DEDUPE_CHUNK_CODEC_H_
#define LAYERDISK_DEDUPE_CHUNK_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace layerdisk {

inline constexpr uint8_t kChunkRecordVersion = 1;
inline constexpr uint8_t kCodecRaw = 0;
inline constexpr uint8_t kCodecZstd = 1;
inline constexpr size_t kChunkHeaderSize = 14;

// How a store compresses the chunks it writes (a store setting: `init
// --compression`). Readers take any record whatever wrote it, so the
// setting changes new chunks only. Measured on 900 MiB of /usr (README):
// kZstdFast imports ~20% faster and stores ~22% more than kZstd, kOff ~40%
// faster and ~94% more.
enum class ChunkCompression : uint8_t {
  kZstd = 0,      // zstd level 1
  kZstdFast = 1,  // zstd level -3: faster both ways, compresses less
  kOff = 2,       // every record raw
};
inline constexpr ChunkCompression kLastChunkCompression = ChunkCompression::kOff;

// "zstd", "zstd-fast", "off"; and back (InvalidArgument naming the choices).
const char* ChunkCompressionName(ChunkCompression c);
absl::StatusOr<ChunkCompression> ParseChunkCompression(std::string_view name);

// Encodes `data` into `record` (replacing its contents): compressed when that
// saves at least an eighth, raw otherwise (not worth a decompression on every
// read), for data that looks incompressible (LooksIncompressible), untried,
// and when `compression` is kOff.
void EncodeChunk(std::string_view data, std::string* record,
                 ChunkCompression compression = ChunkCompression::kZstd);

// Decodes `record` into `out`, whose size must equal the raw length.
// DataLoss on any damage: bad checksum, wrong length, bad zstd frame.
absl::Status DecodeChunk(std::string_view record, absl::Span<char> out);

// The raw length a record declares, or 0 when the record is too short.
uint32_t ChunkRawLength(std::string_view record);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_CHUNK_CODEC_H_
