#include "nbd-frontend/connection.h"

#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "nbd-frontend/nbd_protocol.h"
#include "nbd-frontend/request_validation.h"

namespace layerdisk::nbd {
namespace {

// Requests (and their buffers) kept for reuse, so the steady state of a
// busy connection allocates nothing. Bigger buffers are freed after use so
// an idle connection does not pin megabytes.
constexpr size_t kMaxPooledRequests = 64;
constexpr size_t kMaxPooledBuffer = 256 * 1024;
// A client that sends requests without reading replies is throttled here
// rather than allowed to queue unbounded memory.
constexpr int kMaxInFlight = 512;
constexpr uint64_t kMaxInFlightBytes = 256ull << 20;

const char* ValidationMessage(uint32_t error) {
  switch (error) {
    case kEperm:
      return "export is read-only";
    case kEnospc:
      return "request extends past the end of the export";
    default:
      return "invalid request";
  }
}

}  // namespace

// A request, its payload or read buffer, and its reply: one object from
// decode to sent, pooled per connection.
class Connection::Request final : public WorkItem, public PendingReply {
 public:
  explicit Request(Connection* connection) : connection_(connection) {}

  // Nothing of `this` or the connection may be touched once Execute has
  // sent the reply: OnSent recycles the request, and the last reply out
  // lets the connection end.
  void Run() override { connection_->executor_->Execute(header, buffer.get(), this); }
  void OnSent() override { connection_->ReleaseRequest(this); }

  RequestHeader header;
  std::unique_ptr<char[]> buffer;
  size_t capacity = 0;
  uint64_t counted_bytes = 0;  // its share of in_flight_bytes_

