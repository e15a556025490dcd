// NbdServer: serves BlockDevices to NBD clients (qemu, the Linux kernel,
// libnbd tools) over unix sockets and TCP.
//
// What it serves comes from an ExportProvider, so the server never depends
// on the engine: `layerdisk serve` implements the provider over its Store,
// tests implement it over plain files.
//
// Threading: one thread accepts on every listener; each connection gets a
// reader thread that negotiates and then decodes requests; a worker pool
// shared by all connections executes them, so replies go out in completion
// order and a slow request never holds up the ones behind it.
#ifndef LAYERDISK_NBD_FRONTEND_NBD_SERVER_H_
#define LAYERDISK_NBD_FRONTEND_NBD_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/block_device.h"

namespace layerdisk {

struct ExportInfo {
  std::string name;
  std::string description;  // shown by `nbdinfo --list`; may be empty
  bool read_only = false;   // served read-only even if the device is not
};

// Tells the server which exports exist and opens them.
//
// Thread-safe: called from many connection threads at once.
class ExportProvider {
 public:
  virtual ~ExportProvider() = default;
  virtual std::vector<ExportInfo> ListExports() = 0;
  // NotFound for an unknown name. The server keeps the device while the
  // connection that opened it lives; two connections to one export should
  // get the same device (NBD_FLAG_CAN_MULTI_CONN is advertised, so a flush
  // on one connection must cover writes made on another).
  virtual absl::StatusOr<ExportInfo> GetExport(const std::string& name) = 0;
  virtual absl::StatusOr<std::shared_ptr<BlockDevice>> OpenExport(
      const std::string& name) = 0;
};

// Upgrades a connection to TLS after NBD_OPT_STARTTLS. NewTlsProvider
// (nbd-frontend/tls.h) makes the OpenSSL one.
class Transport;
class TlsProvider {
 public:
  virtual ~TlsProvider() = default;
  // When true, every option but STARTTLS and ABORT is refused until TLS is
  // up (the spec's FORCEDTLS mode).
  virtual bool required() const = 0;
  // Runs the TLS handshake over `plain`, giving up at `deadline`, and
  // returns the encrypted transport.
  virtual absl::StatusOr<std::unique_ptr<Transport>> Upgrade(
      std::unique_ptr<Transport> plain, absl::Time deadline) = 0;
};

struct NbdServerOptions {
  // "unix:PATH" or "tcp:HOST:PORT" (PORT 0 picks a free port; HOST may be
  // "[::1]" for IPv6). At least one.
  std::vector<std::string> listen;
  // Connections past this are accepted and closed at once.
  int max_connections = 256;
  // A client that has not entered transmission by then is disconnected.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Threads executing requests for all connections. 0: 16, enough to keep a
  // queue depth of 32 busy on page-cache hits and a few slow disks.
  int worker_threads = 0;
  // Reads at least this long look up the device map and send zero runs as
  // NBD_REPLY_TYPE_OFFSET_HOLE; shorter ones are sent as data, since the
  // map lookup would cost more than the bytes it saves.
  uint32_t min_read_for_holes = 64 * 1024;
  // SO_SNDBUF/SO_RCVBUF for unix-socket connections. TCP is left to the
  // kernel's autotuning, which grows past what setsockopt may set.
  int unix_socket_buffer_bytes = 4 << 20;
  // Not owned; null means plaintext only (STARTTLS gets NBD_REP_ERR_UNSUP).
  TlsProvider* tls = nullptr;
  // One line per connect and disconnect. Default: stderr.
  std::function<void(std::string_view)> log;
};

// Thread-safe.
class NbdServer {
 public:
  // Binds every listen address and starts serving. `provider` must outlive
  // the server.
  static absl::StatusOr<std::unique_ptr<NbdServer>> Start(
      ExportProvider* provider, const NbdServerOptions& options);

  // Stops if still running.
  virtual ~NbdServer() = default;

  // The bound addresses, in the form of NbdServerOptions::listen with the
  // real port filled in.
  virtual std::vector<std::string> addresses() const = 0;
  // Connections currently open (handshake or transmission).
  virtual int connection_count() const = 0;

  // Disconnects every client whose export name `match` accepts, after its
  // in-flight requests are answered (cut off after a grace period if it
  // stops reading), and returns once they are gone, their writes flushed.
  // Returns how many there were; `why` is logged for each. Clients still in
  // the handshake are not affected: the export they ask for next is looked
  // up afresh.
  virtual int DisconnectClients(const std::function<bool(std::string_view)>& match,
                                std::string_view why) = 0;

  // Stops accepting, disconnects every client after its in-flight requests
  // complete, flushes every device that was written and joins all threads.
  // Idempotent.
  virtual void Stop() = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_NBD_FRONTEND_NBD_SERVER_H_
