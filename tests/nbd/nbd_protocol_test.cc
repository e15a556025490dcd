// Unit tests for the NBD pieces that need no socket: request validation,
// the Status -> NBD error mapping, and wire encoding.
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"
#include "nbd-frontend/nbd_errors.h"
#include "nbd-frontend/nbd_protocol.h"
#include "nbd-frontend/request_validation.h"

namespace layerdisk::nbd {
namespace {

constexpr uint64_t kSize = 1 << 20;

ExportState Writable() {
  ExportState s;
  s.size = kSize;
  s.structured_replies = true;
  s.base_allocation = true;
  return s;
}

RequestHeader Req(uint16_t type, uint64_t offset, uint32_t length, uint16_t flags = 0) {
  RequestHeader r;
  r.type = type;
  r.offset = offset;
  r.length = length;
  r.flags = flags;
  return r;
}

TEST(RequestValidation, AcceptsInRangeCommands) {
  ExportState s = Writable();
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, 4096), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, kSize - 1, 1), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, 0, kSize, kCmdFlagFua), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdTrim, 512, 512, kCmdFlagFua), s), 0u);
  EXPECT_EQ(ValidateRequest(
                Req(kCmdWriteZeroes, 0, 512, kCmdFlagNoHole | kCmdFlagFastZero), s),
            0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdBlockStatus, 0, kSize, kCmdFlagReqOne), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdFlush, 0, 0), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, 512, kCmdFlagDf), s), 0u);
}

TEST(RequestValidation, RangeErrors) {
  ExportState s = Writable();
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, kSize, 1), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, kSize - 1, 2), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, kSize - 1, 2), s), kEnospc);
  EXPECT_EQ(ValidateRequest(Req(kCmdTrim, kSize, 1), s), kEnospc);
  EXPECT_EQ(ValidateRequest(Req(kCmdWriteZeroes, kSize + 1, 1), s), kEnospc);
  EXPECT_EQ(ValidateRequest(Req(kCmdBlockStatus, kSize, 1), s), kEinval);
  // offset + length wraps around 2^64.
  uint64_t huge = std::numeric_limits<uint64_t>::max() - 10;
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, huge, 4096), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, huge, 4096), s), kEnospc);
}

TEST(RequestValidation, ZeroLengthAndOversize) {
  ExportState s = Writable();
  s.size = 1ull << 40;
  for (uint16_t type : {kCmdRead, kCmdWrite, kCmdTrim, kCmdWriteZeroes, kCmdBlockStatus})
    EXPECT_EQ(ValidateRequest(Req(type, 0, 0), s), kEinval) << type;
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, kMaxPayload + 1), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, 0, kMaxPayload + 1), s), kEinval);
  // Only READ and WRITE carry payloads; the others may span more.
  EXPECT_EQ(ValidateRequest(Req(kCmdTrim, 0, 0xffffffffu), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdFlush, 0, 1), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdFlush, 1, 0), s), kEinval);
}

TEST(RequestValidation, FlagsAndCommands) {
  ExportState s = Writable();
  EXPECT_EQ(ValidateRequest(Req(5, 0, 512), s), kEinval);   // CACHE: not offered
  EXPECT_EQ(ValidateRequest(Req(99, 0, 512), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, 512, 1 << 9), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, 0, 512, kCmdFlagNoHole), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, 512, kCmdFlagReqOne), s), kEinval);
  s.structured_replies = false;
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, 512, kCmdFlagDf), s), kEinval);
  EXPECT_EQ(ValidateRequest(Req(kCmdBlockStatus, 0, 512), s), kEinval);
  s = Writable();
  s.base_allocation = false;
  EXPECT_EQ(ValidateRequest(Req(kCmdBlockStatus, 0, 512), s), kEinval);
  // layerdisk:layer alone is a context to answer for.
  s.layer_context = true;
  EXPECT_EQ(ValidateRequest(Req(kCmdBlockStatus, 0, 512), s), 0u);
}

TEST(RequestValidation, ReadOnly) {
  ExportState s = Writable();
  s.read_only = true;
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, 0, 512), s), kEperm);
  EXPECT_EQ(ValidateRequest(Req(kCmdTrim, 0, 512), s), kEperm);
  EXPECT_EQ(ValidateRequest(Req(kCmdWriteZeroes, 0, 512), s), kEperm);
  // EPERM wins over range errors: the export refuses writes, full stop.
  EXPECT_EQ(ValidateRequest(Req(kCmdWrite, kSize, 512), s), kEperm);
  EXPECT_EQ(ValidateRequest(Req(kCmdRead, 0, 512), s), 0u);
  EXPECT_EQ(ValidateRequest(Req(kCmdFlush, 0, 0), s), 0u);
}

TEST(NbdErrors, StatusMapping) {
  EXPECT_EQ(ErrorFromStatus(absl::InvalidArgumentError(""), false), kEinval);
  EXPECT_EQ(ErrorFromStatus(absl::PermissionDeniedError(""), true), kEperm);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError(""), true), kEnospc);
  EXPECT_EQ(ErrorFromStatus(absl::OutOfRangeError(""), true), kEnospc);
  EXPECT_EQ(ErrorFromStatus(absl::OutOfRangeError(""), false), kEinval);
  EXPECT_EQ(ErrorFromStatus(absl::DataLossError(""), false), kEio);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError(""), true), kEio);
  EXPECT_EQ(ErrorFromStatus(absl::UnavailableError(""), false), kEio);
}

TEST(Wire, RequestHeaderRoundTrip) {
  char buf[kRequestHeaderSize];
  EncodeBE32(buf, kRequestMagic);
  EncodeBE16(buf + 4, kCmdFlagFua);
  EncodeBE16(buf + 6, kCmdWrite);
  EncodeBE64(buf + 8, 0x0102030405060708ull);
  EncodeBE64(buf + 16, 0xfffffffffffff000ull);
  EncodeBE32(buf + 24, 0x80000000u);
  RequestHeader r;
  ASSERT_TRUE(DecodeRequestHeader(buf, &r));
  EXPECT_EQ(r.flags, kCmdFlagFua);
  EXPECT_EQ(r.type, kCmdWrite);
  EXPECT_EQ(r.handle, 0x0102030405060708ull);
  EXPECT_EQ(r.offset, 0xfffffffffffff000ull);
  EXPECT_EQ(r.length, 0x80000000u);
  buf[0] ^= 1;
  EXPECT_FALSE(DecodeRequestHeader(buf, &r));
}

TEST(Wire, ReplyHeaders) {
  char buf[kStructuredReplyHeaderSize];
  EncodeStructuredReplyHeader(buf, kReplyFlagDone, kReplyTypeOffsetHole, 7, 12);
  EXPECT_EQ(DecodeBE32(buf), kStructuredReplyMagic);
  EXPECT_EQ(DecodeBE16(buf + 4), kReplyFlagDone);
  EXPECT_EQ(DecodeBE16(buf + 6), kReplyTypeOffsetHole);
  EXPECT_EQ(DecodeBE64(buf + 8), 7u);
  EXPECT_EQ(DecodeBE32(buf + 16), 12u);
  EXPECT_EQ(kOptListMetaContext, 9u);
  EXPECT_EQ(kOptSetMetaContext, 10u);
}

}  // namespace
}  // namespace layerdisk::nbd
