#include "nbd-frontend/handshake.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nbd-frontend/nbd_protocol.h"

namespace layerdisk::nbd {
namespace {

// Options longer than this are refused: nothing we understand needs more,
// and a hostile client must not make us allocate. GO/INFO carry a name of up
// to 4096 bytes plus info requests; meta-context options a name plus
// queries of up to 4096 bytes each.
constexpr uint32_t kMaxOptionLength = 4096;
constexpr uint32_t kMaxExportOptionLength = 4 + kMaxStringLength + 2 + 2 * 64;
constexpr uint32_t kMaxMetaOptionLength = 64 * 1024;
// Oversized options up to this are read and dropped so haggling can go on;
// past it the client is not worth the bandwidth and is disconnected.
constexpr uint32_t kMaxSkippableOptionLength = 1 << 20;

uint32_t OptionLimit(uint32_t option) {
  switch (option) {
    case kOptExportName:
      return kMaxStringLength;
    case kOptInfo:
    case kOptGo:
      return kMaxExportOptionLength;
    case kOptListMetaContext:
    case kOptSetMetaContext:
      return kMaxMetaOptionLength;
    default:
      return kMaxOptionLength;
  }
}

bool ValidName(std::string_view name) {
  return name.size() <= kMaxStringLength &&
         name.find('\0') == std::string_view::npos;
}

// Reads big-endian fields from the front of option data.
class OptionParser {
 public:
  explicit OptionParser(std::string_view data) : in_(data) {}
  bool U16(uint16_t* v) {
    if (in_.size() < 2) return false;
    *v = DecodeBE16(in_.data());
    in_.remove_prefix(2);
    return true;
  }
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = DecodeBE32(in_.data());
    in_.remove_prefix(4);
    return true;
  }
  // A u32 length then that many bytes.
  bool String(std::string_view* s) {
    uint32_t n;
    if (!U32(&n) || n > in_.size()) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// Debian's abseil has its own string_view, distinct from std::string_view.
std::string_view MessageOf(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

uint32_t RepErrorFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return kRepErrUnknown;
    case absl::StatusCode::kInvalidArgument:
      return kRepErrInvalid;
    case absl::StatusCode::kCancelled:
      return kRepErrShutdown;
    default:
      return kRepErrPolicy;
  }
}

class Negotiator {
 public:
  Negotiator(ExportProvider* provider, TlsProvider* tls, absl::Time deadline,
             std::unique_ptr<Transport>* transport, BufferedReader* reader)
      : provider_(provider),
        tls_(tls),
        deadline_(deadline),
        transport_(transport),
        reader_(reader) {}

  absl::StatusOr<NegotiatedExport> Run();

 private:
  absl::Status Reply(uint32_t option, uint32_t type, std::string_view data);
  absl::Status ReplyError(uint32_t option, uint32_t type,
                          std::string_view message) {
    return Reply(option, type, message.substr(0, 256));
  }
  // Returns true in *entered once transmission begins.
  absl::Status HandleOption(uint32_t option, std::string_view data,
                            bool* entered);
  absl::Status HandleList(uint32_t option, std::string_view data);
  absl::Status HandleInfoOrGo(uint32_t option, std::string_view data,
                              bool* entered);
  absl::Status HandleExportName(std::string_view data);
  absl::Status HandleMetaContext(uint32_t option, std::string_view data);
  absl::Status HandleStartTls(uint32_t option, std::string_view data);
  // Looks up and opens `name` into result_. On failure returns the error
  // the client should see.
  absl::Status OpenExport(const std::string& name);

  ExportProvider* provider_;
  TlsProvider* tls_;
  absl::Time deadline_;
  std::unique_ptr<Transport>* transport_;
  BufferedReader* reader_;

