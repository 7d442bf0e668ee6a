#!/bin/sh
# Preflight for the NIRS wearable, run on the Luckfox Pico Mini by deploy.sh before it
# copies anything (BusyBox sh; also any POSIX sh). It checks what the board itself
# must provide, because the bundle can only carry pure Python:
#
#   python3 (PYTHON_MIN or newer) with ctypes and zlib; Pillow (C extensions: it comes
#   with the Buildroot image; the device code needs no numpy, docs/architecture.md says
#   why); memory for the app (MemAvailable) and the CMA the NPU allocates from;
#   librknnmrt.so (the NPU runtime) and its version against the one the models were
#   made for (a runtime refuses a model of another version: "Invalid RKNN model
#   version"); free space for the bundle and the recordings; the I2C bus and the GPIO
#   chip the config names; sha256sum and tar; root.
#
# A librknnmrt.so that is there must be a shared library (an ELF file of type ET_DYN):
# an empty, cut-short or text file fails.
#
# Every failure prints one "FAIL" line with the problem and a "fix:" line; a "WARN" line
# (also with its "fix:") is a risk that does not stop the install. The last line is
# "preflight: OK", "preflight: OK (N warning(s) above)" or "preflight: FAILED ..."
# (deploy.sh reads it: adb shell does not always pass on exit codes). Exit status 0 when
# nothing failed, 1 otherwise.
#
# Usage: preflight.sh [--root DIR] [--python CMD] [--app-dir DIR] [--sessions-dir DIR]
#                     [--need-kb N] [--i2c-bus N] [--gpiochip PATH] [--skip LIST]
#                     [--model-runtime VERSION] [--runtime-supplied VERSION]
#   --root DIR   check files under DIR: a board root filesystem laid out on a PC (memory
#                is checked only if DIR/proc/meminfo exists)
#   --skip LIST  comma-separated checks to leave out: python, memory, devices, tools, user,
#                runtime (deploy.sh --target-dir skips them all but memory, which is skipped
#                anyway without DIR/proc/meminfo: they need the running board). Each one
#                left out prints one "skip" line. "runtime" leaves out only the need for a
#                librknnmrt.so (the board's image brings it): one that is there is checked
#   --model-runtime VERSION   the runtime version the models were made for (model.json
#                rknn.runtime_version): the board's runtime must agree in major.minor
#   --runtime-supplied VERSION   deploy.sh --runtime-lib installs a runtime of this
#                version: it is checked instead of the board's

ROOT=
PYTHON=python3
APP_DIR=/opt/nirs-wearable
SESSIONS_DIR=/userdata/nirs-sessions
NEED_KB=8192
I2C_BUS=3
GPIOCHIP=/dev/gpiochip1
SKIP=
MODEL_RUNTIME=
RUNTIME_SUPPLIED=
# Room for recordings: at least this much free where they are written, KiB.
MIN_SESSIONS_KB=10240
# The oldest Python the wearable may run on is the oldest one it is tested on: the
# emulated board's CPython (Debian bookworm armhf, 3.11.2; tests/emulated_board) and the
# development and CI venvs (3.11). The Luckfox SDK's Buildroot (2023.02) builds 3.11.
# Raise this with the oldest tested Python; pyproject.toml's requires-python follows it.
PYTHON_MIN=3.11
PILLOW_MIN=9.4 # the emulated board's Pillow (Debian bookworm armhf), on which the app is tested
# The app's memory need, KiB: the peak of the device process (python3 -m device) over a
# 10-minute live session on the emulated board, measured there as the guest's own
# resident memory and its anonymous part (tests/emulated_board/board.py, GuestMemory):
# `benchmarks/emulated_board.py --seconds 600` on 2026-11-30 measured 17732 KiB in all
# and 9080 KiB anonymous (with the simulator's socket client, which a board does not load).
# The issue's budget is 18 / 9 MB (18432 / 9216 KiB).
# Anonymous memory cannot be paged out (the board has no swap), so MemAvailable below
# APP_ANON_KB fails; file-backed pages (code and libraries) can be dropped and read again
# from flash, so below APP_TOTAL_KB only warns.
APP_TOTAL_KB=17732
APP_ANON_KB=9080
# CMA, KiB: the NPU runtime allocates the model and its tensors there (they are not in
# the app's figures above). The Luckfox image reserves 24 MB (rk_dma_heap_cma=24M); how
# much this model needs has not been measured on a board, so less only warns.
CMA_KNOWN_GOOD_KB=24576
# CMA the NPU needs free, KiB, roughly: the larger model file (fusion.rknn, 3.3 MB; the
# runtime keeps the weights there) and its input and output tensors (a few KiB), rounded
# up to 4 MB. An estimate from the file sizes: not measured on a board.
CMA_NEED_KB=4096
# The app's pid file (deploy/S99nirs-wearable): on a redeploy the old app still runs
# during the preflight, and the anonymous memory it holds comes back when it stops.
APP_PIDFILE=/var/run/nirs-wearable.app.pid

