#include "fuse-frontend/image_tree.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

// The fixed directories have fixed inodes; objects get numbers from here.
constexpr uint64_t kFirstDynamicInode = 16;

struct FixedDir {
  uint64_t inode;
  NodeType type;
  const char* name;  // in the root
};
constexpr std::array<FixedDir, 3> kFixedDirs = {{
    {2, NodeType::kVolumesDir, "volumes"},
    {3, NodeType::kSnapshotsDir, "snapshots"},
    {4, NodeType::kLayersDir, "layers"},
}};

const char* KindKey(ImageKind kind) {
  switch (kind) {
    case ImageKind::kVolume: return "v";
    case ImageKind::kSnapshot: return "s";
    case ImageKind::kLayer: return "l";
  }
  return "?";
}

std::string FileName(const ImageEntry& image) { return image.name + kImageSuffix; }

}  // namespace

ImageTree::ImageTree(ImageCatalog* catalog, absl::Duration listing_ttl)
    : catalog_(catalog), listing_ttl_(listing_ttl), next_inode_(kFirstDynamicInode) {
  // The fixed directories date from the mount.
  ImageEntry mounted;
  mounted.created_unix_ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
  absl::MutexLock lock(&nodes_mu_);
  nodes_[kRootInode] = TreeNode{kRootInode, NodeType::kRoot, mounted};
  for (const FixedDir& d : kFixedDirs) nodes_[d.inode] = TreeNode{d.inode, d.type, mounted};
}

absl::StatusOr<std::vector<ImageEntry>> ImageTree::Listing(bool fresh) {
  absl::MutexLock lock(&listing_mu_);
  absl::Time now = absl::Now();
  if (fresh || now - listed_at_ >= listing_ttl_) {
    ASSIGN_OR_RETURN(listing_, catalog_->ListImages());
    listed_at_ = now;
  }
  return listing_;
}

TreeNode ImageTree::NodeFor(const std::string& key, NodeType type, const ImageEntry& image) {
  absl::MutexLock lock(&nodes_mu_);
  auto [it, inserted] = inode_by_key_.try_emplace(key, next_inode_);
  if (inserted) {
    ++next_inode_;
    nodes_[it->second] = TreeNode{it->second, type, image};
  }
  return nodes_[it->second];
}

absl::StatusOr<std::vector<DirEntry>> ImageTree::Children(const TreeNode& dir, bool fresh) {
  std::vector<DirEntry> out;
  if (dir.type == NodeType::kRoot) {
    for (const FixedDir& d : kFixedDirs) {
      ASSIGN_OR_RETURN(TreeNode node, Get(d.inode));
      out.push_back({d.name, std::move(node)});
    }
    return out;
  }
  if (dir.type == NodeType::kImage) return absl::InvalidArgumentError("not a directory");
  ASSIGN_OR_RETURN(std::vector<ImageEntry> images, Listing(fresh));
  for (const ImageEntry& image : images) {
    const std::string incarnation = absl::StrCat("#", image.created_unix_ms);
    if (dir.type == NodeType::kSnapshotsDir && image.kind == ImageKind::kVolume) {
      out.push_back({image.name, NodeFor(absl::StrCat("d/", image.name, incarnation),
                                         NodeType::kSnapshotDir, image)});
      continue;
    }
    const bool shown =
        (dir.type == NodeType::kVolumesDir && image.kind == ImageKind::kVolume) ||
        (dir.type == NodeType::kLayersDir && image.kind == ImageKind::kLayer) ||
        (dir.type == NodeType::kSnapshotDir && image.kind == ImageKind::kSnapshot &&
         image.volume == dir.image.volume);
    if (!shown) continue;
    out.push_back({FileName(image),
                   NodeFor(absl::StrCat(KindKey(image.kind), "/", image.volume, "/",
                                        image.name, incarnation),
                           NodeType::kImage, image)});
  }
  return out;
}

absl::StatusOr<TreeNode> ImageTree::Lookup(uint64_t parent, const std::string& name) {
  ASSIGN_OR_RETURN(TreeNode dir, Get(parent));
  for (bool fresh : {false, true}) {
    ASSIGN_OR_RETURN(std::vector<DirEntry> children, Children(dir, fresh));
    for (DirEntry& e : children)
      if (e.name == name) return std::move(e.node);
  }
  return absl::NotFoundError(absl::StrCat(PathOf(dir), "/", name, " does not exist"));
}

absl::StatusOr<std::vector<DirEntry>> ImageTree::ReadDir(uint64_t dir) {
  ASSIGN_OR_RETURN(TreeNode node, Get(dir));
  return Children(node, /*fresh=*/true);
}

absl::StatusOr<TreeNode> ImageTree::Get(uint64_t inode) {
  absl::MutexLock lock(&nodes_mu_);
  auto it = nodes_.find(inode);
  if (it == nodes_.end()) return absl::NotFoundError(absl::StrCat("no inode ", inode));
  return it->second;
}

std::string ImageTree::PathOf(const TreeNode& node) {
  switch (node.type) {
    case NodeType::kRoot: return "";
    case NodeType::kSnapshotDir: return "snapshots/" + node.image.volume;
    case NodeType::kImage:
      switch (node.image.kind) {
        case ImageKind::kVolume: return "volumes/" + FileName(node.image);
        case ImageKind::kSnapshot:
          return "snapshots/" + node.image.volume + "/" + FileName(node.image);
        case ImageKind::kLayer: return "layers/" + FileName(node.image);
      }
      break;
    default:
      for (const FixedDir& d : kFixedDirs)
        if (d.type == node.type) return d.name;
  }
  return "?";
}

}  // namespace layerdisk
