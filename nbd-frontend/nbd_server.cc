#include "nbd-frontend/nbd_server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nbd-frontend/connection.h"
#include "nbd-frontend/listener.h"
#include "nbd-frontend/transport.h"
#include "nbd-frontend/worker_pool.h"

namespace layerdisk {
namespace {

constexpr int kDefaultWorkerThreads = 16;
// How long Stop() lets clients collect in-flight replies before it cuts
// them off.
constexpr absl::Duration kStopGrace = absl::Seconds(5);

class NbdServerImpl final : public NbdServer {
 public:
  NbdServerImpl(ExportProvider* provider, const NbdServerOptions& options)
      : options_(options) {
    context_.provider = provider;
    context_.tls = options.tls;
    context_.handshake_timeout = options.handshake_timeout;
    context_.min_read_for_holes = options.min_read_for_holes;
    context_.log = options.log ? options.log : [](std::string_view line) {
      fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
  ~NbdServerImpl() override { Stop(); }

  absl::Status Init();
  std::vector<std::string> addresses() const override;
  int connection_count() const override;
  int DisconnectClients(const std::function<bool(std::string_view)>& match,
                        std::string_view why) override;
  void Stop() override;

 private:
  struct Slot {
    std::unique_ptr<nbd::Connection> connection;
    std::thread thread;
  };

  void AcceptLoop();
  void Accept(const nbd::Listener& listener);
  // Joins the threads of connections that have ended.
  void ReapFinished();
  // Shuts down `ids` gently, then hard after kStopGrace, and waits until
  // each has finished.
  void ShutdownAndWait(const std::vector<uint64_t>& ids, std::string_view why,
                       std::unique_lock<std::mutex>& lock);

  const NbdServerOptions options_;
  nbd::ServerContext context_;
  std::vector<nbd::Listener> listeners_;
  std::unique_ptr<nbd::WorkerPool> pool_;
  int wake_fd_ = -1;
  std::thread accept_thread_;

  mutable std::mutex mu_;
  std::condition_variable finished_cv_;
  std::map<uint64_t, Slot> connections_;  // guarded by mu_
  std::vector<uint64_t> finished_;        // guarded by mu_
  uint64_t next_id_ = 1;                  // guarded by mu_
  bool stopped_ = false;                  // guarded by mu_
};

absl::Status NbdServerImpl::Init() {
  if (options_.listen.empty())
    return absl::InvalidArgumentError("no listen address");
  for (const std::string& address : options_.listen) {
    absl::StatusOr<nbd::Listener> l = nbd::Listen(address);
    if (!l.ok()) {
      for (nbd::Listener& done : listeners_) {
        close(done.fd);
        if (!done.unix_path.empty()) unlink(done.unix_path.c_str());
      }
      listeners_.clear();
      return l.status();
    }
    listeners_.push_back(*std::move(l));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return absl::InternalError("eventfd failed");
  int threads = options_.worker_threads > 0 ? options_.worker_threads
                                            : kDefaultWorkerThreads;
  pool_ = std::make_unique<nbd::WorkerPool>(threads);
  context_.pool = pool_.get();
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

std::vector<std::string> NbdServerImpl::addresses() const {
  std::vector<std::string> out;
  for (const nbd::Listener& l : listeners_) out.push_back(l.address);
  return out;
}

int NbdServerImpl::connection_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(connections_.size() - finished_.size());
}

void NbdServerImpl::AcceptLoop() {
  std::vector<struct pollfd> fds;
  for (const nbd::Listener& l : listeners_) fds.push_back({l.fd, POLLIN, 0});
  fds.push_back({wake_fd_, POLLIN, 0});
  for (;;) {
    // The timeout only bounds how long finished connection threads wait to
    // be joined.
    int r = poll(fds.data(), fds.size(), 1000);
    ReapFinished();
    if (r < 0 && errno != EINTR) {
      context_.log(absl::StrFormat("nbd: poll failed: %s", strerror(errno)));
      return;
    }
    if (fds.back().revents != 0) return;  // Stop()
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if (fds[i].revents & POLLIN) Accept(listeners_[i]);
    }
  }
}

void NbdServerImpl::Accept(const nbd::Listener& listener) {
  int fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    // EMFILE and friends: back off rather than spin on a full fd table.
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      context_.log(absl::StrFormat("nbd: accept: %s", strerror(errno)));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return;
  }
  std::string peer = nbd::PeerName(fd, listener.is_unix);
  std::lock_guard<std::mutex> lock(mu_);
  int active = static_cast<int>(connections_.size() - finished_.size());
  if (stopped_ || active >= options_.max_connections) {
    context_.log(absl::StrFormat("nbd: refused %s: %d connections open", peer, active));
    close(fd);
    return;
  }
  nbd::TuneAcceptedSocket(fd, listener.is_unix, options_.unix_socket_buffer_bytes);
  uint64_t id = next_id_++;
  Slot& slot = connections_[id];
  slot.connection = std::make_unique<nbd::Connection>(
      id, peer + " via " + listener.address, NewSocketTransport(fd), &context_);
  nbd::Connection* connection = slot.connection.get();
  slot.thread = std::thread([this, connection, id] {
    connection->Run();
    std::lock_guard<std::mutex> lock(mu_);
    finished_.push_back(id);
    finished_cv_.notify_all();
  });
}

void NbdServerImpl::ReapFinished() {
  std::vector<Slot> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t id : finished_) {
      auto it = connections_.find(id);
      done.push_back(std::move(it->second));
      connections_.erase(it);
    }
    finished_.clear();
  }
  for (Slot& slot : done) slot.thread.join();
}

void NbdServerImpl::ShutdownAndWait(const std::vector<uint64_t>& ids,
                                    std::string_view why,
                                    std::unique_lock<std::mutex>& lock) {
  // A finished connection stays in connections_ until ReapFinished joins
  // it, which only the accept thread or Stop() does, after this returns.
  auto all_done = [&] {
    for (uint64_t id : ids) {
      if (connections_.count(id) != 0 &&
          std::find(finished_.begin(), finished_.end(), id) == finished_.end())
        return false;
    }
    return true;
  };
  for (uint64_t id : ids) connections_.at(id).connection->Shutdown(false, why);
  if (finished_cv_.wait_for(lock, absl::ToChronoSeconds(kStopGrace), all_done)) return;
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second.connection->Shutdown(true, why);
  }
  finished_cv_.wait(lock, all_done);
}

