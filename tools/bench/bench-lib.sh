# shellcheck shell=bash
# Helpers shared by the tools/bench/run-* scripts. Source it, then:
#   log MESSAGE...          a timestamped progress line on stderr
#   median FILE             the median of the numbers in FILE, one a line
#                           ("-" when FILE is missing or empty)
#   ratio A B               A / B with two decimals ("-" if either is "-" or B is 0)
#   private_binary SRC DIR  copies the binary SRC into DIR and prints the
#                           copy's path: others rebuilding build/ mid-run
#                           must not swap the binary (or catch it half-linked)
#   machine_line            "N cores, CPU model, RAM" of this machine
#   load_line               the load averages as uptime prints them
#   recycle_memory MIB      fills and frees MIB of tmpfs: the next writer's
#                           page cache gets recently used pages
#   rotate N WORDS...       WORDS rotated left by N (each round starts with
#                           another server)

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

median() {
  [ -s "$1" ] || { echo "-"; return; }
  sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

private_binary() {
  local src=$1 dst
  dst=$2/$(basename "$1")
  for _ in $(seq 60); do
    cp "$src" "$dst" 2>/dev/null && "$dst" --help >/dev/null 2>&1 && { echo "$dst"; return 0; }
    sleep 5
  done
  echo "could not copy a working $src" >&2
  return 1
}

machine_line() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -h | awk '/^Mem:/ {print $2}') RAM"
}

load_line() { uptime | sed 's/.*load/load/'; }

# On this VM a page the guest has not touched lately costs a host fault on
# first write (the hypervisor takes freed memory back), which makes a write
# run 2-3x slower. Whoever writes first after a quiet spell pays for it:
# recycling memory just before each timed write gives every server the
# same, recently used pages.
recycle_memory() {
  local f
  f=$(mktemp /dev/shm/bench-recycle.XXXXXX)
  # Best effort: a full /dev/shm recycles less, and leaves no file behind.
  head -c "$(($1 << 20))" /dev/zero >"$f" 2>/dev/null || true
  rm -f "$f"
}

rotate() {
  local n=$1
  shift
  n=$((n % $#))
  echo "${@:n+1}" "${@:1:n}"
}
