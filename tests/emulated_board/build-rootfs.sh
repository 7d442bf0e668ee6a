#!/usr/bin/env bash
# build-rootfs.sh CACHE_DIR [MIRROR]
#
# Builds, or reuses, the emulated board's root filesystem: Debian bookworm armhf, debootstrap's
# minbase plus the packages of rootfs-packages.txt (python3, python3-pil; no numpy). Prints its
# path, CACHE_DIR/armhf-rootfs-HASH, as the last line of standard output. HASH covers the
# package list and this script, so a change to either builds a new one.
#
# The build goes into a temporary folder beside the result and is renamed into place only once
# it is complete and checked: an interrupted build is never reused (the next run removes it).
# Two runs at once wait for each other (flock). Needs root, debootstrap, and binfmt_misc with
# qemu-arm enabled (tests/emulated_board/board.py: ensure_binfmt) to run the armhf
# second stage. MIRROR defaults to http://deb.debian.org/debian. About 2 minutes the first time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: build-rootfs.sh CACHE_DIR [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
suite=bookworm

mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/rootfs-packages.txt")
hash=$(cat "$here/rootfs-packages.txt" "$here/build-rootfs.sh" | sha256sum | cut -c1-16)
name=armhf-rootfs-$hash
final=$cache/$name

mkdir -p "$cache"
exec 9>"$cache/.armhf-rootfs.lock"
flock 9

if [[ -f "$final/.emulated-board-stamp" ]]; then
    echo "$final"
    exit 0
fi

# Leftovers of interrupted builds: debootstrap may have left /proc or /sys mounted in them.
remove_tree() {  # remove_tree DIR: unmount whatever is mounted below DIR, then delete it
    local dir=$1 mnt
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
    rm -rf --one-file-system "$dir"
}
for old in "$cache"/.armhf-rootfs-*.tmp-*; do
    [[ -e "$old" ]] && remove_tree "$old"
done

tmp=$(mktemp -d "$cache/.$name.tmp-XXXXXX")
trap 'remove_tree "$tmp"' EXIT
chmod 755 "$tmp"

start=$(date +%s)
include=$(IFS=,; echo "${packages[*]}")
echo "build-rootfs: debootstrap $suite armhf (minbase + $include) from $mirror into $tmp ..." >&2
debootstrap --arch=armhf --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" >&2

# The board has no numpy: fail loudly if a dependency ever pulls it in.
# shellcheck disable=SC2016  # ${Status} is dpkg-query's, not the shell's
if chroot "$tmp" dpkg-query -W -f='${Status}\n' python3-numpy 2>/dev/null | grep -q installed; then
    echo "build-rootfs: python3-numpy got installed; the board has no numpy" >&2
    exit 1
fi
chroot "$tmp" /usr/bin/python3 -c 'import PIL.Image, sys; assert sys.maxsize == 2**31 - 1' >&2
chroot "$tmp" apt-get clean >&2
rm -rf "$tmp"/var/lib/apt/lists/*
# Mount points of every run (enter.sh, board.py: GUEST_HOST_TOOLS, GUEST_HELPERS, GUEST_OUT).
mkdir -p "$tmp/proc" "$tmp/dev" "$tmp/tmp" "$tmp"/opt/emulated-board/{host,guest,out}

end=$(date +%s)
{
    echo "suite=$suite arch=armhf variant=minbase"
    echo "packages=$include"
    echo "mirror=$mirror"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) seconds=$((end - start))"
    echo "python=$(chroot "$tmp" /usr/bin/python3 -c 'import sys; print(sys.version.split()[0])')"
    echo "size_kb=$(du -sk --one-file-system "$tmp" | cut -f1)"
} >"$tmp/.emulated-board-stamp"

mv -T "$tmp" "$final"
trap - EXIT
echo "build-rootfs: built $final in $((end - start)) s" >&2
echo "$final"
