#!/usr/bin/env bash
# deploy.sh: put the NIRS wearable on a Luckfox Pico Mini and start it at boot.
# Run ./deploy.sh --help for the options; the layout on the board is in usage() below.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# -- Layout on the board (fixed: the init script and deploy/wearable.toml agree with it) ----
APP_DIR=/opt/nirs-wearable
INIT_SCRIPT=/etc/init.d/S99nirs-wearable
LOG_FILE=/var/log/nirs-wearable.log
BUNDLE=nirs-wearable.new # the bundle's name while it is copied, beside APP_DIR
DEFAULT_HOST=172.32.0.93 # the Luckfox Pico's address on its USB network (RNDIS)
PREFLIGHT_REMOTE=/tmp/nirs-preflight.sh
# Where the board's NPU runtime lives: the Luckfox image installs librknnmrt.so here, and
# device/rknn_api.py (SDK_LIBRARY_DIRS) and deploy/preflight.sh look here first.
RUNTIME_DIR=/oem/usr/lib
# The oldest Python the device code supports (pyproject.toml, deploy/preflight.sh's
# PYTHON_MIN): wheels are chosen for it.
BOARD_PYTHON_VERSION=3.11

usage() {
    cat <<EOF
Usage: ./deploy.sh [OPTIONS]

Put the wearable (device/, the model, the board config and the pure-Python packages
it needs) on a Luckfox Pico Mini and start it at boot.

Where things go on the board:
  $APP_DIR/
    device/            the firmware (package device)
    models/            model.json, fusion.rknn (the NPU model: int8, its LSTM onward
                       int16) and fusion_int8.rknn (all int8: run when the first does
                       not initialise); the source's models/README.md says more
    runtime/           with --runtime-lib: the librknnmrt.so installed from it
    vendor/            pyserial: pure Python, pinned in
                       deploy/vendor-requirements.txt
    wearable.toml      the board config (--config)
    VERSION, MANIFEST  what was deployed; the sha256 of every file (checked on the board)
    init.d/            the init script's source
  $INIT_SCRIPT  starts the app at boot; restarts it when it dies
  $LOG_FILE    the app's output (in RAM)
  the recordings       the config's [recording] dir (/userdata/nirs-sessions): kept by
                       redeploys and by --uninstall
  $RUNTIME_DIR/librknnmrt.so  the NPU runtime: the image's own, or the one --runtime-lib
                       supplies (the one there before is kept as librknnmrt.so.orig)
Pillow (a C extension) and librknnmrt.so come with the board's own image (the app needs
no numpy: docs/architecture.md); the preflight (deploy/preflight.sh, run on the board
before anything is copied) checks them, and that the runtime's version is the one the
models were made for (model.json): a runtime refuses a model of another version.

Before anything is staged or copied, in every mode (--dry-run and --target-dir too),
this computer checks the inputs: the config, loaded by the device's own loader
(device/config.py load) and checked against the layout above; model.json against the
NPU models it ships (each file's sha256); --runtime-lib FILE (a complete 32-bit ARM
shared library naming its version). Each problem is one line with its fix, all of them
are listed, and nothing happens after them (exit status 1).

With --target-dir the checks that need the running board are left out, each said in a
"skip" line: python3 and Pillow, memory (unless DIR/proc/meminfo exists), the I2C bus and
GPIO chip, the board's tools, root, loading the bundle with the board's python3, and
the need for a librknnmrt.so (the board's image brings it; one that is in DIR is still
checked: an empty file or one that is not a shared library is refused).

