#include "nbd-frontend/tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nbd-frontend/transport.h"

namespace layerdisk {
namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

// Small writes are gathered into one TLS record: a reply header alone in a
// record would cost a record's overhead and a syscall of its own.
constexpr size_t kRecordBytes = 16 * 1024;

// OpenSSL allows one thread at a time per SSL object, while NBD reads on
// the connection thread and writes from workers. So the socket is
// non-blocking, every SSL call runs under mu_, and waiting for the socket
// happens outside it.
class TlsTransport final : public Transport {
 public:
  TlsTransport(std::unique_ptr<Transport> plain, SSL* ssl)
      : plain_(std::move(plain)), fd_(plain_->fd()), ssl_(ssl) {}
  ~TlsTransport() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      SSL_shutdown(ssl_);  // best effort close_notify; never waits
    }
    SSL_free(ssl_);
  }

  // Completes the server side of the handshake.
  absl::Status Accept(absl::Time deadline) {
    for (;;) {
      int events;
      {
        std::lock_guard<std::mutex> lock(mu_);
        int r = SSL_accept(ssl_);
        if (r == 1) return absl::OkStatus();
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ) {
          events = POLLIN;
        } else if (err == SSL_ERROR_WANT_WRITE) {
          events = POLLOUT;
        } else {
          return absl::PermissionDeniedError(
              absl::StrCat("TLS handshake failed: ", OpenSslError()));
        }
      }
      if (!Wait(events, deadline))
        return absl::DeadlineExceededError("TLS handshake timed out");
    }
  }

  absl::StatusOr<size_t> Read(char* buf, size_t len) override {
    for (;;) {
      int events;
      {
        std::lock_guard<std::mutex> lock(mu_);
        size_t got = 0;
        int r = SSL_read_ex(ssl_, buf, len, &got);
        if (r == 1) return got;
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err == SSL_ERROR_WANT_READ) {
          events = POLLIN;
        } else if (err == SSL_ERROR_WANT_WRITE) {
          events = POLLOUT;
        } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
          return 0;  // the peer (or Shutdown) closed without close_notify
        } else {
          return absl::UnavailableError(absl::StrCat("TLS read: ", OpenSslError()));
        }
      }
      absl::Time deadline = absl::FromUnixNanos(deadline_ns_.load());
      if (!Wait(events, deadline))
        return absl::DeadlineExceededError("handshake timed out");
    }
  }

  absl::Status WriteAll(struct iovec* iov, int iovcnt) override {
    for (int i = 0; i < iovcnt;) {
      const char* data;
      size_t len;
      if (iov[i].iov_len >= kRecordBytes) {
        data = static_cast<const char*>(iov[i].iov_base);
        len = iov[i].iov_len;
        ++i;
      } else {
        staging_.clear();
        while (i < iovcnt && staging_.size() + iov[i].iov_len <= kRecordBytes) {
          staging_.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
          ++i;
        }
        data = staging_.data();
        len = staging_.size();
      }
      absl::Status s = Write(data, len);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  void Shutdown() override { plain_->Shutdown(); }

  void SetReadDeadline(absl::Time deadline) override {
    deadline_ns_.store(deadline == absl::InfiniteFuture() ? kNoDeadline
                                                          : absl::ToUnixNanos(deadline));
  }

  int fd() const override { return fd_; }

 private:
  static constexpr int64_t kNoDeadline = INT64_MAX;

  absl::Status Write(const char* data, size_t len) {
    while (len > 0) {
      int events;
      {
        std::lock_guard<std::mutex> lock(mu_);
        size_t wrote = 0;
        int r = SSL_write_ex(ssl_, data, len, &wrote);
        if (r == 1) {
          data += wrote;
          len -= wrote;
          continue;
        }
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_WRITE) {
          events = POLLOUT;
        } else if (err == SSL_ERROR_WANT_READ) {
          events = POLLIN;
        } else {
          return absl::UnavailableError(absl::StrCat("TLS write: ", OpenSslError()));
        }
      }
      if (!Wait(events, absl::InfiniteFuture()))
        return absl::UnavailableError("TLS write: connection closed");
    }
    return absl::OkStatus();
  }

  // False once the deadline passes or the socket is shut down.
  bool Wait(int events, absl::Time deadline) {
    for (;;) {
      int ms = -1;
      if (deadline != absl::InfiniteFuture() &&
          deadline != absl::FromUnixNanos(kNoDeadline)) {
        absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return false;
        ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
      }
      struct pollfd p = {fd_, static_cast<short>(events), 0};
      int r = poll(&p, 1, ms);
      if (r > 0) return (p.revents & POLLNVAL) == 0;
      if (r < 0 && errno != EINTR) return false;
    }
  }

  std::unique_ptr<Transport> plain_;  // owns the socket
  const int fd_;
  std::mutex mu_;  // guards every SSL call on ssl_
  SSL* const ssl_;
  std::string staging_;  // used only by the writer (callers serialise writes)
  std::atomic<int64_t> deadline_ns_{kNoDeadline};
};