  bool no_zeroes_ = false;
  bool tls_active_ = false;
  bool structured_ = false;
  bool base_allocation_ = false;
  bool layer_context_ = false;
  std::string meta_export_;  // export SET_META_CONTEXT was for
  NegotiatedExport result_;
  ExportInfo info_;
};

absl::Status Negotiator::Reply(uint32_t option, uint32_t type,
                               std::string_view data) {
  char header[kOptionReplyHeaderSize];
  EncodeOptionReplyHeader(header, option, type,
                          static_cast<uint32_t>(data.size()));
  struct iovec iov[2] = {{header, sizeof(header)},
                         {const_cast<char*>(data.data()), data.size()}};
  return (*transport_)->WriteAll(iov, data.empty() ? 1 : 2);
}

absl::StatusOr<NegotiatedExport> Negotiator::Run() {
  char greeting[18];
  EncodeBE64(greeting, kMagic);
  EncodeBE64(greeting + 8, kOptMagic);
  EncodeBE16(greeting + 16, kFlagFixedNewstyle | kFlagNoZeroes);
  RETURN_IF_ERROR(WriteString(**transport_, greeting, sizeof(greeting)));

  char client_flags[4];
  RETURN_IF_ERROR(reader_->ReadExact(client_flags, 4));
  uint32_t flags = DecodeBE32(client_flags);
  if ((flags & ~kKnownClientFlags) != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("unknown client flags 0x", absl::Hex(flags)));
  no_zeroes_ = (flags & kClientFlagNoZeroes) != 0;

  std::string data;
  for (;;) {
    char header[kOptionHeaderSize];
    RETURN_IF_ERROR(reader_->ReadExact(header, sizeof(header)));
    if (DecodeBE64(header) != kOptMagic)
      return absl::InvalidArgumentError("bad option magic");
    uint32_t option = DecodeBE32(header + 8);
    uint32_t length = DecodeBE32(header + 12);
    if (length > OptionLimit(option)) {
      if (option == kOptExportName || length > kMaxSkippableOptionLength)
        return absl::InvalidArgumentError(
            absl::StrCat("option ", option, " too long: ", length, " bytes"));
      RETURN_IF_ERROR(reader_->Skip(length));
      RETURN_IF_ERROR(ReplyError(option, kRepErrTooBig, "option too long"));
      continue;
    }
    data.resize(length);
    RETURN_IF_ERROR(reader_->ReadExact(data.data(), length));

    if (tls_ != nullptr && tls_->required() && !tls_active_ &&
        option != kOptStartTls && option != kOptAbort) {
      if (option == kOptExportName)
        return absl::PermissionDeniedError("TLS required");
      RETURN_IF_ERROR(ReplyError(option, kRepErrTlsReqd, "TLS required"));
      continue;
    }
    bool entered = false;
    RETURN_IF_ERROR(HandleOption(option, data, &entered));
    if (entered) return std::move(result_);
  }
}

absl::Status Negotiator::HandleOption(uint32_t option, std::string_view data,
                                      bool* entered) {
  switch (option) {
    case kOptExportName:
      RETURN_IF_ERROR(HandleExportName(data));
      *entered = true;
      return absl::OkStatus();
    case kOptAbort:
      // The client may already be gone; the ACK is a courtesy.
      Reply(option, kRepAck, "").IgnoreError();
      return absl::CancelledError("client aborted the handshake");
    case kOptList:
      return HandleList(option, data);
    case kOptStartTls:
      return HandleStartTls(option, data);
    case kOptInfo:
    case kOptGo:
      return HandleInfoOrGo(option, data, entered);
    case kOptStructuredReply:
      if (!data.empty())
        return ReplyError(option, kRepErrInvalid, "unexpected option data");
      structured_ = true;
      return Reply(option, kRepAck, "");
    case kOptListMetaContext:
    case kOptSetMetaContext:
      return HandleMetaContext(option, data);
    default:
      return ReplyError(option, kRepErrUnsup, "option not supported");
  }
}

absl::Status Negotiator::HandleList(uint32_t option, std::string_view data) {
  if (!data.empty())
    return ReplyError(option, kRepErrInvalid, "unexpected option data");
  std::string entry;
  for (const ExportInfo& e : provider_->ListExports()) {
    entry.resize(4);
    EncodeBE32(entry.data(), static_cast<uint32_t>(e.name.size()));
    entry += e.name;
    entry += e.description;
    RETURN_IF_ERROR(Reply(option, kRepServer, entry));
  }
  return Reply(option, kRepAck, "");
}

absl::Status Negotiator::OpenExport(const std::string& name) {
  if (!ValidName(name))
    return absl::InvalidArgumentError("export name too long or contains NUL");
  ASSIGN_OR_RETURN(info_, provider_->GetExport(name));
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> device,
                   provider_->OpenExport(name));
  result_.name = name;
  result_.state.size = device->size();
  result_.state.read_only = info_.read_only || device->read_only();
  result_.state.structured_replies = structured_;
  // Contexts selected for another export do not carry over.
  result_.state.base_allocation = base_allocation_ && meta_export_ == name;
  result_.state.layer_context = layer_context_ && meta_export_ == name;
  uint16_t flags = kFlagHasFlags | kFlagSendFlush | kFlagCanMultiConn;
  if (result_.state.read_only) {
    flags |= kFlagReadOnly;
  } else {
    flags |= kFlagSendFua | kFlagSendTrim | kFlagSendWriteZeroes |
             kFlagSendFastZero;
  }
  if (structured_) flags |= kFlagSendDf;
  result_.transmission_flags = flags;
  result_.device = std::move(device);
  return absl::OkStatus();
}

absl::Status Negotiator::HandleExportName(std::string_view data) {
  // This option cannot be refused politely: on failure the spec has us drop
  // the connection.
  RETURN_IF_ERROR(OpenExport(std::string(data)));
  char reply[8 + 2 + 124] = {};
  EncodeBE64(reply, result_.state.size);
  EncodeBE16(reply + 8, result_.transmission_flags);
  return WriteString(**transport_, reply, no_zeroes_ ? 10 : sizeof(reply));
}

absl::Status Negotiator::HandleInfoOrGo(uint32_t option, std::string_view data,
                                        bool* entered) {
  OptionParser p(data);
  std::string_view name;
  uint16_t count = 0;
  if (!p.String(&name) || !p.U16(&count))
    return ReplyError(option, kRepErrInvalid, "truncated option");
  std::vector<uint16_t> wanted(count);
  for (uint16_t& w : wanted) {
    if (!p.U16(&w)) return ReplyError(option, kRepErrInvalid, "truncated option");
  }
  if (!p.done()) return ReplyError(option, kRepErrInvalid, "trailing option data");

  absl::Status opened = OpenExport(std::string(name));
  if (!opened.ok())
    return ReplyError(option, RepErrorFor(opened), MessageOf(opened));

  char buf[2 + 8 + 2];
  EncodeBE16(buf, kInfoExport);
  EncodeBE64(buf + 2, result_.state.size);
  EncodeBE16(buf + 10, result_.transmission_flags);
  RETURN_IF_ERROR(Reply(option, kRepInfo, std::string_view(buf, 12)));

  // Block sizes are always sent: any byte range works (minimum 1), so a
  // client that did not ask loses nothing by honouring them.
  uint32_t preferred = std::max<uint32_t>(512, result_.device->block_size());
  preferred = std::min<uint32_t>(preferred, kMaxPayload);
  if ((preferred & (preferred - 1)) != 0) preferred = 4096;
  char sizes[2 + 12];
  EncodeBE16(sizes, kInfoBlockSize);
  EncodeBE32(sizes + 2, 1);
  EncodeBE32(sizes + 6, preferred);
  EncodeBE32(sizes + 10, kMaxPayload);
  RETURN_IF_ERROR(Reply(option, kRepInfo, std::string_view(sizes, 14)));

  bool sent_name = false, sent_description = false;
  for (uint16_t w : wanted) {
    std::string reply(2, '\0');
    if (w == kInfoName && !sent_name) {
      sent_name = true;
      EncodeBE16(reply.data(), kInfoName);
      reply += result_.name;
    } else if (w == kInfoDescription && !sent_description &&
               !info_.description.empty()) {
      sent_description = true;
      EncodeBE16(reply.data(), kInfoDescription);
      reply += info_.description.substr(0, kMaxStringLength);
    } else {
      continue;
    }
    RETURN_IF_ERROR(Reply(option, kRepInfo, reply));
  }
  RETURN_IF_ERROR(Reply(option, kRepAck, ""));
  if (option == kOptGo) {
    *entered = true;
  } else {
    result_ = NegotiatedExport();  // INFO only describes; drop the device
  }
  return absl::OkStatus();
}

absl::Status Negotiator::HandleMetaContext(uint32_t option,
                                           std::string_view data) {
  if (!structured_)
    return ReplyError(option, kRepErrInvalid,
                      "structured replies must be negotiated first");
  OptionParser p(data);
  std::string_view name;
  uint32_t count = 0;
  if (!p.String(&name) || !p.U32(&count))
    return ReplyError(option, kRepErrInvalid, "truncated option");
  std::vector<std::string_view> queries;
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view q;
    if (!p.String(&q) || q.size() > kMaxStringLength)
      return ReplyError(option, kRepErrInvalid, "bad query");
    queries.push_back(q);
  }
  if (!p.done()) return ReplyError(option, kRepErrInvalid, "trailing option data");
  if (!ValidName(name))
    return ReplyError(option, kRepErrInvalid, "bad export name");
  absl::StatusOr<ExportInfo> info = provider_->GetExport(std::string(name));
  if (!info.ok())
    return ReplyError(option, RepErrorFor(info.status()),
                      MessageOf(info.status()));

