// A connection to one RADOS pool, shared by a store's chunk records
// (rados_chunk_bytes.cc) and what it shares with other stores
// (rados_shared_pool.cc), and the small helpers both use around librados.
// Compiled only when librados is found.
#ifndef LAYERDISK_DEDUPE_RADOS_CONNECTION_H_
#define LAYERDISK_DEDUPE_RADOS_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <rados/librados.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dedupe/chunk_bytes.h"

namespace layerdisk {

// Maps a librados return value (negative errno) to a Status naming `what`.
absl::Status FromRados(int r, const std::string& what);

// The omap key by which store `store_id` references a chunk object.
inline std::string RadosRefKey(const std::string& store_id) { return "ref." + store_id; }

struct RadosConnection {
  RadosTarget target;
  std::string where;  // this store's host and directory, for other stores' messages
  std::unique_ptr<librados::Rados> cluster;
  librados::IoCtx io;

  ~RadosConnection();
  // The omap key by which this store references a chunk object.
  std::string RefKey() const { return RadosRefKey(target.store_id); }
};

// Connects and opens the pool, with client timeouts set so that an
// unreachable cluster fails instead of hanging.
absl::StatusOr<std::shared_ptr<RadosConnection>> ConnectRados(const RadosTarget& target);

// Asynchronous operations on many objects, all in flight together, then
// waited for: how every batched access to the pool is made.
class AioBatch {
 public:
  explicit AioBatch(librados::IoCtx* io) : io_(io) {}
  AioBatch(const AioBatch&) = delete;
  AioBatch& operator=(const AioBatch&) = delete;
  ~AioBatch() { Wait(); }

  // Sends `op` to `oid`; its results are read after Wait. Returns its index.
  size_t Write(const std::string& oid, librados::ObjectWriteOperation* op);
  // Reads: `op`'s output pointers must stay valid until Wait returns.
  size_t Read(const std::string& oid, librados::ObjectReadOperation* op);
  size_t Stat(const std::string& oid, uint64_t* size);
  // Waits for every operation sent; then result(i) is operation i's
  // return value (negative errno) and version(i) the object's version.
  void Wait();
  int result(size_t i) const { return ops_[i]->result; }
  uint64_t version(size_t i) const { return ops_[i]->version; }
  size_t size() const { return ops_.size(); }

 private:
  struct Op {
    librados::AioCompletion* done = nullptr;
    int result = 0;
    uint64_t version = 0;
    bool waited = false;
    time_t mtime = 0;
  };
  size_t Add(const std::function<int(librados::AioCompletion*, time_t*)>& send);

  librados::IoCtx* const io_;
  std::vector<std::unique_ptr<Op>> ops_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_RADOS_CONNECTION_H_
