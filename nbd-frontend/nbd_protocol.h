// The NBD wire protocol: magic numbers, option, reply, command and flag
// constants, and the fixed-size headers, as the NBD protocol specification
// (NetworkBlockDevice/nbd doc/proto.md) defines them. Everything on the wire
// is big-endian; the Encode*/Decode* helpers are the only code that touches
// byte order. No other file in nbd-frontend/ spells a protocol number.
#ifndef LAYERDISK_NBD_FRONTEND_NBD_PROTOCOL_H_
#define LAYERDISK_NBD_FRONTEND_NBD_PROTOCOL_H_

#include <cstddef>
#include <cstdint>

namespace layerdisk::nbd {

// --- Handshake ------------------------------------------------------------
inline constexpr uint64_t kMagic = 0x4e42444d41474943ull;         // "NBDMAGIC"
inline constexpr uint64_t kOptMagic = 0x49484156454f5054ull;      // "IHAVEOPT"
inline constexpr uint64_t kOptReplyMagic = 0x0003e889045565a9ull;

// Handshake flags (server) and client flags.
inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kClientFlagFixedNewstyle = 1 << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kKnownClientFlags =
    kClientFlagFixedNewstyle | kClientFlagNoZeroes;

// Options.
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;
inline constexpr uint32_t kOptListMetaContext = 9;
inline constexpr uint32_t kOptSetMetaContext = 10;

// Option reply types. Errors have bit 31 set.
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepMetaContext = 4;
inline constexpr uint32_t kRepErrUnsup = 0x80000001u;
inline constexpr uint32_t kRepErrPolicy = 0x80000002u;
inline constexpr uint32_t kRepErrInvalid = 0x80000003u;
inline constexpr uint32_t kRepErrTlsReqd = 0x80000005u;
inline constexpr uint32_t kRepErrUnknown = 0x80000006u;
inline constexpr uint32_t kRepErrShutdown = 0x80000007u;
inline constexpr uint32_t kRepErrTooBig = 0x80000009u;

// NBD_REP_INFO types.
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
inline constexpr uint16_t kFlagHasFlags = 1 << 0;
inline constexpr uint16_t kFlagReadOnly = 1 << 1;
inline constexpr uint16_t kFlagSendFlush = 1 << 2;
inline constexpr uint16_t kFlagSendFua = 1 << 3;
inline constexpr uint16_t kFlagRotational = 1 << 4;
inline constexpr uint16_t kFlagSendTrim = 1 << 5;
inline constexpr uint16_t kFlagSendWriteZeroes = 1 << 6;
inline constexpr uint16_t kFlagSendDf = 1 << 7;
inline constexpr uint16_t kFlagCanMultiConn = 1 << 8;
inline constexpr uint16_t kFlagSendFastZero = 1 << 11;

// --- Transmission ---------------------------------------------------------
inline constexpr uint32_t kRequestMagic = 0x25609513u;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698u;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33efu;

// Commands.
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisc = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdWriteZeroes = 6;
inline constexpr uint16_t kCmdBlockStatus = 7;

// Command flags.
inline constexpr uint16_t kCmdFlagFua = 1 << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1 << 1;
inline constexpr uint16_t kCmdFlagDf = 1 << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1 << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1 << 4;

// Structured reply flags and chunk types.
inline constexpr uint16_t kReplyFlagDone = 1 << 0;
inline constexpr uint16_t kReplyTypeNone = 0;
inline constexpr uint16_t kReplyTypeOffsetData = 1;
inline constexpr uint16_t kReplyTypeOffsetHole = 2;
inline constexpr uint16_t kReplyTypeBlockStatus = 5;
inline constexpr uint16_t kReplyTypeError = 0x8001;
inline constexpr uint16_t kReplyTypeErrorOffset = 0x8002;

// base:allocation status bits.
inline constexpr uint32_t kStateHole = 1 << 0;
inline constexpr uint32_t kStateZero = 1 << 1;
inline constexpr char kMetaContextBaseAllocation[] = "base:allocation";
inline constexpr char kMetaNamespaceBase[] = "base:";
// The id this server gives base:allocation (ids are the server's choice).
inline constexpr uint32_t kBaseAllocationContextId = 1;
// layerdisk:layer: each descriptor's flags are the stack position of the
// layer serving the extent, 1 = lowest, the writable head last; 0 = a hole
// (docs/nbd-server.md).
inline constexpr char kMetaContextLayer[] = "layerdisk:layer";
inline constexpr char kMetaNamespaceLayerdisk[] = "layerdisk:";
inline constexpr uint32_t kLayerContextId = 2;

// Error values (the protocol's own numbering, equal to Linux errno).
inline constexpr uint32_t kEperm = 1;
inline constexpr uint32_t kEio = 5;
inline constexpr uint32_t kEnomem = 12;
inline constexpr uint32_t kEinval = 22;
inline constexpr uint32_t kEnospc = 28;
inline constexpr uint32_t kEoverflow = 75;
inline constexpr uint32_t kEnotsup = 95;
inline constexpr uint32_t kEshutdown = 108;

// --- Limits ---------------------------------------------------------------
// Strings (export names, queries) are at most 4096 bytes by the spec.
inline constexpr size_t kMaxStringLength = 4096;
// Largest READ/WRITE payload we accept, advertised as the maximum block size.
inline constexpr uint32_t kMaxPayload = 32u << 20;

// --- Fixed-size headers ---------------------------------------------------
inline constexpr size_t kOptionHeaderSize = 16;      // magic, option, length
inline constexpr size_t kOptionReplyHeaderSize = 20; // magic, option, type, len
inline constexpr size_t kRequestHeaderSize = 28;
inline constexpr size_t kSimpleReplyHeaderSize = 16;
inline constexpr size_t kStructuredReplyHeaderSize = 20;

struct RequestHeader {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t handle = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};

// --- Byte order -----------------------------------------------------------
inline void EncodeBE16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void EncodeBE32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (24 - 8 * i));
}
inline void EncodeBE64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (56 - 8 * i));
}
inline uint16_t DecodeBE16(const char* p) {
  return static_cast<uint16_t>((uint16_t{static_cast<uint8_t>(p[0])} << 8) |
                               static_cast<uint8_t>(p[1]));
}
inline uint32_t DecodeBE32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t DecodeBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Decodes a request header; returns false on a bad magic.
inline bool DecodeRequestHeader(const char* p, RequestHeader* out) {
  if (DecodeBE32(p) != kRequestMagic) return false;
  out->flags = DecodeBE16(p + 4);
  out->type = DecodeBE16(p + 6);
  out->handle = DecodeBE64(p + 8);
  out->offset = DecodeBE64(p + 16);
  out->length = DecodeBE32(p + 24);
  return true;
}

inline void EncodeSimpleReplyHeader(char* p, uint32_t error, uint64_t handle) {
  EncodeBE32(p, kSimpleReplyMagic);
  EncodeBE32(p + 4, error);
  EncodeBE64(p + 8, handle);
}

inline void EncodeStructuredReplyHeader(char* p, uint16_t flags, uint16_t type,
                                        uint64_t handle, uint32_t length) {
  EncodeBE32(p, kStructuredReplyMagic);
  EncodeBE16(p + 4, flags);
  EncodeBE16(p + 6, type);
  EncodeBE64(p + 8, handle);
  EncodeBE32(p + 16, length);
}

inline void EncodeOptionReplyHeader(char* p, uint32_t option, uint32_t type,
                                    uint32_t length) {
  EncodeBE64(p, kOptReplyMagic);
  EncodeBE32(p + 8, option);
  EncodeBE32(p + 12, type);
  EncodeBE32(p + 16, length);
}

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_NBD_PROTOCOL_H_
