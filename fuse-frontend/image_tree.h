// ImageTree: the FUSE file system's names and inode numbers, computed from
// the catalog's live listing:
//
//   /volumes/VOLUME.raw               read-write
//   /snapshots/VOLUME/SNAPSHOT.raw    read-only (a directory per volume)
//   /layers/LAYER.raw                 read-only
//
// An inode number stands for one incarnation of one object and is never
// reused, so a volume deleted and re-created under the same name gets a new
// inode and the kernel cannot mix up their attributes or cached pages.
// Nodes are kept after their object goes away: a file that is still open
// keeps answering getattr.
//
// Thread-safe.
#ifndef LAYERDISK_FUSE_FRONTEND_IMAGE_TREE_H_
#define LAYERDISK_FUSE_FRONTEND_IMAGE_TREE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fuse-frontend/image_catalog.h"

namespace layerdisk {

inline constexpr uint64_t kRootInode = 1;  // FUSE_ROOT_ID
inline constexpr char kImageSuffix[] = ".raw";

enum class NodeType {
  kRoot,
  kVolumesDir,
  kSnapshotsDir,
  kLayersDir,
  kSnapshotDir,  // snapshots/VOLUME
  kImage,
};

struct TreeNode {
  uint64_t inode = 0;
  NodeType type = NodeType::kRoot;
  // kImage: the image. kSnapshotDir: the volume it belongs to.
  ImageEntry image;
  bool is_dir() const { return type != NodeType::kImage; }
};

struct DirEntry {
  std::string name;
  TreeNode node;
};

class ImageTree {
 public:
  // Lookups that find their name in a listing younger than `listing_ttl`
  // reuse it: `ls -l` of a directory looks every entry up, and one catalog
  // scan serves them all. A miss and a directory listing always scan anew,
  // so a new object shows at once.
  ImageTree(ImageCatalog* catalog, absl::Duration listing_ttl);

  // `name` in directory `parent`, against a fresh listing. NotFound if it
  // does not exist (now).
  absl::StatusOr<TreeNode> Lookup(uint64_t parent, const std::string& name);
  // Every entry of directory `dir` but "." and "..".
  absl::StatusOr<std::vector<DirEntry>> ReadDir(uint64_t dir);
  // A node handed out before. NotFound for an inode never seen.
  absl::StatusOr<TreeNode> Get(uint64_t inode);
  // The path of `node` relative to the mount point, for messages.
  static std::string PathOf(const TreeNode& node);

 private:
  absl::StatusOr<std::vector<ImageEntry>> Listing(bool fresh);
  // The node for `key`, made (with the next inode number) on first sight.
  TreeNode NodeFor(const std::string& key, NodeType type, const ImageEntry& image);
  absl::StatusOr<std::vector<DirEntry>> Children(const TreeNode& dir, bool fresh);

  ImageCatalog* const catalog_;
  const absl::Duration listing_ttl_;

  absl::Mutex listing_mu_;
  std::vector<ImageEntry> listing_ ABSL_GUARDED_BY(listing_mu_);
  absl::Time listed_at_ ABSL_GUARDED_BY(listing_mu_) = absl::InfinitePast();

  absl::Mutex nodes_mu_;
  absl::flat_hash_map<std::string, uint64_t> inode_by_key_ ABSL_GUARDED_BY(nodes_mu_);
  absl::flat_hash_map<uint64_t, TreeNode> nodes_ ABSL_GUARDED_BY(nodes_mu_);
  uint64_t next_inode_ ABSL_GUARDED_BY(nodes_mu_);
};

}  // namespace layerdisk

#endif  // LAYERDISK_FUSE_FRONTEND_IMAGE_TREE_H_
