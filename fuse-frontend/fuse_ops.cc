#include "fuse-frontend/fuse_ops.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuse-frontend/fuse_errno.h"

namespace layerdisk {
namespace {

FuseContext& Ctx(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req)); }
OpenImage* Handle(fuse_file_info* fi) { return reinterpret_cast<OpenImage*>(fi->fh); }

// Refusals a user must be able to understand (a truncate, a write to a
// snapshot) are logged with their reason: errno alone cannot carry it.
void ReplyStatus(fuse_req_t req, const absl::Status& status, bool log_reason = false) {
  if (log_reason && !status.ok() && Ctx(req).log)
    Ctx(req).log(absl::StrCat("fuse: refused: ", status.message()));
  fuse_reply_err(req, ErrnoFromStatus(status));
}

void ReplyErrno(fuse_req_t req, int err) { fuse_reply_err(req, err); }

struct stat StatOf(const ImageAttr& attr, uint32_t io_bytes) {
  struct stat st;
  std::memset(&st, 0, sizeof st);
  st.st_ino = attr.inode;
  st.st_uid = ::getuid();
  st.st_gid = ::getgid();
  st.st_mtim.tv_sec = static_cast<time_t>(attr.mtime_unix_ms / 1000);
  st.st_mtim.tv_nsec = static_cast<long>(attr.mtime_unix_ms % 1000) * 1000000;
  st.st_atim = st.st_ctim = st.st_mtim;
  if (attr.is_dir) {
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
    return st;
  }
  st.st_mode = S_IFREG | (attr.read_only ? 0444 : 0644);
  st.st_nlink = 1;
  st.st_size = static_cast<off_t>(attr.size);
  st.st_blocks = static_cast<blkcnt_t>((attr.allocated_bytes + 511) / 512);
  st.st_blksize = io_bytes;  // cp and friends size their buffers by it
  return st;
}

void ReplyAttr(fuse_req_t req, uint64_t inode) {
  absl::StatusOr<ImageAttr> attr = Ctx(req).fs->GetAttr(inode);
  if (!attr.ok()) return ReplyStatus(req, attr.status());
  struct stat st = StatOf(*attr, Ctx(req).max_io_bytes);
  fuse_reply_attr(req, &st, Ctx(req).entry_timeout_seconds);
}

void Init(void* userdata, fuse_conn_info* conn) {
  auto& ctx = *static_cast<FuseContext*>(userdata);
  // Large sequential I/O in few requests: up to 1 MiB each way (libfuse
  // asks the kernel for the matching max_pages).
  conn->max_write = ctx.max_io_bytes;
  conn->max_readahead = ctx.max_io_bytes;
  // Let libaio and io_uring keep many direct requests in flight per file.
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // A write-back cache would hide NBD's writes from this mount's readers.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  absl::StatusOr<TreeNode> node = Ctx(req).fs->tree().Lookup(parent, name);
  if (!node.ok()) return ReplyStatus(req, node.status());
  absl::StatusOr<ImageAttr> attr = Ctx(req).fs->GetAttr(node->inode);
  if (!attr.ok()) return ReplyStatus(req, attr.status());
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = node->inode;
  e.generation = 1;  // inode numbers are never reused
  e.attr = StatOf(*attr, Ctx(req).max_io_bytes);
  e.attr_timeout = e.entry_timeout = Ctx(req).entry_timeout_seconds;
  fuse_reply_entry(req, &e);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) { ReplyAttr(req, ino); }

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
    return ReplyErrno(req, EPERM);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    absl::Status s = Ctx(req).fs->Resize(ino, static_cast<uint64_t>(attr->st_size));
    if (!s.ok()) return ReplyStatus(req, s, /*log_reason=*/true);
  }
  // Times are accepted and not kept (touch, cp -p): they mean nothing here.
  ReplyAttr(req, ino);
}

struct DirListing {
  std::vector<std::pair<std::string, struct stat>> entries;
};

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  absl::StatusOr<std::vector<DirEntry>> children = Ctx(req).fs->tree().ReadDir(ino);
  if (!children.ok()) return ReplyStatus(req, children.status());
  auto listing = std::make_unique<DirListing>();
  auto add = [&](const std::string& name, uint64_t inode, bool is_dir) {
    struct stat st;
    std::memset(&st, 0, sizeof st);
    st.st_ino = inode;
    st.st_mode = is_dir ? S_IFDIR : S_IFREG;
    listing->entries.push_back({name, st});
  };
  add(".", ino, true);
  add("..", kRootInode, true);
  for (const DirEntry& e : *children) add(e.name, e.node.inode, e.node.is_dir());
  fi->fh = reinterpret_cast<uint64_t>(listing.release());
  fuse_reply_open(req, fi);
}