absl::StatusOr<std::map<std::string, std::string>> LoadPskFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read PSK file " + path);
  std::map<std::string, std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    size_t colon = l.find(':');
    std::string key;
    if (colon == absl::string_view::npos || colon == 0)
      return absl::InvalidArgumentError("PSK file lines are identity:hexkey: " + path);
    absl::string_view hex = l.substr(colon + 1);
    if (hex.empty() || hex.size() % 2 != 0 ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != absl::string_view::npos)
      return absl::InvalidArgumentError("bad hex key in PSK file " + path);
    key = absl::HexStringToBytes(hex);
    keys[std::string(l.substr(0, colon))] = key;
  }
  if (keys.empty()) return absl::InvalidArgumentError("no keys in PSK file " + path);
  return keys;
}

class OpenSslTlsProvider final : public TlsProvider {
 public:
  OpenSslTlsProvider(SSL_CTX* ctx, bool required,
                     std::map<std::string, std::string> psk)
      : ctx_(ctx), required_(required), psk_(std::move(psk)) {}
  ~OpenSslTlsProvider() override { SSL_CTX_free(ctx_); }

  bool required() const override { return required_; }

  absl::StatusOr<std::unique_ptr<Transport>> Upgrade(
      std::unique_ptr<Transport> plain, absl::Time deadline) override {
    int fd = plain->fd();
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
      return absl::InternalError("cannot make the socket non-blocking");
    SSL* ssl = SSL_new(ctx_);
    if (ssl == nullptr) return absl::InternalError("SSL_new: " + OpenSslError());
    SSL_set_fd(ssl, fd);
    SSL_set_app_data(ssl, this);
    auto tls = std::make_unique<TlsTransport>(std::move(plain), ssl);
    absl::Status s = tls->Accept(deadline);
    if (!s.ok()) return s;
    return std::unique_ptr<Transport>(std::move(tls));
  }

  // Looks up a client's PSK identity; 0 refuses it.
  unsigned int FindPsk(const char* identity, unsigned char* out, unsigned int max) const {
    auto it = psk_.find(identity == nullptr ? "" : identity);
    if (it == psk_.end() || it->second.size() > max) return 0;
    memcpy(out, it->second.data(), it->second.size());
    return static_cast<unsigned int>(it->second.size());
  }

 private:
  SSL_CTX* const ctx_;
  const bool required_;
  const std::map<std::string, std::string> psk_;
};

unsigned int PskServerCallback(SSL* ssl, const char* identity, unsigned char* psk,
                               unsigned int max_psk_len) {
  auto* provider = static_cast<OpenSslTlsProvider*>(SSL_get_app_data(ssl));
  return provider->FindPsk(identity, psk, max_psk_len);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsProvider>> NewTlsProvider(const TlsOptions& options) {
  const bool x509 = !options.cert_file.empty() || !options.key_file.empty();
  if (!x509 && options.psk_file.empty())
    return absl::InvalidArgumentError("TLS needs a certificate and key, or a PSK file");
  if (x509 && (options.cert_file.empty() || options.key_file.empty()))
    return absl::InvalidArgumentError("TLS certificate and key go together");

  std::map<std::string, std::string> psk;
  if (!options.psk_file.empty()) {
    absl::StatusOr<std::map<std::string, std::string>> keys = LoadPskFile(options.psk_file);
    if (!keys.ok()) return keys.status();
    psk = *std::move(keys);
  }

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + OpenSslError());
  auto fail = [ctx](const std::string& what) {
    std::string message = what + ": " + OpenSslError();
    SSL_CTX_free(ctx);
    return absl::InvalidArgumentError(message);
  };
  // The NBD spec requires TLS 1.2 at least.
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (x509) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1)
      return fail("loading certificate " + options.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return fail("loading key " + options.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1) return fail("certificate and key differ");
  }
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
      return fail("loading CA " + options.ca_file);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  if (!psk.empty()) {
    SSL_CTX_set_psk_server_callback(ctx, PskServerCallback);
    // PSK key exchanges are not in the default TLS 1.2 cipher list.
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE-PSK:DHE-PSK:PSK:HIGH:!aNULL:!MD5") != 1)
      return fail("setting PSK ciphers");
  }
  return std::unique_ptr<TlsProvider>(
      std::make_unique<OpenSslTlsProvider>(ctx, options.required, std::move(psk)));
}

}  // namespace layerdisk