usage() {
    cat >&2 <<'EOF'
usage: preflight.sh [--root DIR] [--python CMD] [--app-dir DIR] [--sessions-dir DIR]
                    [--need-kb N] [--i2c-bus N] [--gpiochip PATH]
                    [--skip python,memory,devices,tools,user,runtime]
                    [--model-runtime VERSION] [--runtime-supplied VERSION]
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
        --model-runtime) MODEL_RUNTIME=$2 ;;
        --runtime-supplied) RUNTIME_SUPPLIED=$2 ;;
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
WARNED=0

ok() {
    echo "  ok    $*"
}

info() {
    echo "  info  $*"
}

fail() { # fail PROBLEM FIX
    echo "  FAIL  $1"
    echo "        fix: $2"
    FAILED=$((FAILED + 1))
}

warn() { # warn PROBLEM FIX
    echo "  WARN  $1"
    echo "        fix: $2"
    WARNED=$((WARNED + 1))
}

skipped() {
    case ",$SKIP," in *",$1,"*) return 0 ;; esac
    return 1
}

# skip WHAT: the one line saying a check was left out, and why.
skip() {
    if [ -n "$ROOT" ]; then
        echo "  skip  $1 (a target folder has no running board)"
    else
        echo "  skip  $1 (left out by --skip)"
    fi
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

# major_minor VERSION: "2.3" of "2.3.2 (429f97ae6b@...)", or nothing.
major_minor() {
    echo "$1" | sed -n 's/^[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\).*$/\1/p'
}

# meminfo FIELD: the value of FIELD (kB) in /proc/meminfo, or nothing.
meminfo() {
    awk -v field="$1:" '$1 == field { print $2; exit }' "$ROOT/proc/meminfo" 2>/dev/null
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

# -- Python and the C-extension package the image must bring (Pillow; no numpy) ------------
if skipped python; then
    skip "python3 $PYTHON_MIN+ with ctypes and zlib, Pillow $PILLOW_MIN+"
elif ! command -v "$PYTHON" >/dev/null 2>&1; then
    fail "$PYTHON not found" \
        "build the board image with Python 3 (Buildroot: BR2_PACKAGE_PYTHON3) and reflash"
else
    py_version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1)
    if ! version_ge "$py_version" "$PYTHON_MIN" 2>/dev/null; then
        fail "$PYTHON is $py_version; the wearable needs Python $PYTHON_MIN or newer (the oldest it is tested on)" \
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
    if pil_version=$("$PYTHON" -c 'import PIL.Image, PIL; print(PIL.__version__)' 2>&1); then
        if ! version_ge "$pil_version" "$PILLOW_MIN"; then
            fail "Pillow $pil_version is older than $PILLOW_MIN" \
                "update the image's Pillow (Buildroot BR2_PACKAGE_PYTHON_PILLOW) and reflash"
        else
            ok "Pillow $pil_version (from the image)"
        fi
    else
        fail "Pillow (PIL) is not importable by $PYTHON: $(echo "$pil_version" | tail -n 1)" \
            "Pillow has C extensions, so the image must bring it: enable BR2_PACKAGE_PYTHON_PILLOW in the Buildroot config and reflash"
    fi
fi

# -- The NPU runtime ---------------------------------------------------------------------------
# Looked for where device/rknn_api.py looks first (SDK_LIBRARY_DIRS), then in /lib.
rknn=
for dir in /oem/usr/lib /usr/lib /lib; do
    if [ -f "$ROOT$dir/librknnmrt.so" ]; then
        rknn=$ROOT$dir/librknnmrt.so
        break
    fi
done
wanted_runtime=${MODEL_RUNTIME:-of the models}
runtime_fix="put the runtime the models were made for on the board: ./deploy.sh --runtime-lib PATH/librknnmrt.so (version $wanted_runtime, armhf-uclibc: rknn-toolkit2's rknpu2/runtime/Linux/librknn_api/armhf-uclibc/)"
# ELF header of a shared library for the board (System V gABI, ARM ELF ABI): 32-bit
# (e_ident[EI_CLASS] = 1), little-endian (EI_DATA = 1), e_type ET_DYN (3) at byte 16,
# e_machine EM_ARM (40) at byte 18. Its 52 bytes (ELF32_Ehdr) come first in the file.
ELF32_HEADER_BYTES=52
# elf_head FILE: its first 20 bytes as text, with BusyBox tools (dd, tr): byte 0x7f as D,
# the bytes 1, 2, 3 as those digits, 40 as "(", the letters E, L, F as themselves and
# every other byte as "?". A 32-bit little-endian ARM shared library gives
# DELF11??????????3?(? (the "?" in between: any byte).
elf_head() {
    dd if="$1" bs=20 count=1 2>/dev/null | LC_ALL=C tr -c '\001\002\003\050\177ELF' '?' |
        LC_ALL=C tr '\001\002\003\050\177' '123(D'
}
rknn_version=
rknn_bad= # the board's runtime file is not a library: what it is
if [ -n "$rknn" ]; then
    rknn_bytes=$(wc -c <"$rknn" 2>/dev/null | tr -d ' ')
    rknn_head=$(elf_head "$rknn")
    case $rknn_head in
        DELF*) ;;
        *) rknn_head= ;;
    esac
    if [ "${rknn_bytes:-0}" -eq 0 ]; then
        rknn_bad="is empty (0 bytes)"
    elif [ -z "$rknn_head" ]; then
        rknn_bad="is not a shared library (no ELF header: a text file or another format)"
    elif [ "$rknn_bytes" -lt "$ELF32_HEADER_BYTES" ]; then
        rknn_bad="is cut short: $rknn_bytes bytes, less than an ELF header ($ELF32_HEADER_BYTES)"
    else
        case $rknn_head in
            ????????????????"3?"*) ;;
            *) rknn_bad="is an ELF file but not a shared library (its e_type is not ET_DYN)" ;;
        esac
    fi