Options:
  --transport ssh|adb   how to reach the board (default: ssh)
  --host HOST           the board's address for ssh (default: $DEFAULT_HOST)
  --user USER           ssh user (default: root); ssh uses your keys or agent, never a
                        password (once: ssh-copy-id root@$DEFAULT_HOST)
  --serial SERIAL       adb device serial (default: none: the only device adb sees); for
                        adb over the network: HOST:5555 after 'adb connect HOST'
  --target-dir DIR      no board: deploy into DIR, a folder laid out like the board's
                        root file system (DIR$APP_DIR, ...; an empty or new
                        folder will do); installs the init script but starts nothing
                        (default: none: deploy to a board over --transport)
  --config FILE         board config (default: deploy/wearable.toml)
  --models DIR          model bundle to ship (default: models/)
  --cache DIR           where downloaded wheels are kept (default: .venv/deploy-cache)
  --runtime-lib FILE    install FILE, a librknnmrt.so (32-bit ARM, armhf-uclibc; of the
                        version the models were made for), as $RUNTIME_DIR/librknnmrt.so:
                        the fix when the board's runtime does not match the models
                        (default: none: the board's own runtime stays)
  --no-start            install (and stop the old app) but do not start the new one
                        (default: off: start it)
  --uninstall           stop and remove the service and the code; recordings stay
                        (default: off: install)
  --purge-recordings    with --uninstall: delete the recordings folder too (default: off)
  --fetch-only          download and check the vendored wheels, then stop (default: off)
  --dry-run             check the inputs (config, models, --runtime-lib, wheel cache:
                        read only), then print every command that would change anything,
                        here or on the board, each after "+ ", and run none of them
                        (default: off: run them)
  -h, --help            this text

Environment: PYTHON (default: python3): this computer's Python 3.11+ with pip (the
device's own minimum: it loads the config with device/config.py); it downloads the
wheels and checks the inputs.

Examples:
  ./deploy.sh                                  # ssh to root@$DEFAULT_HOST
  ./deploy.sh --transport adb --serial 1234abcd
  ./deploy.sh --dry-run --transport adb
  ./deploy.sh --target-dir /tmp/rootfs         # no board: into a folder
  ./deploy.sh --uninstall [--purge-recordings]
EOF
}

say() { printf 'deploy: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

# -- Options -----------------------------------------------------------------------------------
transport=ssh
host=$DEFAULT_HOST
user=root
serial=
target_dir=
config=
models=
cache=
runtime_lib=
dry_run=
uninstall=
purge=
no_start=
fetch_only=
given=() # options that pick a board connection

while [[ $# -gt 0 ]]; do
    opt=$1
    value=
    case $opt in
        --*=*)
            value=${opt#*=}
            opt=${opt%%=*}
            ;;
    esac
    case $opt in
        --transport | --host | --user | --serial | --target-dir | --config | --models | --cache | \
            --runtime-lib)
            if [[ $1 != *=* ]]; then
                [[ $# -ge 2 ]] || die "$opt needs a value (see --help)"
                value=$2
                shift
            fi
            [[ -n $value ]] || die "$opt needs a value (see --help)"
            ;;
    esac
    case $opt in
        --transport)
            transport=$value
            given+=("$opt")
            ;;
        --host)
            host=$value
            given+=("$opt")
            ;;
        --user)
            user=$value
            given+=("$opt")
            ;;
        --serial)
            serial=$value
            given+=("$opt")
            ;;
        --target-dir) target_dir=$value ;;
        --config) config=$value ;;
        --models) models=$value ;;
        --cache) cache=$value ;;
        --runtime-lib) runtime_lib=$value ;;
        --no-start) no_start=1 ;;
        --uninstall) uninstall=1 ;;
        --purge-recordings) purge=1 ;;
        --fetch-only) fetch_only=1 ;;
        --dry-run) dry_run=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

