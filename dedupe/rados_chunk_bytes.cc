// Chunk records in a RADOS pool: one object per chunk, named by the chunk's
// hex name. Writes are asynchronous (aio) and gathered per commit: Flush
// waits for all of them before the local batch that references them is
// written. Every operation is bounded by the client timeouts, so an
// unreachable pool fails with Unavailable instead of hanging.
#include <cerrno>
#include <cstring>
#include <mutex>

#include <rados/librados.hpp>

#include "absl/strings/str_cat.h"
#include "dedupe/chunk_bytes.h"

namespace layerdisk {
namespace {

// Used when the configuration leaves a client timeout unset (0 = forever):
// a missing OSD would otherwise block a reader for good.
constexpr char kDefaultTimeoutSeconds[] = "30";

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

// Owns an AioCompletion.
struct Completion {
  Completion() : c(librados::Rados::aio_create_completion()) {}
  ~Completion() { c->release(); }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  int Wait() {
    c->wait_for_complete();
    return c->get_return_value();
  }
  librados::AioCompletion* c;
};

class RadosChunkBytes : public ChunkBytes {
 public:
  RadosChunkBytes(RadosTarget target, std::unique_ptr<librados::Rados> cluster)
      : target_(std::move(target)), cluster_(std::move(cluster)) {}

  ~RadosChunkBytes() override {
    // Writes still in flight belong to a commit that failed; they are
    // harmless (content addressed) but must finish before the handles go.
    Flush().IgnoreError();
    io_.close();
    cluster_->shutdown();
  }

  absl::Status OpenPool() {
    return FromRados(cluster_->ioctx_create(target_.pool.c_str(), io_),
                     absl::StrCat("open RADOS pool ", target_.pool));
  }

  // Creates the owner object exclusively: one store per pool.
  absl::Status Claim(const std::string& store) {
    librados::bufferlist bl;
    bl.append(store);
    librados::ObjectWriteOperation op;
    op.create(true);
    op.write_full(bl);
    int r = io_.operate(kRadosOwnerObject, &op);
    if (r != -EEXIST)
      return FromRados(r, absl::StrCat("claim RADOS pool ", target_.pool));
    librados::bufferlist owner;
    io_.read(kRadosOwnerObject, owner, 0, 0);
    return absl::FailedPreconditionError(absl::StrCat(
        "RADOS pool ", target_.pool, " already holds the chunks of store ", owner.to_str(),
        "; stores cannot share a pool yet"));
  }

  void Put(const ChunkName& name, std::string_view record,
           rocksdb::WriteBatch* /*batch*/) override {
    auto pending = std::make_unique<PendingWrite>();
    pending->oid = name.Hex();
    librados::bufferlist bl;
    bl.append(record.data(), record.size());
    pending->result = io_.aio_write_full(pending->oid, pending->done.c, bl);
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(pending));
  }

  absl::Status Flush() override {
    std::vector<std::unique_ptr<PendingWrite>> writes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writes.swap(pending_);
    }
    absl::Status first;
    for (auto& w : writes) {
      int r = w->result < 0 ? w->result : w->done.Wait();
      if (first.ok() && r < 0)
        first = FromRados(r, absl::StrCat("write chunk ", w->oid, " to RADOS pool ",
                                          target_.pool));
    }
    return first;
  }

