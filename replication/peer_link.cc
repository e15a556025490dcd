#include "replication/peer_link.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the ", what, " ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status RequireTlsFiles(const PeerSecurity& s) {
  if (s.cert_file.empty() || s.key_file.empty() || s.ca_file.empty())
    return absl::InvalidArgumentError(
        "replication over TCP needs TLS with mutual authentication (--grpc-tls-cert, "
        "--grpc-tls-key and --grpc-tls-ca), or --insecure / --grpc-insecure for a trusted "
        "network");
  return absl::OkStatus();
}

// Chunk replies stay near 1 MiB, but a 1 MiB-chunk store sends one record
// of that size plus framing.
constexpr int kMaxMessageBytes = 64 << 20;

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectPeer(const std::string& address,
                                                           const PeerSecurity& security) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (security.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    RETURN_IF_ERROR(RequireTlsFiles(security));
    grpc::SslCredentialsOptions o;
    ASSIGN_OR_RETURN(o.pem_root_certs, ReadPem("CA bundle", security.ca_file));
    ASSIGN_OR_RETURN(o.pem_cert_chain, ReadPem("certificate", security.cert_file));
    ASSIGN_OR_RETURN(o.pem_private_key, ReadPem("private key", security.key_file));
    creds = grpc::SslCredentials(o);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return grpc::CreateCustomChannel(address, creds, args);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PeerServerCredentials(
    const PeerSecurity& security) {
  if (security.insecure) return grpc::InsecureServerCredentials();
  RETURN_IF_ERROR(RequireTlsFiles(security));
  grpc::SslServerCredentialsOptions o(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ASSIGN_OR_RETURN(o.pem_root_certs, ReadPem("CA bundle", security.ca_file));
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadPem("certificate", security.cert_file));
  ASSIGN_OR_RETURN(pair.private_key, ReadPem("private key", security.key_file));
  o.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(o);
}

grpc::Status ToRpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Status FromPeerStatus(const std::string& peer, const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    return absl::UnavailableError(
        absl::StrCat("replication peer ", peer, " did not answer in time: ", s.error_message()));
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE)
    return absl::UnavailableError(
        absl::StrCat("replication peer ", peer, " is not answering: ", s.error_message()));
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat("peer ", peer, ": ", s.error_message()));
}

}  // namespace layerdisk