# Paths given are relative to where deploy.sh was called; from here on it works in the
# source tree, and its own files are named relative to it (as the dry run prints them).
abspath() { if [[ $1 == /* ]]; then printf '%s' "$1"; else printf '%s/%s' "$PWD" "$1"; fi; }
[[ -z $config ]] || config=$(abspath "$config")
[[ -z $models ]] || models=$(abspath "$models")
[[ -z $cache ]] || cache=$(abspath "$cache")
[[ -z $target_dir ]] || target_dir=$(abspath "$target_dir")
[[ -z $runtime_lib ]] || runtime_lib=$(abspath "$runtime_lib")
cd "$SRC"
config=${config:-deploy/wearable.toml}
models=${models:-models}
cache=${cache:-.venv/deploy-cache}

case $transport in
    ssh | adb) ;;
    *) die "--transport must be ssh or adb, got '$transport'" ;;
esac
[[ -z $purge || -n $uninstall ]] || die "--purge-recordings only goes with --uninstall"
if [[ -n $target_dir ]]; then
    [[ ${#given[@]} -eq 0 ]] || die "--target-dir deploys into a folder: drop ${given[*]-}"
    while [[ $target_dir == */ ]]; do target_dir=${target_dir%/}; done
    [[ -n $target_dir ]] || die "--target-dir / would install into this computer's own root"
    [[ ! -e $target_dir || -d $target_dir ]] ||
        die "--target-dir $target_dir: is a file; give a folder (an empty or new one will do)"
    mode=local
    root=$target_dir
else
    mode=$transport
    root=
    if [[ $mode == ssh ]]; then
        [[ -z $serial ]] || die "--serial is for --transport adb"
        [[ $host =~ ^[A-Za-z0-9._:-]+$ ]] || die "--host '$host' is not a host name or address"
        [[ $user =~ ^[A-Za-z0-9._-]+$ ]] || die "--user '$user' is not a user name"
    else
        [[ " ${given[*]-} " != *" --host "* && " ${given[*]-} " != *" --user "* ]] ||
            die "--host and --user are for --transport ssh (adb uses --serial)"
    fi
fi
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 ||
    die "no '$PYTHON' on this computer: set PYTHON to a Python 3.11+ with pip"

# -- Printing and running commands ---------------------------------------------------------------

# quote ARG...: the arguments as one shell command line, quoted only where needed.
quote() {
    local out='' arg safe='^[A-Za-z0-9_./:=@%+,-]+$'
    for arg in "$@"; do
        if [[ $arg =~ $safe ]]; then
            out+="$arg "
        else
            out+="'${arg//\'/\'\\\'\'}' "
        fi
    done
    printf '%s' "${out% }"
}

step() { printf '# %s\n' "$*"; }
show() { printf '+ %s\n' "$*"; }

# run CMD...: print the command; run it unless this is a dry run.
run() {
    show "$(quote "$@")"
    [[ -n $dry_run ]] || "$@"
}

# run_to FILE CMD...: as run, with the output written to FILE.
run_to() {
    local file=$1
    shift
    show "$(quote "$@") > $(quote "$file")"
    [[ -n $dry_run ]] || "$@" >"$file"
}

SSH=(ssh -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new)
ADB=(adb)
[[ -z $serial ]] || ADB+=(-s "$serial")

# on_board SNIPPET: the command that runs the sh SNIPPET on the board (or, for
# --target-dir, here), in the array BOARD_CMD.
on_board() {
    case $mode in
        ssh) BOARD_CMD=("${SSH[@]}" "$user@$host" "$1") ;;
        adb) BOARD_CMD=("${ADB[@]}" shell "$1") ;;
        local) BOARD_CMD=(sh -c "$1") ;;
    esac
}

unreachable() {
    if [[ $mode == ssh ]]; then
        die "cannot reach $user@$host over ssh. Check: the board is on its USB network (it" \
            "answers at $DEFAULT_HOST; give this computer's USB network interface an address" \
            "such as 172.32.0.100/16), 'ssh $user@$host' logs in with your key" \
            "(ssh-copy-id $user@$host once), and after a reflash: ssh-keygen -R $host"
    fi
    die "adb cannot reach the board: 'adb devices' must list it (USB cable, the image's adb" \
        "gadget enabled; with several devices pass --serial; over the network: adb connect HOST)"
}

