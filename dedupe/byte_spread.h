// A cheap test for data that compression cannot shrink (encrypted or
// already-compressed files, which gold images hold plenty of), run before
// zstd: zstd needs ~4 us to give up on a 4 KiB block of such data, this
// ~1 us to recognise it.
#ifndef LAYERDISK_DEDUPE_BYTE_SPREAD_H_
#define LAYERDISK_DEDUPE_BYTE_SPREAD_H_

#include <string_view>

namespace layerdisk {

// True when 1024 bytes sampled evenly from `data` spread over the 256 byte
// values about as evenly as random bytes do. Such data has no skew for an
// entropy coder to use, so it could shrink only through repeated strings,
// which real blocks with even bytes rarely have: over 800,000 4 KiB blocks
// of /usr, the blocks flagged lost 0.1% of zstd's savings, and 87% of the
// blocks zstd could not shrink by an eighth were flagged. False for data
// shorter than 4 KiB (too few samples to tell).
bool LooksIncompressible(std::string_view data);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_BYTE_SPREAD_H_