int NbdServerImpl::DisconnectClients(const std::function<bool(std::string_view)>& match,
                                     std::string_view why) {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  for (auto& [id, slot] : connections_) {
    if (std::find(finished_.begin(), finished_.end(), id) != finished_.end()) continue;
    std::string name = slot.connection->export_name();
    if (!name.empty() && match(name)) ids.push_back(id);
  }
  if (ids.empty()) return 0;
  context_.log(absl::StrFormat("nbd: disconnecting %d client%s", ids.size(),
                               ids.size() == 1 ? "" : "s"));
  ShutdownAndWait(ids, why, lock);
  return static_cast<int>(ids.size());
}

void NbdServerImpl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (accept_thread_.joinable()) {
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof(one)) < 0) {
      // The eventfd cannot be full after a single write; nothing to do.
    }
    accept_thread_.join();
  }
  for (nbd::Listener& l : listeners_) {
    close(l.fd);
    if (!l.unix_path.empty()) unlink(l.unix_path.c_str());
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<uint64_t> all;
    for (auto& [id, slot] : connections_) all.push_back(id);
    ShutdownAndWait(all, "server stopping", lock);
  }
  ReapFinished();
  pool_.reset();
  if (wake_fd_ >= 0) close(wake_fd_);
  wake_fd_ = -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NbdServer>> NbdServer::Start(
    ExportProvider* provider, const NbdServerOptions& options) {
  auto server = std::make_unique<NbdServerImpl>(provider, options);
  RETURN_IF_ERROR(server->Init());
  return std::unique_ptr<NbdServer>(std::move(server));
}

}  // namespace layerdisk
