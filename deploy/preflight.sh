#!/bin/sh
# Preflight for the NIRS wearable, run on the Luckfox Pico Mini by deploy.sh before it
# copies anything (BusyBox sh; also any POSIX sh). It checks what the board itself
# must provide, because the bundle can only carry pure Python:
#
#   python3 (3.9+) with ctypes and zlib; numpy and Pillow (C extensions: they come with
#   the Buildroot image); librknnmrt.so (the NPU runtime); free space for the bundle
#   and the recordings; the I2C bus and the GPIO chip the config names; sha256sum and
#   tar; root.
#
# Every failure prints one "FAIL" line with the problem and a "fix:" line. The last
# line is "preflight: OK" or "preflight: FAILED ..." (deploy.sh reads it: adb shell
# does not always pass on exit codes). Exit status 0 when all pass, 1 otherwise.
#
# Usage: preflight.sh [--root DIR] [--python CMD] [--app-dir DIR] [--sessions-dir DIR]
#                     [--need-kb N] [--i2c-bus N] [--gpiochip PATH] [--skip LIST]
#   --root DIR   check files under DIR: a board root filesystem laid out on a PC
#   --skip LIST  comma-separated checks to leave out: python, devices, tools, user
#                (deploy.sh --target-dir skips them all: they need the running board)

ROOT=
PYTHON=python3
APP_DIR=/opt/nirs-wearable
SESSIONS_DIR=/userdata/nirs-sessions
NEED_KB=8192
I2C_BUS=3
GPIOCHIP=/dev/gpiochip1
SKIP=
# Room for recordings: at least this much free where they are written, KiB.
MIN_SESSIONS_KB=10240
# Versions the device code needs (pyproject.toml).
PYTHON_MIN=3.9
NUMPY_MIN=1.21
PILLOW_MIN=9.5
PILLOW_BELOW=14 # luma.oled 3.16 uses Image.getdata(), which Pillow 14 removes

usage() {
    cat >&2 <<'EOF'
usage: preflight.sh [--root DIR] [--python CMD] [--app-dir DIR] [--sessions-dir DIR]
                    [--need-kb N] [--i2c-bus N] [--gpiochip PATH] [--skip python,devices,tools,user]
EOF
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=${2%/} ;;
        --python) PYTHON=$2 ;;
        --app-dir) APP_DIR=$2 ;;
        --sessions-dir) SESSIONS_DIR=$2 ;;
        --need-kb) NEED_KB=$2 ;;
        --i2c-bus) I2C_BUS=$2 ;;
        --gpiochip) GPIOCHIP=$2 ;;
        --skip) SKIP=$2 ;;
        -h | --help) usage ;;
        *)
            echo "preflight: unknown option $1" >&2
            usage
            ;;
    esac
    [ $# -ge 2 ] || usage
    shift 2
done

FAILED=0

ok() {
    echo "  ok    $*"
}

fail() { # fail PROBLEM FIX
    echo "  FAIL  $1"
    echo "        fix: $2"
    FAILED=$((FAILED + 1))
}

skipped() {
    case ",$SKIP," in *",$1,"*) return 0 ;; esac
    return 1
}

# version_ge A B: true if version A >= B (numeric fields compared in turn).
version_ge() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        na = split(a, x, "."); nb = split(b, y, ".")
        n = na > nb ? na : nb
        for (i = 1; i <= n; i++) {
            if (x[i] + 0 > y[i] + 0) exit 0
            if (x[i] + 0 < y[i] + 0) exit 1
        }
        exit 0
    }'
}

# free_kb DIR: free KiB on the file system that holds DIR (or its nearest parent).
free_kb() {
    free_dir=$1
    while [ ! -d "$free_dir" ] && [ "$free_dir" != / ] && [ -n "$free_dir" ]; do
        free_dir=$(dirname "$free_dir")
    done
    df -Pk "${free_dir:-/}" 2>/dev/null | awk 'NR == 2 { print $4 }'
}

echo "preflight on $(uname -n 2>/dev/null || echo board)${ROOT:+ (root $ROOT)}:"

# -- Python and the C-extension packages the image must bring ------------------------------
if skipped python; then
    echo "  skip  python3, numpy, Pillow (not a running board)"
elif ! command -v "$PYTHON" >/dev/null 2>&1; then
    fail "$PYTHON not found" \
        "build the board image with Python 3 (Buildroot: BR2_PACKAGE_PYTHON3) and reflash"
else
    py_version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1)
    if ! version_ge "$py_version" "$PYTHON_MIN" 2>/dev/null; then
        fail "$PYTHON is $py_version; the wearable needs Python $PYTHON_MIN or newer" \
            "build the board image with a newer Buildroot (its python3 package) and reflash"
    else
        ok "$PYTHON $py_version"
        for module in ctypes zlib; do
            if ! err=$("$PYTHON" -c "import $module" 2>&1); then
                fail "$PYTHON cannot import $module: $(echo "$err" | tail -n 1)" \
                    "rebuild the image's python3 with its $module module (Buildroot python3 options)"
            fi
        done
    fi
    if np_version=$("$PYTHON" -c 'import numpy; print(numpy.__version__)' 2>&1); then
        if version_ge "$np_version" "$NUMPY_MIN"; then
            ok "numpy $np_version (from the image)"
        else
            fail "numpy $np_version is older than $NUMPY_MIN" \
                "update the image's numpy (Buildroot BR2_PACKAGE_PYTHON_NUMPY) and reflash"
        fi
    else
        fail "numpy is not importable by $PYTHON: $(echo "$np_version" | tail -n 1)" \
            "numpy has C extensions, so the image must bring it: enable BR2_PACKAGE_PYTHON_NUMPY in the Buildroot config and reflash"
    fi
    if pil_version=$("$PYTHON" -c 'import PIL.Image, PIL; print(PIL.__version__)' 2>&1); then
        if ! version_ge "$pil_version" "$PILLOW_MIN"; then
            fail "Pillow $pil_version is older than $PILLOW_MIN" \
                "update the image's Pillow (Buildroot BR2_PACKAGE_PYTHON_PILLOW) and reflash"
        elif version_ge "$pil_version" "$PILLOW_BELOW"; then
            fail "Pillow $pil_version is too new for luma.oled 3.16 (needs < $PILLOW_BELOW)" \
                "build the image with a Pillow older than $PILLOW_BELOW"
        else
            ok "Pillow $pil_version (from the image)"
        fi
    else
        fail "Pillow (PIL) is not importable by $PYTHON: $(echo "$pil_version" | tail -n 1)" \
            "Pillow has C extensions, so the image must bring it: enable BR2_PACKAGE_PYTHON_PILLOW in the Buildroot config and reflash"
    fi