# board WHAT SNIPPET: run SNIPPET on the board under "set -e", its output shown. Over adb,
# whose shell does not always return the exit status, success is a last line it prints.
OK_MARK=deploy-step-ok
BOARD_OUTPUT=
board() {
    local what=$1 snippet="set -e"$'\n'$2 out rc=0
    [[ $mode != adb ]] || snippet+=$'\n'"echo $OK_MARK"
    on_board "$snippet"
    show "$(quote "${BOARD_CMD[@]}")"
    [[ -z $dry_run ]] || return 0
    out=$(mktemp)
    "${BOARD_CMD[@]}" 2>&1 | tee "$out" | sed "/^$OK_MARK\$/d" || rc=$?
    if [[ $mode == adb && $rc -eq 0 ]] && ! grep -q "^$OK_MARK" "$out"; then
        rc=1
    fi
    BOARD_OUTPUT=$(cat "$out")
    rm -f "$out"
    if [[ $rc -ne 0 ]]; then
        [[ $mode != ssh || $rc -ne 255 ]] || unreachable
        die "$what failed on the board (see above)"
    fi
}

# -- Inputs: config, model, runtime, wheels (read only) ----------------------------------------
# Every problem is one line with its fix (deploy/bundle.py); all of them are listed before
# deploy.sh stops, in every mode, and nothing is staged or copied after one.
problems=0
[[ -f $config ]] || die "$config: config file not found (--config FILE)"
config_info=$("$PYTHON" deploy/bundle.py config "$config" --app-dir "$APP_DIR" --source .) ||
    problems=$((problems + 1))
i2c_bus='' gpio_chip='' recording_dir=''
while IFS='=' read -r key value; do
    case $key in
        i2c_bus) i2c_bus=$value ;;
        gpio_chip) gpio_chip=$value ;;
        recording_dir) recording_dir=$value ;;
    esac
done <<<"$config_info"
[[ $problems -gt 0 || (-n $i2c_bus && -n $gpio_chip && -n $recording_dir) ]] ||
    die "deploy/bundle.py config gave no bus, chip or recording folder"

# The sh snippets below use these paths on the board, prefixed by the target folder.
app=$root$APP_DIR
init=$root$INIT_SCRIPT
sessions=$root$recording_dir
new=$root$(dirname "$APP_DIR")/$BUNDLE
case $mode in
    local) where=$target_dir ;;
    ssh) where=$user@$host ;;
    adb) where="the adb device${serial:+ $serial}" ;;
esac

# -- Uninstall -----------------------------------------------------------------------------
if [[ -n $uninstall ]]; then
    [[ $problems -eq 0 ]] || exit 1
    step "uninstall from $where: service and code; recordings ${purge:+NOT }kept"
    snippet=
    [[ $mode == local ]] || snippet+="if [ -x $INIT_SCRIPT ]; then $INIT_SCRIPT stop; fi"$'\n'
    snippet+="rm -f $(quote "$init")"
    snippet+=$'\n'"rm -rf $(quote "$app") $(quote "$new") $(quote "$app.old")"
    [[ $mode == local ]] || snippet+=$'\n'"rm -f $LOG_FILE $LOG_FILE.1"
    if [[ -n $purge ]]; then
        snippet+=$'\n'"rm -rf $(quote "$sessions")"
        snippet+=$'\n'"echo \"removed the recordings in $recording_dir\""
    else
        snippet+=$'\n'"if [ -d $(quote "$sessions") ]; then echo \"recordings kept in $recording_dir\"; fi"
    fi
    board "uninstall" "$snippet"
    [[ -n $dry_run ]] || say "uninstalled from $where"
    exit 0
fi

# The NPU models model.json lists (file, sha256), and the runtime version they are for.
model_files=()
model_lines=()
model_runtime=
model_made_by=
if [[ -z $fetch_only ]]; then
    if model_info=$("$PYTHON" deploy/bundle.py model "$models"); then
        while IFS='=' read -r key value; do
            case $key in
                runtime_version) model_runtime=$value ;;
                made_by) model_made_by=$value ;;
                model)
                    model_files+=("${value%% *}")
                    model_lines+=("model: ${value%% *} sha256 ${value#* }")
                    ;;
            esac
        done <<<"$model_info"
    else
        problems=$((problems + 1))
    fi
