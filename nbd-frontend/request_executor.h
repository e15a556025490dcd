// RequestExecutor: runs one validated transmission-phase request against
// the export's BlockDevice and sends its reply. The straight line from the
// wire to the device: no request reaches here without ValidateRequest.
//
// Thread-safe: the worker pool calls Execute concurrently.
#ifndef LAYERDISK_NBD_FRONTEND_REQUEST_EXECUTOR_H_
#define LAYERDISK_NBD_FRONTEND_REQUEST_EXECUTOR_H_

#include <atomic>
#include <functional>
#include <memory>

#include "common/block_device.h"
#include "common/layer_map.h"
#include "nbd-frontend/nbd_protocol.h"
#include "nbd-frontend/reply_writer.h"
#include "nbd-frontend/request_validation.h"

namespace layerdisk::nbd {

class RequestExecutor {
 public:
  // `on_device_gone` runs when the device first answers Aborted: it was
  // detached (its volume deleted or rolled back by force) and will fail
  // every further request. It runs before that request's reply is sent,
  // so the request still holds its connection (after the reply, the
  // connection may already be gone).
  RequestExecutor(std::shared_ptr<BlockDevice> device, const ExportState& state,
                  ReplyWriter* writer, uint32_t min_read_for_holes,
                  std::function<void()> on_device_gone)
      : device_(std::move(device)),
        state_(state),
        writer_(writer),
        min_read_for_holes_(min_read_for_holes),
        on_device_gone_(std::move(on_device_gone)) {}

  // `buffer` holds the payload of a WRITE, or has room for `length` bytes of
  // a READ; it must stay valid until `reply->OnSent()`, which every call
  // leads to exactly once.
  void Execute(const RequestHeader& request, char* buffer, PendingReply* reply);

  // True once any write-type command has run, so the connection knows
  // whether closing it needs a flush.
  bool wrote() const { return wrote_.load(std::memory_order_relaxed); }
  BlockDevice& device() { return *device_; }

 private:
  void Read(const RequestHeader& r, char* buffer, PendingReply* reply);
  // Reads with zero runs sent as hole chunks. False if the map was
  // unavailable or showed no holes, and nothing was sent.
  bool ReadSparse(const RequestHeader& r, char* buffer, PendingReply* reply);
  // Answers for every selected meta context: base:allocation from Map(),
  // layerdisk:layer from MapLayers() (docs/nbd-server.md).
  void BlockStatus(const RequestHeader& r, PendingReply* reply);
  // The device's provenance interface, or null when it is not layered.
  LayeredDevice* layered() const { return dynamic_cast<LayeredDevice*>(device_.get()); }
  void ReplyStatus(const RequestHeader& r, const absl::Status& status,
                   PendingReply* reply);

  const std::shared_ptr<BlockDevice> device_;
  const ExportState state_;
  ReplyWriter* const writer_;
  const uint32_t min_read_for_holes_;
  const std::function<void()> on_device_gone_;
  std::atomic<bool> wrote_{false};
  std::atomic<bool> device_gone_{false};
};

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_REQUEST_EXECUTOR_H_