fi

# -- The NPU runtime -------------------------------------------------------------------------
rknn=
for dir in /oem/usr/lib /usr/lib /lib; do
    if [ -f "$ROOT$dir/librknnmrt.so" ]; then
        rknn=$ROOT$dir/librknnmrt.so
        break
    fi
done
if [ -n "$rknn" ]; then
    ok "NPU runtime $rknn"
else
    fail "librknnmrt.so (the RKNN runtime of the RV1103's NPU) is in neither $ROOT/oem/usr/lib nor $ROOT/usr/lib" \
        "the Luckfox Pico image installs it in /oem/usr/lib: reflash a Luckfox Buildroot image, or copy librknnmrt.so (RV1106/RV1103, armhf-uclibc) from the Luckfox Pico SDK to /oem/usr/lib"
fi

# -- Free space --------------------------------------------------------------------------------
have_kb=$(free_kb "$ROOT$APP_DIR")
if [ -z "$have_kb" ]; then
    fail "cannot tell the free space where $APP_DIR goes (df failed)" \
        "check that df works and $(dirname "$APP_DIR") is mounted"
elif [ "$have_kb" -lt "$NEED_KB" ]; then
    fail "only $have_kb KiB free for $APP_DIR; the bundle needs $NEED_KB KiB" \
        "free space on that file system (df -h), e.g. remove old files from /opt or /oem"
else
    ok "$have_kb KiB free for $APP_DIR (needs $NEED_KB)"
fi
have_kb=$(free_kb "$ROOT$SESSIONS_DIR")
if [ -n "$have_kb" ] && [ "$have_kb" -lt "$MIN_SESSIONS_KB" ]; then
    fail "only $have_kb KiB free for recordings in $SESSIONS_DIR (wants $MIN_SESSIONS_KB)" \
        "copy old sessions off the board and delete them, or set [recording] enabled = false"
elif [ -n "$have_kb" ]; then
    ok "$have_kb KiB free for recordings in $SESSIONS_DIR"
fi

# -- Hardware the config names -----------------------------------------------------------------
if skipped devices; then
    echo "  skip  /dev/i2c-$I2C_BUS, $GPIOCHIP (not a running board)"
else
    i2c=$ROOT/dev/i2c-$I2C_BUS
    if [ -c "$i2c" ]; then
        ok "I2C bus $i2c"
    elif [ -e "$i2c" ]; then
        fail "$i2c exists but is not a character device" "reboot the board (devtmpfs makes /dev)"
    else
        have=
        for dev in "$ROOT"/dev/i2c-*; do [ -e "$dev" ] && have="$have ${dev#"$ROOT"}"; done
        fail "no I2C bus $i2c (present:${have:- none})" \
            "enable I2C$I2C_BUS on the header pins (luckfox-config on recent Luckfox images, or the device tree) and reboot, or set [i2c] bus in the config to a bus that is wired"
    fi
    if [ -c "$ROOT$GPIOCHIP" ]; then
        ok "GPIO chip $ROOT$GPIOCHIP"
    else
        have=
        for dev in "$ROOT"/dev/gpiochip*; do [ -e "$dev" ] && have="$have ${dev#"$ROOT"}"; done
        fail "no GPIO character device $ROOT$GPIOCHIP (present:${have:- none})" \
            "python-periphery needs the kernel's GPIO character device (CONFIG_GPIO_CDEV); or set [gpio] chip in the config to one that exists"
    fi
fi

# -- Tools the install uses on the board (BusyBox applets) ------------------------------------
if ! skipped tools; then
    for tool in sha256sum tar; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            fail "no $tool on the board (deploy.sh unpacks and checks the bundle with it)" \
                "enable the $tool applet in the image's BusyBox (make busybox-menuconfig) and reflash"
        fi
    done
fi

# -- Permissions -------------------------------------------------------------------------------
if skipped user; then
    :
elif [ "$(id -u 2>/dev/null)" = 0 ]; then
    ok "running as root"
else
    fail "not running as root; installing needs to write $APP_DIR and /etc/init.d" \
        "connect as root (deploy.sh --user root, the Luckfox image's default)"
fi

if [ -f "$ROOT$APP_DIR/VERSION" ]; then
    echo "  note  installed now: $(head -n 2 "$ROOT$APP_DIR/VERSION" | tr '\n' ' ')"
fi

if [ "$FAILED" -eq 0 ]; then
    echo "preflight: OK"
    exit 0
fi
echo "preflight: FAILED: $FAILED problem(s); nothing was copied"
exit 1
