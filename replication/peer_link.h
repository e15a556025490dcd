// How replication peers reach each other: gRPC channels and listening
// credentials, TLS with mutual certificate authentication unless plaintext
// is asked for explicitly, and gRPC <-> absl status conversion.
#ifndef LAYERDISK_REPLICATION_PEER_LINK_H_
#define LAYERDISK_REPLICATION_PEER_LINK_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace layerdisk {

struct PeerSecurity {
  // Plaintext: only when asked for (loopback testing, a trusted network).
  bool insecure = false;
  std::string cert_file;  // our certificate chain (PEM)
  std::string key_file;   // our private key (PEM)
  std::string ca_file;    // CA bundle (PEM) the peer's certificate must chain to
};

// A channel to the replication service at HOST:PORT. InvalidArgument when
// the security options are incomplete (TLS needs the CA, cert and key).
absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectPeer(const std::string& address,
                                                           const PeerSecurity& security);

// Credentials for a server listening for peers: TLS that requires and
// verifies a client certificate signed by ca_file, or plaintext if insecure.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PeerServerCredentials(
    const PeerSecurity& security);

// The same canonical codes both ways; a peer's error names the peer.
grpc::Status ToRpcStatus(const absl::Status& s);
absl::Status FromPeerStatus(const std::string& peer, const grpc::Status& s);

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_PEER_LINK_H_