void ReadDir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  const auto& entries = reinterpret_cast<DirListing*>(fi->fh)->entries;
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used,
                                    entries[i].first.c_str(), &entries[i].second,
                                    static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<DirListing*>(fi->fh);
  fuse_reply_err(req, 0);
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
  absl::StatusOr<OpenImage*> image =
      Ctx(req).fs->Open(ino, writable, (fi->flags & O_TRUNC) != 0);
  if (!image.ok()) return ReplyStatus(req, image.status(), /*log_reason=*/true);
  fi->fh = reinterpret_cast<uint64_t>(*image);
  const bool read_only = (*image)->node.image.read_only;
  // A volume may be written over NBD at the same time: no page cache, so
  // every read sees the device's bytes. Snapshots and layers never change
  // (a re-created one gets a new inode), so their pages may stay cached.
  fi->direct_io = !read_only;
  fi->keep_cache = read_only;
  fi->noflush = 1;  // close(2) means nothing to a device; fsync does
  if (fuse_reply_open(req, fi) != 0) Ctx(req).fs->Release(*image);
}

void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Ctx(req).fs->Release(Handle(fi));
  fuse_reply_err(req, 0);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  // One buffer per worker thread: a fresh megabyte per request would be
  // mapped and faulted in every time.
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  absl::StatusOr<size_t> n =
      Ctx(req).fs->Read(Handle(fi), static_cast<uint64_t>(off), absl::MakeSpan(buf.data(), size));
  if (!n.ok()) return ReplyStatus(req, n.status());
  fuse_reply_buf(req, buf.data(), *n);
}

void Write(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off,
           fuse_file_info* fi) {
  // The kernel passes O_DSYNC for an O_DSYNC/O_SYNC file or a RWF_DSYNC
  // write: durable when acknowledged, which is a FUA write.
  const bool fua = (fi->flags & O_DSYNC) != 0;
  absl::StatusOr<size_t> n = Ctx(req).fs->Write(Handle(fi), static_cast<uint64_t>(off),
                                                absl::MakeConstSpan(data, size), fua);
  if (!n.ok()) return ReplyStatus(req, n.status());
  fuse_reply_write(req, *n);
}

void Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  ReplyStatus(req, Ctx(req).fs->Flush(Handle(fi)));
}

void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
               fuse_file_info* fi) {
  ImageFs& fs = *Ctx(req).fs;
  const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  const auto off = static_cast<uint64_t>(offset), len = static_cast<uint64_t>(length);
  switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case FALLOC_FL_PUNCH_HOLE:
      return ReplyStatus(req, fs.PunchHole(Handle(fi), off, len), true);
    case FALLOC_FL_ZERO_RANGE:
      return ReplyStatus(req, fs.ZeroRange(Handle(fi), off, len, keep_size), true);
    case 0:
      return ReplyStatus(req, fs.Reserve(Handle(fi), off, len, keep_size), true);
    default:  // collapse, insert, unshare: a disk image has no use for them
      return ReplyErrno(req, EOPNOTSUPP);
  }
}

void Lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  ImageFs& fs = *Ctx(req).fs;
  absl::StatusOr<std::optional<uint64_t>> found;
  if (whence == SEEK_DATA) {
    found = fs.SeekData(Handle(fi), static_cast<uint64_t>(off));
  } else if (whence == SEEK_HOLE) {
    found = fs.SeekHole(Handle(fi), static_cast<uint64_t>(off));
  } else {
    return ReplyErrno(req, EINVAL);  // the kernel handles the others itself
  }
  if (!found.ok()) return ReplyStatus(req, found.status());
  if (!found->has_value()) return ReplyErrno(req, ENXIO);
  fuse_reply_lseek(req, static_cast<off_t>(**found));
}

// Objects are created, renamed and deleted with the layerdisk command, not
// through the file system.
void RefuseNamespaceChange(fuse_req_t req) {
  if (Ctx(req).log)
    Ctx(req).log("fuse: refused: create, delete and rename volumes, snapshots and layers "
                 "with the layerdisk command");
  fuse_reply_err(req, EPERM);
}

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.releasedir = ReleaseDir;
  ops.open = Open;
  ops.release = Release;
  ops.read = Read;
  ops.write = Write;
  ops.fsync = Fsync;
  ops.fallocate = Fallocate;
  ops.lseek = Lseek;
  ops.mknod = [](fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) {
    RefuseNamespaceChange(req);
  };
  ops.mkdir = [](fuse_req_t req, fuse_ino_t, const char*, mode_t) { RefuseNamespaceChange(req); };
  ops.unlink = [](fuse_req_t req, fuse_ino_t, const char*) { RefuseNamespaceChange(req); };
  ops.rmdir = [](fuse_req_t req, fuse_ino_t, const char*) { RefuseNamespaceChange(req); };
  ops.symlink = [](fuse_req_t req, const char*, fuse_ino_t, const char*) {
    RefuseNamespaceChange(req);
  };
  ops.rename = [](fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*,
                  unsigned int) { RefuseNamespaceChange(req); };
  ops.link = [](fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) {
    RefuseNamespaceChange(req);
  };
  ops.create = [](fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
    RefuseNamespaceChange(req);
  };
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& ImageFsOperations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace layerdisk
