// Chunk records in a RADOS pool: one object per chunk, named by the chunk's
// hex name, carrying the references of the stores that hold it
// (dedupe/shared_pool.h). Writes are asynchronous (aio) and gathered per
// commit: Flush waits for all of them before the local batch that
// references them is written. Every operation is bounded by the client timeouts, so an
// unreachable pool fails with Unavailable instead of hanging.
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "dedupe/chunk_bytes.h"
#include "dedupe/rados_connection.h"
#include "dedupe/rados_shared_pool.h"

namespace layerdisk {
namespace {

class RadosChunkBytes : public ChunkBytes {
 public:
  explicit RadosChunkBytes(std::shared_ptr<RadosConnection> conn)
      : conn_(std::move(conn)), pool_(NewRadosSharedPool(conn_)) {}

  ~RadosChunkBytes() override {
    // Writes still in flight belong to a commit that failed; they are
    // harmless (content addressed) but must finish before the handles go.
    Flush().IgnoreError();
  }

  // The record and this store's reference, in one atomic operation: an
  // object never exists without a reference (docs/ceph.md).
  void Put(const ChunkName& name, std::string_view record,
           rocksdb::WriteBatch* /*batch*/) override {
    auto write = std::make_unique<PendingWrite>();
    write->oid = name.Hex();
    librados::bufferlist bl;
    bl.append(record.data(), record.size());
    write->op.write_full(bl);
    std::map<std::string, librados::bufferlist> ref;
    ref[conn_->RefKey()];
    write->op.omap_set(ref);
    std::lock_guard<std::mutex> lock(mu_);
    if (!batch_) batch_ = std::make_unique<AioBatch>(&conn_->io);
    batch_->Write(write->oid, &write->op);
    pending_.push_back(std::move(write));
  }

  absl::Status Flush() override {
    std::unique_ptr<AioBatch> batch;
    std::vector<std::unique_ptr<PendingWrite>> writes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(batch_);
      writes.swap(pending_);
    }
    if (!batch) return absl::OkStatus();
    batch->Wait();
    for (size_t i = 0; i < writes.size(); ++i) {
      if (batch->result(i) < 0)
        return FromRados(batch->result(i), absl::StrCat("write chunk ", writes[i]->oid,
                                                        " to RADOS pool ", conn_->target.pool));
    }
    return absl::OkStatus();
  }

  std::vector<absl::StatusOr<std::string>> GetMany(
      absl::Span<const ChunkName* const> names) override {
    struct Read {
      librados::ObjectReadOperation op;
      librados::bufferlist bl;
      int op_result = 0;
    };
    std::vector<Read> reads(names.size());
    AioBatch batch(&conn_->io);
    for (size_t i = 0; i < names.size(); ++i) {
      reads[i].op.read(0, 0, &reads[i].bl, &reads[i].op_result);  // 0 bytes: the whole object
      batch.Read(names[i]->Hex(), &reads[i].op);
    }
    batch.Wait();
    std::vector<absl::StatusOr<std::string>> out;
    out.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      int r = batch.result(i) < 0 ? batch.result(i) : reads[i].op_result;
      if (r < 0) {
        out.push_back(FromRados(r, absl::StrCat("read chunk ", names[i]->Hex(),
                                                " from RADOS pool ", conn_->target.pool)));
      } else {
        out.push_back(reads[i].bl.to_str());
      }
    }
    return out;
  }

  // Drops this store's references; a chunk no store references any more
  // goes with it.
  absl::Status DeleteMany(absl::Span<const ChunkName> names,
                          rocksdb::WriteBatch* /*batch*/) override {
    return pool_->Release(names).status();
  }

  absl::Status Reclaim() override { return absl::OkStatus(); }  // RADOS frees on remove

  SharedPool* shared_pool() override { return pool_.get(); }

 private:
  struct PendingWrite {
    std::string oid;
    librados::ObjectWriteOperation op;
  };

  const std::shared_ptr<RadosConnection> conn_;
  const std::unique_ptr<SharedPool> pool_;
  std::mutex mu_;
  std::unique_ptr<AioBatch> batch_;
  std::vector<std::unique_ptr<PendingWrite>> pending_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ChunkBytes>> OpenRadosChunkBytes(const RadosOpen& open) {
  ASSIGN_OR_RETURN(std::shared_ptr<RadosConnection> conn, ConnectRados(open.target));
  conn->where = open.where;
  if (open.join) {
    RETURN_IF_ERROR(JoinRadosPool(*conn, open.chunk_size, open.where));
  } else {
    RETURN_IF_ERROR(CheckRegisteredInRadosPool(*conn));
  }
  return std::unique_ptr<ChunkBytes>(std::make_unique<RadosChunkBytes>(std::move(conn)));
}

}  // namespace layerdisk