  std::vector<absl::StatusOr<std::string>> GetMany(
      absl::Span<const ChunkName* const> names) override {
    struct Read {
      std::string oid;
      librados::ObjectReadOperation op;
      librados::bufferlist bl;
      librados::bufferlist op_out;  // the operation's own output (none for a read)
      int op_result = 0;
      int issue_result = 0;
      Completion done;
    };
    std::vector<std::unique_ptr<Read>> reads;
    reads.reserve(names.size());
    for (const ChunkName* name : names) {
      auto read = std::make_unique<Read>();
      read->oid = name->Hex();
      read->op.read(0, 0, &read->bl, &read->op_result);  // 0 bytes: the whole object
      read->issue_result = io_.aio_operate(read->oid, read->done.c, &read->op, &read->op_out);
      reads.push_back(std::move(read));
    }
    std::vector<absl::StatusOr<std::string>> out;
    out.reserve(names.size());
    for (auto& read : reads) {
      int r = read->issue_result < 0 ? read->issue_result : read->done.Wait();
      if (r >= 0) r = read->op_result;
      if (r < 0) {
        out.push_back(FromRados(r, absl::StrCat("read chunk ", read->oid,
                                                " from RADOS pool ", target_.pool)));
      } else {
        out.push_back(read->bl.to_str());
      }
    }
    return out;
  }

  absl::Status DeleteMany(absl::Span<const ChunkName> names,
                          rocksdb::WriteBatch* /*batch*/) override {
    std::vector<std::unique_ptr<PendingWrite>> removes;
    removes.reserve(names.size());
    for (const ChunkName& name : names) {
      auto remove = std::make_unique<PendingWrite>();
      remove->oid = name.Hex();
      remove->result = io_.aio_remove(remove->oid, remove->done.c);
      removes.push_back(std::move(remove));
    }
    absl::Status first;
    for (auto& r : removes) {
      int result = r->result < 0 ? r->result : r->done.Wait();
      if (result == -ENOENT) continue;  // removed before a crash, or never stored
      if (first.ok() && result < 0)
        first = FromRados(result, absl::StrCat("remove chunk ", r->oid, " from RADOS pool ",
                                               target_.pool));
    }
    return first;
  }

  absl::Status Reclaim() override { return absl::OkStatus(); }  // RADOS frees on remove

 private:
  struct PendingWrite {
    std::string oid;
    int result = 0;  // of issuing the operation
    Completion done;
  };

  const RadosTarget target_;
  std::unique_ptr<librados::Rados> cluster_;
  librados::IoCtx io_;
  std::mutex mu_;
  std::vector<std::unique_ptr<PendingWrite>> pending_;
};

absl::Status SetDefault(librados::Rados* cluster, const char* option, const char* value) {
  std::string current;
  int r = cluster->conf_get(option, current);
  if (r < 0) return FromRados(r, absl::StrCat("read Ceph option ", option));
  if (current != "0") return absl::OkStatus();
  return FromRados(cluster->conf_set(option, value),
                   absl::StrCat("set Ceph option ", option));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChunkBytes>> OpenRadosChunkBytes(
    const RadosTarget& target, const std::string& claim_for) {
  auto cluster = std::make_unique<librados::Rados>();
  std::string user = target.user.empty() ? "admin" : target.user;
  if (int r = cluster->init2(absl::StrCat("client.", user).c_str(), "ceph", 0); r < 0)
    return FromRados(r, absl::StrCat("initialize Ceph client ", user));
  if (int r = cluster->conf_read_file(target.ceph_conf.c_str()); r < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read Ceph configuration ", target.ceph_conf, ": ", std::strerror(-r)));
  absl::Status s = SetDefault(cluster.get(), "rados_osd_op_timeout", kDefaultTimeoutSeconds);
  if (s.ok()) s = SetDefault(cluster.get(), "rados_mon_op_timeout", kDefaultTimeoutSeconds);
  if (!s.ok()) return s;
  if (int r = cluster->connect(); r < 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to the Ceph cluster of ",
                                               target.ceph_conf, ": ", std::strerror(-r)));
  }
  auto bytes = std::make_unique<RadosChunkBytes>(target, std::move(cluster));
  if (absl::Status open = bytes->OpenPool(); !open.ok()) return open;
  if (!claim_for.empty()) {
    if (absl::Status claim = bytes->Claim(claim_for); !claim.ok()) return claim;
  }
  return std::unique_ptr<ChunkBytes>(std::move(bytes));
}

}  // namespace layerdisk
