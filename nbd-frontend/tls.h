// TLS for NBD (NBD_OPT_STARTTLS) with OpenSSL: X.509 certificates, with
// optional client-certificate verification, or pre-shared keys.
#ifndef LAYERDISK_NBD_FRONTEND_TLS_H_
#define LAYERDISK_NBD_FRONTEND_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nbd-frontend/nbd_server.h"

namespace layerdisk {

struct TlsOptions {
  // X.509: the server's certificate chain and private key (PEM).
  std::string cert_file;
  std::string key_file;
  // CA bundle (PEM) that client certificates must chain to; with it set,
  // a client without a valid certificate is refused.
  std::string ca_file;
  // Pre-shared keys instead of (or besides) certificates: lines of
  // "identity:hexkey", the format of `psktool` as qemu and libnbd use it.
  std::string psk_file;
  // Refuse every option but STARTTLS and ABORT until TLS is up.
  bool required = false;
};

// InvalidArgument when neither a certificate nor a PSK file is given, or
// a file cannot be loaded.
absl::StatusOr<std::unique_ptr<TlsProvider>> NewTlsProvider(const TlsOptions& options);

}  // namespace layerdisk

#endif  // LAYERDISK_NBD_FRONTEND_TLS_H_
