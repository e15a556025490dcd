// Connection: one client, from accept to close. Its thread runs the
// handshake, then reads requests, validates them and queues them on the
// shared worker pool; workers execute and reply in completion order.
//
// Run() is called once, on the connection's own thread; Shutdown() from
// any thread.
#ifndef LAYERDISK_NBD_FRONTEND_CONNECTION_H_
#define LAYERDISK_NBD_FRONTEND_CONNECTION_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "nbd-frontend/handshake.h"
#include "nbd-frontend/nbd_server.h"
#include "nbd-frontend/reply_writer.h"
#include "nbd-frontend/request_executor.h"
#include "nbd-frontend/transport.h"
#include "nbd-frontend/worker_pool.h"

namespace layerdisk::nbd {

// What every connection of one server shares. Outlives the connections.
struct ServerContext {
  ExportProvider* provider = nullptr;
  TlsProvider* tls = nullptr;
  WorkerPool* pool = nullptr;
  absl::Duration handshake_timeout;
  uint32_t min_read_for_holes = 0;
  std::function<void(std::string_view)> log;
};

class Connection {
 public:
  Connection(uint64_t id, std::string peer, std::unique_ptr<Transport> transport,
             const ServerContext* context);
  ~Connection();

  void Run();
  // Stops reading requests; those in flight still get their replies. With
  // `hard`, also fails sends, for clients that stopped reading. `why` is
  // logged as the reason the connection ended.
  void Shutdown(bool hard, std::string_view why);
  // The export this client negotiated; empty during the handshake.
  std::string export_name() const;

 private:
  class Request;

  // Returns why transmission ended (OK for NBD_CMD_DISC).
  absl::Status Transmit(BufferedReader& reader);
  // A pooled request for `h`, counted in flight, whose buffer holds at
  // least `size` bytes. Blocks while too much is in flight, so a client
  // that never reads replies cannot make us queue unbounded memory.
  Request* AdmitRequest(const RequestHeader& h, uint32_t size);
  // Returns a request to the pool once its reply is sent.
  void ReleaseRequest(Request* request);
  // Replies to a request refused before execution.
  void ReplyError(const RequestHeader& h, uint32_t error,
                  std::string_view message);
  void WaitForInFlight();

  const uint64_t id_;
  const std::string peer_;
  const ServerContext* const context_;

  // Shutdown() acts on the socket itself, which stays the same when TLS
  // wraps it, so it need not race with the handshake replacing transport_.
  const int fd_;
  mutable std::mutex transport_mu_;
  std::unique_ptr<Transport> transport_;
  bool closed_ = false;     // guarded by transport_mu_; fd_ no longer ours
  std::string export_name_;  // guarded by transport_mu_
  std::string shutdown_why_;  // guarded by transport_mu_; first reason wins

  NegotiatedExport export_;
  std::unique_ptr<ReplyWriter> writer_;
  std::unique_ptr<RequestExecutor> executor_;
  uint64_t requests_ = 0;

  std::mutex mu_;
  std::condition_variable idle_cv_;
  int in_flight_ = 0;  // requests whose reply is not yet sent; guarded by mu_
  uint64_t in_flight_bytes_ = 0;  // their buffers; guarded by mu_
  bool reader_waiting_ = false;   // guarded by mu_
  std::vector<Request*> free_;        // guarded by mu_
};

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_CONNECTION_H_