fi
# A supplied NPU runtime: checked here (a complete 32-bit ARM shared library, its version
# the models'), before anything else happens.
runtime_version=
if [[ -n $runtime_lib && -z $fetch_only ]]; then
    if runtime_version=$("$PYTHON" deploy/bundle.py runtime-lib "$runtime_lib" \
        --runtime-version "$model_runtime"); then
        say "--runtime-lib $runtime_lib: a 32-bit ARM shared library, librknnmrt version" \
            "$runtime_version${model_runtime:+ (the models are made for $model_runtime)}"
    else
        problems=$((problems + 1))
    fi
fi
[[ $problems -eq 0 ]] || exit 1
model_paths=()
for file in ${model_files[@]+"${model_files[@]}"}; do model_paths+=("$models/$file"); done

step "vendored wheels: deploy/vendor-requirements.txt (pinned, sha256-checked) in $cache/wheels"
wheels_dir=$cache/wheels
check_wheels() { "$PYTHON" deploy/bundle.py wheels deploy/vendor-requirements.txt "$wheels_dir"; }
rc=0
wheel_list=$(check_wheels) || rc=$?
case $rc in
    0) ;;
    3)
        run "$PYTHON" -m pip download --disable-pip-version-check --no-deps \
            --only-binary=:all: --platform any --implementation py \
            --python-version "$BOARD_PYTHON_VERSION" --require-hashes --dest "$wheels_dir" \
            -r deploy/vendor-requirements.txt ||
            die "downloading the wheels failed (offline? once fetched, $wheels_dir keeps them)"
        [[ -n $dry_run ]] || wheel_list=$(check_wheels) || exit 1
        ;;
    *) exit 1 ;;
esac
if [[ -n $fetch_only ]]; then
    [[ -n $dry_run ]] || say "wheels ready in $wheels_dir"
    exit 0
fi
wheels=()
while IFS= read -r wheel; do
    [[ -z $wheel ]] || wheels+=("$wheel")
done <<<"$wheel_list"

# Which model goes to the board, said before anything is staged.
say "models: $models ($model_made_by)"

# -- Stage the bundle here ---------------------------------------------------------------------
if [[ -n $dry_run ]]; then
    stage=${TMPDIR:-/tmp}/nirs-deploy.XXXXXX
    step "stage the bundle in a new temporary folder, $stage"
