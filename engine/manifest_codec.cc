#include "engine/manifest_codec.h"

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

// Version 2 adds the content digest; version 1 manifests still decode.
constexpr char kMagic[] = "layerdisk manifest 2";
constexpr char kMagicV1[] = "layerdisk manifest 1";
// Segments are encoded with the seed of layer id 0: a manifest is not
// tied to any store's ids.
constexpr uint64_t kPortableLayerId = 0;

absl::Status Damaged(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("a published layer manifest is damaged: ", what));
}

}  // namespace

std::string EncodeManifest(const LayerManifest& m) {
  std::string out;
  PutLengthPrefixed(&out, kMagic);
  PutLengthPrefixed(&out, m.name);
  PutVarint64(&out, m.size);
  PutVarint64(&out, m.block_size);
  PutVarint64(&out, m.opaque ? 1 : 0);
  PutLengthPrefixed(&out, m.parent);
  PutLengthPrefixed(&out, m.image_id);
  PutVarint64(&out, m.data_blocks);
  PutLengthPrefixed(&out, m.identity);
  PutLengthPrefixed(&out, m.description);
  PutLengthPrefixed(&out, m.content_sha256);
  PutLengthPrefixed(&out, m.content_digest);
  PutVarint64(&out, m.segments.size());
  for (const ManifestSegment& s : m.segments) {
    PutVarint64(&out, s.index);
    PutLengthPrefixed(&out, EncodeMapSegment(kPortableLayerId, s.index, s.map));
  }
  return out;
}

absl::StatusOr<LayerManifest> DecodeManifest(std::string_view bytes) {
  Decoder d(bytes);
  LayerManifest m;
  std::string magic;
  uint64_t block_size = 0, opaque = 0, segments = 0;
  if (!d.GetLengthPrefixed(&magic) || (magic != kMagic && magic != kMagicV1))
    return Damaged("not a manifest");
  if (!d.GetLengthPrefixed(&m.name) || !d.GetVarint64(&m.size) || !d.GetVarint64(&block_size) ||
      !d.GetVarint64(&opaque) || !d.GetLengthPrefixed(&m.parent) ||
      !d.GetLengthPrefixed(&m.image_id) || !d.GetVarint64(&m.data_blocks) ||
      !d.GetLengthPrefixed(&m.identity) || !d.GetLengthPrefixed(&m.description) ||
      !d.GetLengthPrefixed(&m.content_sha256) ||
      (magic == kMagic && !d.GetLengthPrefixed(&m.content_digest)) ||
      !d.GetVarint64(&segments))
    return Damaged("its header is cut short");
  if (block_size == 0 || block_size > (1u << 20) || opaque > 1) return Damaged("its header");
  // Each segment takes at least two bytes: a count beyond that is a lie.
  if (segments > d.rest().size() / 2) return Damaged("its segment count");
  m.block_size = static_cast<uint32_t>(block_size);
  m.opaque = opaque == 1;
  m.segments.reserve(segments);
  for (uint64_t i = 0; i < segments; ++i) {
    ManifestSegment s;
    std::string record;
    if (!d.GetVarint64(&s.index) || !d.GetLengthPrefixed(&record))
      return Damaged("a segment is cut short");
    absl::StatusOr<MapSegment> map = DecodeMapSegment(kPortableLayerId, s.index, record);
    if (!map.ok()) return Damaged(map.status().message());
    s.map = std::move(*map);
    m.segments.push_back(std::move(s));
  }
  if (!d.done()) return Damaged("bytes after its last segment");
  return m;
}

}  // namespace layerdisk
