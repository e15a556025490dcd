#include "dedupe/rados_connection.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace layerdisk {
namespace {

// Used when the configuration leaves a client timeout unset (0 = forever):
// a missing OSD would otherwise block a reader for good.
constexpr char kDefaultTimeoutSeconds[] = "30";

absl::Status SetDefault(librados::Rados* cluster, const char* option, const char* value) {
  std::string current;
  int r = cluster->conf_get(option, current);
  if (r < 0) return FromRados(r, absl::StrCat("read Ceph option ", option));
  if (current != "0") return absl::OkStatus();
  return FromRados(cluster->conf_set(option, value),
                   absl::StrCat("set Ceph option ", option));
}

}  // namespace

absl::Status FromRados(int r, const std::string& what) {
  if (r >= 0) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", std::strerror(-r));
  switch (-r) {
    case ENOENT:
      return absl::NotFoundError(message);
    case ETIMEDOUT:
    case ENOTCONN:
    case ECONNREFUSED:
    case ESHUTDOWN:
    case EAGAIN:
      return absl::UnavailableError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

RadosConnection::~RadosConnection() {
  io.close();
  if (cluster) cluster->shutdown();
}

absl::StatusOr<std::shared_ptr<RadosConnection>> ConnectRados(const RadosTarget& target) {
  auto conn = std::make_shared<RadosConnection>();
  conn->target = target;
  conn->cluster = std::make_unique<librados::Rados>();
  librados::Rados* cluster = conn->cluster.get();
  std::string user = target.user.empty() ? "admin" : target.user;
  if (int r = cluster->init2(absl::StrCat("client.", user).c_str(), "ceph", 0); r < 0) {
    conn->cluster.reset();
    return FromRados(r, absl::StrCat("initialize Ceph client ", user));
  }
  if (int r = cluster->conf_read_file(target.ceph_conf.c_str()); r < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read Ceph configuration ", target.ceph_conf, ": ", std::strerror(-r)));
  absl::Status s = SetDefault(cluster, "rados_osd_op_timeout", kDefaultTimeoutSeconds);
  if (s.ok()) s = SetDefault(cluster, "rados_mon_op_timeout", kDefaultTimeoutSeconds);
  if (!s.ok()) return s;
  if (int r = cluster->connect(); r < 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to the Ceph cluster of ",
                                               target.ceph_conf, ": ", std::strerror(-r)));
  }
  if (int r = cluster->ioctx_create(target.pool.c_str(), conn->io); r < 0)
    return FromRados(r, absl::StrCat("open RADOS pool ", target.pool));
  return conn;
}

size_t AioBatch::Add(const std::function<int(librados::AioCompletion*, time_t*)>& send) {
  auto op = std::make_unique<Op>();
  op->done = librados::Rados::aio_create_completion();
  int issued = send(op->done, &op->mtime);
  if (issued < 0) {
    op->result = issued;
    op->waited = true;
  }
  ops_.push_back(std::move(op));
  return ops_.size() - 1;
}

size_t AioBatch::Write(const std::string& oid, librados::ObjectWriteOperation* w) {
  return Add([&](librados::AioCompletion* c, time_t*) { return io_->aio_operate(oid, c, w); });
}

size_t AioBatch::Read(const std::string& oid, librados::ObjectReadOperation* r) {
  return Add([&](librados::AioCompletion* c, time_t*) {
    return io_->aio_operate(oid, c, r, nullptr);
  });
}

size_t AioBatch::Stat(const std::string& oid, uint64_t* size) {
  return Add([&](librados::AioCompletion* c, time_t* mtime) {
    return io_->aio_stat(oid, c, size, mtime);
  });
}

void AioBatch::Wait() {
  for (auto& op : ops_) {
    if (!op->waited) {
      op->done->wait_for_complete();
      op->result = op->done->get_return_value();
      op->version = op->done->get_version64();
      op->waited = true;
    }
    if (op->done != nullptr) {
      op->done->release();
      op->done = nullptr;
    }
  }
}

}  // namespace layerdisk
