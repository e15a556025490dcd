// Handshake: fixed newstyle option haggling, from the server greeting to
// the start of transmission (NBD_OPT_GO or NBD_OPT_EXPORT_NAME).
//
// Every malformed option gets an error reply and haggling continues, as the
// spec asks; the connection is dropped only where the spec allows no reply
// (bad magic, unknown client flags, a failed NBD_OPT_EXPORT_NAME) or the
// client would make us buffer an unbounded option.
#ifndef LAYERDISK_NBD_FRONTEND_HANDSHAKE_H_
#define LAYERDISK_NBD_FRONTEND_HANDSHAKE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/block_device.h"
#include "nbd-frontend/nbd_server.h"
#include "nbd-frontend/request_validation.h"
#include "nbd-frontend/transport.h"

namespace layerdisk::nbd {

struct NegotiatedExport {
  std::string name;
  std::shared_ptr<BlockDevice> device;
  ExportState state;
  uint16_t transmission_flags = 0;
};

// Runs the handshake on `*transport` (replaced if the client starts TLS,
// with `reader` re-pointed at the new one). Returns the export to serve;
// Cancelled if the client aborted or left; any other error is a protocol
// violation, after which the caller drops the connection.
absl::StatusOr<NegotiatedExport> RunHandshake(
    ExportProvider* provider, TlsProvider* tls, absl::Time deadline,
    std::unique_ptr<Transport>* transport, BufferedReader* reader);

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_HANDSHAKE_H_