 private:
  Connection* const connection_;
};

Connection::Connection(uint64_t id, std::string peer,
                       std::unique_ptr<Transport> transport,
                       const ServerContext* context)
    : id_(id),
      peer_(std::move(peer)),
      context_(context),
      fd_(transport->fd()),
      transport_(std::move(transport)) {}

Connection::~Connection() {
  for (Request* r : free_) delete r;
}

void Connection::Shutdown(bool hard, std::string_view why) {
  std::lock_guard<std::mutex> lock(transport_mu_);
  if (shutdown_why_.empty()) shutdown_why_ = why;
  if (!closed_) shutdown(fd_, hard ? SHUT_RDWR : SHUT_RD);
}

std::string Connection::export_name() const {
  std::lock_guard<std::mutex> lock(transport_mu_);
  return export_name_;
}

void Connection::Run() {
  context_->log(absl::StrFormat("nbd[%d]: connect from %s", id_, peer_));
  absl::Time start = absl::Now();
  BufferedReader reader(transport_.get());
  absl::Status why;
  absl::StatusOr<NegotiatedExport> negotiated =
      RunHandshake(context_->provider, context_->tls,
                   start + context_->handshake_timeout, &transport_, &reader);
  if (!negotiated.ok()) {
    why = negotiated.status();
  } else {
    export_ = *std::move(negotiated);
    {
      std::lock_guard<std::mutex> lock(transport_mu_);
      export_name_ = export_.name;
    }
    writer_ = std::make_unique<ReplyWriter>(transport_.get(),
                                            export_.state.structured_replies);
    // The volume deleted or rolled back under this client (a forced
    // management command): nothing it sends can succeed any more, so the
    // connection ends once the replies in flight are out.
    executor_ = std::make_unique<RequestExecutor>(
        export_.device, export_.state, writer_.get(), context_->min_read_for_holes,
        [this] { Shutdown(false, "the export was deleted or rolled back"); });
    why = Transmit(reader);
    WaitForInFlight();
    // Writes acknowledged without FUA or a later flush would otherwise sit
    // in caches after the client has gone.
    if (executor_->wrote()) {
      absl::Status flushed = export_.device->Flush();
      if (!flushed.ok() && why.ok()) why = flushed;
    }
  }
  std::string server_why;
  {
    std::lock_guard<std::mutex> lock(transport_mu_);
    closed_ = true;
    transport_.reset();
    server_why = shutdown_why_;
  }
  // A connection the server cut off ends with a read error or EOF; the
  // server's reason is the one worth logging.
  std::string reason = !server_why.empty() ? server_why
                       : why.ok()          ? "client disconnected"
                       : why.code() == absl::StatusCode::kCancelled
                           ? std::string(why.message())
                           : why.ToString();
  context_->log(absl::StrFormat(
      "nbd[%d]: disconnect %s, export '%s', %d requests, %.1fs: %s", id_, peer_,
      export_.name, requests_, absl::ToDoubleSeconds(absl::Now() - start), reason));
  // The export is no longer in use by this client: let go of it now, not
  // when the thread is reaped, so a rollback right after a VM shuts down is
  // not refused as "in use".
  executor_.reset();
  export_.device.reset();
}

absl::Status Connection::Transmit(BufferedReader& reader) {
  for (;;) {
    char header[kRequestHeaderSize];
    absl::Status status = reader.ReadExact(header, sizeof(header));
    if (!status.ok()) return status;
    RequestHeader h;
    if (!DecodeRequestHeader(header, &h))
      return absl::InvalidArgumentError("bad request magic");
    ++requests_;
    if (h.type == kCmdDisc) return absl::OkStatus();

    uint32_t error = ValidateRequest(h, export_.state);
    if (h.type == kCmdWrite && h.length > kMaxPayload) {
      // Skipping gigabytes to stay in sync is not worth it; the spec allows
      // dropping a client that breaks the advertised maximum.
      ReplyError(h, kEinval, "write payload too large");
      return absl::InvalidArgumentError(
          absl::StrCat("write payload of ", h.length, " bytes"));
    }
    if (error != 0 && h.type != kCmdWrite) {
      ReplyError(h, error, ValidationMessage(error));
      continue;
    }
    bool needs_buffer = h.type == kCmdRead || h.type == kCmdWrite;
    Request* request = AdmitRequest(h, needs_buffer ? h.length : 0);
    if (h.type == kCmdWrite) {
      // Read even a refused write's payload so the next header lines up.
      status = reader.ReadExact(request->buffer.get(), h.length);
      if (!status.ok()) {
        ReleaseRequest(request);
        return status.code() == absl::StatusCode::kCancelled
                   ? absl::OutOfRangeError("client closed mid-request")
                   : status;
      }
      if (error != 0) {
        writer_->SendError(request, h.handle, error, ValidationMessage(error));
        continue;
      }
    }
    context_->pool->Submit(request);
  }
}

void Connection::ReplyError(const RequestHeader& h, uint32_t error,
                            std::string_view message) {
  Request* request = AdmitRequest(h, 0);
  writer_->SendError(request, h.handle, error, message);
}

Connection::Request* Connection::AdmitRequest(const RequestHeader& h,
                                              uint32_t size) {
  Request* request = nullptr;
  {
    // One critical section per request: wait for room, take a pooled
    // request, count it in flight.
    std::unique_lock<std::mutex> lock(mu_);
    while (in_flight_ > 0 && (in_flight_ >= kMaxInFlight ||
                              in_flight_bytes_ + size > kMaxInFlightBytes)) {
      reader_waiting_ = true;
      idle_cv_.wait(lock);
      reader_waiting_ = false;
    }
    ++in_flight_;
    in_flight_bytes_ += size;
    if (!free_.empty()) {
      request = free_.back();
      free_.pop_back();
    }
  }
  if (request == nullptr) request = new Request(this);
  request->header = h;
  request->counted_bytes = size;
  if (request->capacity < size) {
    // Uninitialised on purpose: the payload or the device overwrites it.
    request->buffer.reset(new char[size]);
    request->capacity = size;
  }
  return request;
}

void Connection::ReleaseRequest(Request* request) {
  if (request->capacity > kMaxPooledBuffer) {
    request->buffer.reset();
    request->capacity = 0;
  }
  bool pooled = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxPooledRequests) {
      free_.push_back(request);
      pooled = true;
    }
    --in_flight_;
    in_flight_bytes_ -= request->counted_bytes;
    if (in_flight_ == 0 || reader_waiting_) idle_cv_.notify_all();
  }
  if (!pooled) delete request;
}

void Connection::WaitForInFlight() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

}  // namespace layerdisk::nbd