fi
library_fix="replace it with the Luckfox image's own librknnmrt.so (reflash), or $runtime_fix"
if [ -n "$rknn_bad" ] && [ -n "$RUNTIME_SUPPLIED" ]; then
    warn "$rknn $rknn_bad: not a usable NPU runtime; deploy.sh replaces it with the supplied one and keeps this file as librknnmrt.so.orig" \
        "$library_fix"
    rknn=
elif [ -n "$rknn_bad" ]; then
    fail "$rknn $rknn_bad; librknnmrt.so must be the NPU runtime, a 32-bit ARM shared library" \
        "$library_fix"
    rknn=
elif [ -n "$rknn" ]; then
    case $rknn_head in
        DELF11??????????"3?(?") ok "NPU runtime $rknn (a 32-bit ARM shared library)" ;;
        *)
            warn "$rknn is a shared library, but not a 32-bit little-endian ARM one: the board cannot load it" \
                "$library_fix"
            ;;
    esac
    # Its version, as Rockchip's own instructions read it (strings | grep), with BusyBox
    # tools: every byte that is not printable ASCII becomes a line break.
    rknn_line=$(LC_ALL=C tr -c ' -~' '\n' <"$rknn" 2>/dev/null |
        sed -n 's/^.*\(librknnmrt version: .*\)$/\1/p' | head -n 1)
    if [ -n "$rknn_line" ]; then
        info "$rknn_line"
        rknn_version=${rknn_line#librknnmrt version: }
    else
        info "no \"librknnmrt version\" string in $rknn (the model must match the runtime it runs on)"
    fi
elif [ -n "$RUNTIME_SUPPLIED" ]; then
    :
elif skipped runtime; then
    skip "NPU runtime librknnmrt.so: none in $ROOT/oem/usr/lib, $ROOT/usr/lib or $ROOT/lib; the board's image brings it"
else
    fail "librknnmrt.so (the RKNN runtime of the RV1103's NPU) is in neither $ROOT/oem/usr/lib nor $ROOT/usr/lib" \
        "the Luckfox Pico image installs it in /oem/usr/lib: reflash a Luckfox Buildroot image, or $runtime_fix"
fi
# The version that will run: the supplied one (deploy.sh installs it) or the board's.
check_version=$rknn_version
check_what="the board's librknnmrt.so ($rknn)"
if [ -n "$RUNTIME_SUPPLIED" ]; then
    info "deploy.sh installs the supplied librknnmrt.so (version $RUNTIME_SUPPLIED) in /oem/usr/lib${rknn:+, keeping $rknn as librknnmrt.so.orig}"
    check_version=$RUNTIME_SUPPLIED
    check_what="the supplied librknnmrt.so"
fi
if [ -n "$MODEL_RUNTIME" ] && { [ -n "$rknn" ] || [ -n "$RUNTIME_SUPPLIED" ]; }; then
    want=$(major_minor "$MODEL_RUNTIME")
    have=$(major_minor "$check_version")
    if [ -z "$have" ]; then
        warn "cannot tell the version of $check_what; the models were made for runtime $MODEL_RUNTIME (the app refuses another at start-up)" \
            "$runtime_fix"
    elif [ "$have" != "$want" ]; then
        fail "$check_what is version $check_version; the models were made for runtime $MODEL_RUNTIME, and a runtime refuses a model of another version (\"Invalid RKNN model version\")" \
            "$runtime_fix"
    else
        ok "NPU runtime $check_version fits the models (made for $MODEL_RUNTIME)"
    fi
fi

# -- Memory: MemAvailable for the app, CMA for the NPU ----------------------------------------
if skipped memory; then
    skip "memory (MemAvailable, CmaTotal)"
elif [ ! -r "$ROOT/proc/meminfo" ]; then
    if [ -n "$ROOT" ]; then
        skip "memory: no $ROOT/proc/meminfo"
    else
        warn "cannot read /proc/meminfo: the app's memory (about $APP_TOTAL_KB KiB, $APP_ANON_KB anonymous) is unchecked" \
            "mount /proc (the Luckfox image does at boot) and run deploy.sh again"
    fi
else
    avail_kb=$(meminfo MemAvailable)
    # On a redeploy the installed app is still running: what it holds comes back when it
    # stops. Its pid is alive when its /proc entry exists; only our app's pid is trusted.
    app_kb=0
    app_pid=$(cat "$ROOT$APP_PIDFILE" 2>/dev/null)
    case $app_pid in
        '' | *[!0-9]*) ;;
        *)
            if tr '\000' ' ' <"$ROOT/proc/$app_pid/cmdline" 2>/dev/null | grep -q nirs-wearable; then
                app_kb=$(awk '$1 == "RssAnon:" { print $2; exit }' "$ROOT/proc/$app_pid/status" 2>/dev/null)
            fi
            ;;
    esac
    case $app_kb in '' | *[!0-9]*) app_kb=0 ;; esac
    if [ -z "$avail_kb" ]; then
        warn "no MemAvailable in /proc/meminfo (a kernel older than 3.14?): the app's memory is unchecked" \
            "check by hand that free -k shows at least $APP_TOTAL_KB KiB available"
    else
        have_kb=$((avail_kb + app_kb))
        have_text="MemAvailable $avail_kb KiB"
        if [ "$app_kb" -gt 0 ]; then
            have_text="$have_text + $app_kb KiB the running app gives back when it is replaced"
        fi
        stop_others="stop what else runs on the board (ps; the Luckfox image starts its camera app rkipc: /oem/usr/bin/RkLunch-stop.sh, and take RkLunch.sh out of its boot scripts)"
        if [ "$have_kb" -lt "$APP_ANON_KB" ]; then
            fail "$have_text; the app needs $APP_ANON_KB KiB of anonymous memory alone ($APP_TOTAL_KB KiB in all at its peak)" \
                "$stop_others, then run deploy.sh again"
        elif [ "$have_kb" -lt "$APP_TOTAL_KB" ]; then
            warn "$have_text; the app peaks at $APP_TOTAL_KB KiB ($APP_ANON_KB anonymous): its code pages will be read again from flash under pressure" \
                "$stop_others"
        else
            ok "$have_text; the app peaks at $APP_TOTAL_KB KiB, $APP_ANON_KB anonymous"
        fi
    fi
    cma_kb=$(meminfo CmaTotal)
    cma_fix="keep the Luckfox image's CMA reservation for the NPU: rk_dma_heap_cma=24M on the kernel command line (SDK: RK_BOOTARGS_CMA_SIZE=\"24M\" in the board's BoardConfig .mk), then reflash"
    if [ -z "$cma_kb" ]; then
        warn "no CmaTotal in /proc/meminfo: the kernel reserves no CMA, and the NPU runtime allocates the model and its tensors there" \
            "$cma_fix"
    elif [ "$cma_kb" -eq 0 ]; then
        fail "CmaTotal is 0 KiB: the NPU runtime has nowhere to put the model and its tensors" \
            "$cma_fix"
    elif [ "$cma_kb" -lt "$CMA_KNOWN_GOOD_KB" ]; then
        warn "CmaTotal is $cma_kb KiB, less than the Luckfox image's $CMA_KNOWN_GOOD_KB KiB; the model has not been tried on the NPU with less" \
            "$cma_fix"
    else
        cma_free_kb=$(meminfo CmaFree)
        if [ -n "$cma_free_kb" ] && [ "$cma_free_kb" -lt "$CMA_NEED_KB" ]; then
            warn "CmaFree is $cma_free_kb KiB of $cma_kb; the NPU needs about $CMA_NEED_KB KiB for the model and its tensors" \
                "stop what holds it (the image's camera app: RkLunch-stop.sh) before the wearable starts"
        else
            ok "CMA $cma_kb KiB for the NPU${cma_free_kb:+ ($cma_free_kb KiB free now)}"
        fi
    fi
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
    skip "I2C bus /dev/i2c-$I2C_BUS, GPIO chip $GPIOCHIP"
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
if skipped tools; then
    skip "sha256sum and tar on the board"
else
    for tool in sha256sum tar; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            fail "no $tool on the board (deploy.sh unpacks and checks the bundle with it)" \
                "enable the $tool applet in the image's BusyBox (make busybox-menuconfig) and reflash"
        fi
    done
fi

# -- Permissions -------------------------------------------------------------------------------
if skipped user; then
    skip "running as root"
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
    if [ "$WARNED" -eq 0 ]; then
        echo "preflight: OK"
    else
        echo "preflight: OK ($WARNED warning(s) above)"
    fi
    exit 0
fi
echo "preflight: FAILED: $FAILED problem(s); nothing was copied"
exit 1