  // The contexts we offer, with the namespace that names all of each.
  struct Context {
    std::string_view name;
    std::string_view space;
    uint32_t id;
    bool* selected;
  };
  const Context contexts[] = {
      {kMetaContextBaseAllocation, kMetaNamespaceBase, kBaseAllocationContextId,
       &base_allocation_},
      {kMetaContextLayer, kMetaNamespaceLayerdisk, kLayerContextId, &layer_context_},
  };
  if (option == kOptSetMetaContext) meta_export_ = std::string(name);
  for (const Context& c : contexts) {
    bool match = false;
    if (option == kOptListMetaContext) {
      // Listing with no query, or the bare namespace, names every context.
      match = queries.empty();
      for (std::string_view q : queries) match = match || q == c.name || q == c.space;
    } else {
      for (std::string_view q : queries) match = match || q == c.name;
      *c.selected = match;
    }
    if (!match) continue;
    std::string reply(4, '\0');
    EncodeBE32(reply.data(), option == kOptSetMetaContext ? c.id : 0);
    reply += c.name;
    RETURN_IF_ERROR(Reply(option, kRepMetaContext, reply));
  }
  return Reply(option, kRepAck, "");
}

absl::Status Negotiator::HandleStartTls(uint32_t option, std::string_view data) {
  if (!data.empty())
    return ReplyError(option, kRepErrInvalid, "unexpected option data");
  if (tls_ == nullptr)
    return ReplyError(option, kRepErrUnsup, "TLS is not configured");
  if (tls_active_)
    return ReplyError(option, kRepErrInvalid, "TLS already active");
  RETURN_IF_ERROR(Reply(option, kRepAck, ""));
  // Bytes sent before our ACK cannot belong to the TLS handshake.
  if (reader_->buffered() != 0)
    return absl::InvalidArgumentError("data after STARTTLS");
  ASSIGN_OR_RETURN(*transport_, tls_->Upgrade(std::move(*transport_), deadline_));
  (*transport_)->SetReadDeadline(deadline_);
  reader_->set_transport(transport_->get());
  tls_active_ = true;
  // Nothing negotiated in plaintext may be trusted afterwards.
  structured_ = false;
  base_allocation_ = false;
  layer_context_ = false;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NegotiatedExport> RunHandshake(
    ExportProvider* provider, TlsProvider* tls, absl::Time deadline,
    std::unique_ptr<Transport>* transport, BufferedReader* reader) {
  (*transport)->SetReadDeadline(deadline);
  Negotiator negotiator(provider, tls, deadline, transport, reader);
  absl::StatusOr<NegotiatedExport> result = negotiator.Run();
  if (result.ok()) (*transport)->SetReadDeadline(absl::InfiniteFuture());
  return result;
}

}  // namespace layerdisk::nbd
