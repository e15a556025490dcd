#include "dedupe/chunk_codec.h"

#include <zstd.h>

#include "absl/strings/str_format.h"
#include "common/checksum.h"
#include "common/coding.h"
#include "dedupe/byte_spread.h"

namespace layerdisk {
namespace {

// Contexts are reused per thread: creating one per chunk would cost more
// than compressing a 4 KiB chunk.
ZSTD_CCtx* ThreadCompressContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(
      ZSTD_createCCtx(), &ZSTD_freeCCtx);
  return ctx.get();
}

ZSTD_DCtx* ThreadDecompressContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(
      ZSTD_createDCtx(), &ZSTD_freeDCtx);
  return ctx.get();
}

int ZstdLevel(ChunkCompression c) { return c == ChunkCompression::kZstdFast ? -3 : 1; }

// Covers the header fields through the seed, so the payload is hashed in
// place without a copy.
uint64_t RecordChecksum(std::string_view record) {
  uint64_t seed = (uint64_t{static_cast<uint8_t>(record[0])} << 40) |
                  (uint64_t{static_cast<uint8_t>(record[1])} << 32) |
                  DecodeFixed32(record.data() + 2);
  return Checksum64(record.substr(kChunkHeaderSize), seed);
}

}  // namespace

const char* ChunkCompressionName(ChunkCompression c) {
  switch (c) {
    case ChunkCompression::kZstd:
      return "zstd";
    case ChunkCompression::kZstdFast:
      return "zstd-fast";
    case ChunkCompression::kOff:
      return "off";
  }
  return "unknown";
}

absl::StatusOr<ChunkCompression> ParseChunkCompression(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(kLastChunkCompression); ++i) {
    const auto c = static_cast<ChunkCompression>(i);
    if (name == ChunkCompressionName(c)) return c;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "unknown compression '%s': choose zstd (the default), zstd-fast or off", name));
}

void EncodeChunk(std::string_view data, std::string* record, ChunkCompression compression) {
  record->assign(kChunkHeaderSize, '\0');
  uint8_t codec = kCodecRaw;
  if (compression != ChunkCompression::kOff && !LooksIncompressible(data)) {
    const size_t bound = ZSTD_compressBound(data.size());
    record->resize(kChunkHeaderSize + bound);
    const size_t n = ZSTD_compressCCtx(ThreadCompressContext(),
                                       record->data() + kChunkHeaderSize, bound,
                                       data.data(), data.size(), ZstdLevel(compression));
    if (!ZSTD_isError(n) && n <= data.size() - data.size() / 8) {
      codec = kCodecZstd;
      record->resize(kChunkHeaderSize + n);
    } else {
      record->resize(kChunkHeaderSize);
    }
  }
  if (codec == kCodecRaw) record->append(data);
  (*record)[0] = static_cast<char>(kChunkRecordVersion);
  (*record)[1] = static_cast<char>(codec);
  std::string len;
  PutFixed32(&len, static_cast<uint32_t>(data.size()));
  record->replace(2, 4, len);
  std::string sum;
  PutFixed64(&sum, RecordChecksum(*record));
  record->replace(6, 8, sum);
}

uint32_t ChunkRawLength(std::string_view record) {
  if (record.size() < kChunkHeaderSize) return 0;
  return DecodeFixed32(record.data() + 2);
}

absl::Status DecodeChunk(std::string_view record, absl::Span<char> out) {
  if (record.size() < kChunkHeaderSize)
    return absl::DataLossError("chunk record is truncated");
  if (static_cast<uint8_t>(record[0]) != kChunkRecordVersion)
    return absl::DataLossError(absl::StrFormat(
        "chunk record has unknown version %d", static_cast<uint8_t>(record[0])));
  if (DecodeFixed64(record.data() + 6) != RecordChecksum(record))
    return absl::DataLossError("chunk record checksum mismatch");
  if (ChunkRawLength(record) != out.size())
    return absl::DataLossError(absl::StrFormat(
        "chunk holds %d bytes, expected %d", ChunkRawLength(record), out.size()));
  std::string_view payload = record.substr(kChunkHeaderSize);
  switch (static_cast<uint8_t>(record[1])) {
    case kCodecRaw:
      if (payload.size() != out.size())
        return absl::DataLossError("raw chunk has the wrong length");
      std::memcpy(out.data(), payload.data(), out.size());
      return absl::OkStatus();
    case kCodecZstd: {
      size_t n = ZSTD_decompressDCtx(ThreadDecompressContext(), out.data(),
                                     out.size(), payload.data(), payload.size());
      if (ZSTD_isError(n) || n != out.size())
        return absl::DataLossError("chunk does not decompress");
      return absl::OkStatus();
    }
    default:
      return absl::DataLossError("chunk record has an unknown codec");
  }
}

}  // namespace layerdisk