else
    stage=$(mktemp -d "${TMPDIR:-/tmp}/nirs-deploy.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    step "stage the bundle in $stage"
fi
b=$stage/$BUNDLE
run mkdir -p "$b/models" "$b/vendor" "$b/init.d"
run cp -R device "$b/device"
run find "$b/device" -name __pycache__ -prune -exec rm -rf {} +
run cp "$models/model.json" "${model_paths[@]}" "$b/models/"
if [[ -n $runtime_lib ]]; then
    run mkdir -p "$b/runtime"
    run cp "$runtime_lib" "$b/runtime/librknnmrt.so"
fi
run cp "$config" "$b/wearable.toml"
run cp deploy/S99nirs-wearable "$b/init.d/S99nirs-wearable"
for wheel in ${wheels[@]+"${wheels[@]}"}; do
    run "$PYTHON" -m zipfile -e "$wheel" "$b/vendor"
done
source_rev=unknown
if [[ -z $dry_run ]] && command -v git >/dev/null 2>&1; then
    source_rev=$(git describe --always --dirty 2>/dev/null) || source_rev=unknown
fi
version_lines=("nirs-wearable bundle" "source: $source_rev" "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    "${model_lines[@]}" "models made by: $model_made_by"
    "models made for NPU runtime: ${model_runtime:-unrecorded}")
[[ -z $runtime_lib ]] || version_lines+=("runtime: librknnmrt.so $runtime_version (--runtime-lib)")
run_to "$b/VERSION" printf '%s\n' "${version_lines[@]}" "config: $(basename "$config")"
run "$PYTHON" deploy/bundle.py manifest "$b"

# Room for the bundle, its bytecode and a margin, KiB (a dry run estimates it).
if [[ -d $b ]]; then
    bundle_kb=$(du -sk "$b" | cut -f1)
else
    bundle_kb=$({ du -skc device "$models/model.json" "${model_paths[@]}" ${runtime_lib:+"$runtime_lib"} \
        2>/dev/null || true; } | tail -n 1 | cut -f1)
    bundle_kb=$((bundle_kb + 2048)) # the unpacked wheels
fi
need_kb=$((2 * bundle_kb + 1024))

# -- Preflight on the board ---------------------------------------------------------------------
step "preflight on $where (nothing is copied unless it passes)"
preflight_args=(--app-dir "$APP_DIR" --sessions-dir "$recording_dir" --need-kb "$need_kb"
    --i2c-bus "$i2c_bus" --gpiochip "$gpio_chip")
[[ -z $model_runtime ]] || preflight_args+=(--model-runtime "$model_runtime")
[[ -z $runtime_version ]] || preflight_args+=(--runtime-supplied "$runtime_version")
# The preflight's output is kept to find its verdict line (adb may lose exit codes).
preflight_out=
[[ -n $dry_run ]] || preflight_out=$(mktemp)
keep() { if [[ -n $preflight_out ]]; then tee "$preflight_out"; else cat; fi; }
case $mode in
    ssh)
        show "$(quote "${SSH[@]}" "$user@$host" "sh -s -- $(quote "${preflight_args[@]}")") < deploy/preflight.sh"
        if [[ -z $dry_run ]]; then
            rc=0
            "${SSH[@]}" "$user@$host" "sh -s -- $(quote "${preflight_args[@]}")" \
                <deploy/preflight.sh 2>&1 | keep || rc=$?
            [[ $rc -ne 255 ]] || unreachable
        fi
        ;;
    adb)
        run "${ADB[@]}" push deploy/preflight.sh "$PREFLIGHT_REMOTE" || unreachable
        on_board "sh $PREFLIGHT_REMOTE $(quote "${preflight_args[@]}"); rm -f $PREFLIGHT_REMOTE"
        show "$(quote "${BOARD_CMD[@]}")"
        [[ -n $dry_run ]] || "${BOARD_CMD[@]}" 2>&1 | keep || true
        ;;
    local)
        run sh deploy/preflight.sh --root "$root" --skip python,devices,tools,user,runtime \
            "${preflight_args[@]}" 2>&1 | keep || true
        ;;
esac
if [[ -n $preflight_out ]]; then
    verdict=$(grep -c '^preflight: OK' "$preflight_out" || true)
    rm -f "$preflight_out"
    [[ $verdict -ge 1 ]] ||
        die "preflight failed on $where: fix the problems above and run deploy.sh again" \
            "(nothing was copied)"
fi

# -- Copy ----------------------------------------------------------------------------------------
step "copy the bundle to $new"
case $mode in
    ssh)
        show "$(quote tar -C "$stage" -cf - "$BUNDLE") | $(quote "${SSH[@]}" "$user@$host" "rm -rf $new && mkdir -p $(dirname "$new") && tar -C $(dirname "$new") -xf -")"
        if [[ -z $dry_run ]]; then
            rc=0
            tar -C "$stage" -cf - "$BUNDLE" |
                "${SSH[@]}" "$user@$host" "rm -rf $new && mkdir -p $(dirname "$new") && tar -C $(dirname "$new") -xf -" || rc=$?
            [[ $rc -ne 255 ]] || unreachable
            [[ $rc -eq 0 ]] || die "copying the bundle failed (tar over ssh, status $rc)"
        fi
        ;;
    adb)
        board "preparing $new" "rm -rf $new && mkdir -p $(dirname "$new")"
        run "${ADB[@]}" push "$b" "$(dirname "$new")/" || die "adb push of the bundle failed"
        ;;
    local)
        run rm -rf "$new"
        run mkdir -p "$(dirname "$new")"
        run cp -R "$b" "$(dirname "$new")/"
        ;;
