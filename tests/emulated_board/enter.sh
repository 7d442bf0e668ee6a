#!/usr/bin/env bash
# enter.sh ROOTFS [--bind HOST GUEST] [--bind-rw HOST GUEST] [--wd DIR] -- COMMAND [ARG...]
#
# Runs COMMAND chrooted in the emulated board's ROOTFS (ARM programs run through binfmt_misc),
# in a private mount namespace of its own: every mount below is gone when COMMAND ends, even if
# it is killed, and nothing is left mounted in the shared, cached ROOTFS. Inside, the rootfs
# itself is read-only (so one run cannot change what the next one sees: no .pyc written, no
# stray file), /proc is the real /proc, /dev the host's /dev, and /tmp a fresh tmpfs.
# --bind binds a host folder read-only at GUEST, --bind-rw read-write; GUEST is created in
# ROOTFS as an empty folder if it is not there. The process keeps its pid from the first exec
# to COMMAND (no fork), so a caller may watch it in /proc. Needs root.
set -euo pipefail

if [[ ${1:-} != --in-namespace ]]; then
    exec unshare --mount --propagation private -- "$0" --in-namespace "$@"
fi
shift

root=${1:?usage: enter.sh ROOTFS [--bind HOST GUEST] [--bind-rw HOST GUEST] [--wd DIR] -- CMD}
shift
binds=()
wd=/
while (($#)); do
    case $1 in
        --bind | --bind-rw)
            binds+=("$1" "$2" "$3")
            shift 3
            ;;
        --wd)
            wd=$2
            shift 2
            ;;
        --)
            shift
            break
            ;;
        *)
            echo "enter.sh: unknown option $1" >&2
            exit 2
            ;;
    esac
done
(($#)) || { echo "enter.sh: no command" >&2; exit 2; }

mount_point() {  # mount_point HOST GUEST: an empty folder (or file) at GUEST for HOST
    if [[ -d $1 ]]; then
        mkdir -p "$root$2"
    else
        mkdir -p "$(dirname "$root$2")"
        [[ -e $root$2 ]] || : >"$root$2"
    fi
}

# Mount points first, while the rootfs is still writable (empty, and kept for next time);
# those under /tmp go into the fresh tmpfs instead.
for ((i = 0; i < ${#binds[@]}; i += 3)); do
    guest=${binds[i + 2]}
    [[ $guest == /* && $guest != *..* ]] || { echo "enter.sh: bad guest path $guest" >&2; exit 2; }
    [[ $guest == /tmp/* ]] || mount_point "${binds[i + 1]}" "$guest"
done

mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
for ((i = 0; i < ${#binds[@]}; i += 3)); do
    [[ ${binds[i + 2]} != /tmp/* ]] || mount_point "${binds[i + 1]}" "${binds[i + 2]}"
    mount --bind "${binds[i + 1]}" "$root${binds[i + 2]}"
    if [[ ${binds[i]} == --bind ]]; then
        mount -o remount,bind,ro "$root${binds[i + 2]}"
    fi
done

exec unshare --root="$root" --wd="$wd" -- "$@"