esac

# -- Install: check the copy, swap it in, install the init script ---------------------------------
step "install: check the copy, replace $APP_DIR, install $INIT_SCRIPT (recordings untouched)"
q_new=$(quote "$new") q_app=$(quote "$app") q_init=$(quote "$init")
snippet="cd $q_new
sha256sum -c MANIFEST >/dev/null"
if [[ $mode == local ]]; then
    say "skip: loading the new bundle with the board's python3 (a target folder has no board;" \
        "the config was loaded here by device/config.py)"
else
    snippet+="
chown -R 0:0 $q_new
PYTHONPATH=$new/vendor:$new python3 -B -c \"import sys, device.__main__, device.app, device.npu, device.i2c_dev, device.gpio_line, serial; from device.config import load; load(sys.argv[1])\" $new/wearable.toml || { echo \"the new bundle does not load on the board (above): the installed one is left as it was\"; exit 1; }
if [ -x $INIT_SCRIPT ]; then $INIT_SCRIPT stop; fi"
fi
snippet+="
cd /
rm -rf $q_app.old
if [ -d $q_app ]; then mv $q_app $q_app.old; fi
mv $q_new $q_app
rm -rf $q_app.old
mkdir -p $(quote "$(dirname "$init")") $(quote "$sessions")
cp $q_app/init.d/S99nirs-wearable $q_init.new
chmod 755 $q_init.new
mv $q_init.new $q_init"
if [[ -n $runtime_lib ]]; then
    q_lib=$(quote "$root$RUNTIME_DIR/librknnmrt.so")
    snippet+="
mkdir -p $(quote "$root$RUNTIME_DIR")
if [ -f $q_lib.orig ]; then kept=\"the first one found there stays in librknnmrt.so.orig\"
elif [ -f $q_lib ]; then cp -p $q_lib $q_lib.orig; kept=\"the one there before is kept as librknnmrt.so.orig\"
else kept=\"there was none there before\"; fi
cp $q_app/runtime/librknnmrt.so $q_lib.new
chmod 755 $q_lib.new
mv $q_lib.new $q_lib
echo \"installed librknnmrt.so $runtime_version in $RUNTIME_DIR (\$kept)\""
fi
if [[ $mode != local ]]; then
    snippet+="
python3 -m compileall -q $APP_DIR/device $APP_DIR/vendor >/dev/null 2>&1 || true"
fi
board "install" "$snippet"

# -- Start -----------------------------------------------------------------------------------------
if [[ $mode == local ]]; then
    [[ -n $dry_run ]] || say "deployed into $target_dir (the service starts when a board boots it)"
    exit 0
fi
if [[ -n $no_start ]]; then
    [[ -n $dry_run ]] || say "installed on $where; not started (--no-start): $INIT_SCRIPT start"
    exit 0
fi
step "start the service and show its first seconds"
board "start" "$INIT_SCRIPT start
sleep 5
tail -n 15 $LOG_FILE 2>/dev/null || true
$INIT_SCRIPT status"
[[ -z $dry_run ]] || exit 0
if [[ $BOARD_OUTPUT == *"app waiting to restart"* ]]; then
    die "installed on $where, but the app exits soon after it starts (its log is above);" \
        "the service keeps restarting it: fix the cause and deploy again"
fi
say "deployed to $where: $APP_DIR, service $INIT_SCRIPT (start|stop|restart|status)," \
    "log $LOG_FILE, recordings in $recording_dir"
