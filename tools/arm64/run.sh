#!/usr/bin/env bash
# ./dev test-arm64: the device side on 64-bit Arm, emulated (qemu-user-static + binfmt_misc), in an arm64
# Debian Bookworm root (Raspberry Pi OS Bookworm's base, Python 3.11), compared with x86 on this commit.
#
# Built once and cached under build/arm64/ (git-ignored): the root (debootstrap) and, inside it, a venv
# made as the README's Pi install makes it (--system-site-packages over apt's numpy, then
# requirements-device.txt with constraints-pi-bookworm.txt), plus the test requirements. Each run copies
# the working tree into the root and then:
#   1. python -m kiosk demo --no-broker, on x86 and arm64: the same decisions and relay levels;
#   2. classify --json and scan --json on tools/arm64/make_images.py's images, x86 vs arm64: the same
#      labels and decisions, probabilities within tools/arm64/compare.py's tolerance;
#   3. the device tests inside the root (all but ARM_SKIP below, each skipped with its reason; under CI=true
#      only ARM_CI_TESTS below), with a
#      real mosquitto there.
# The x86 side runs in a venv with exactly the wheel versions the arm64 venv got, so what differs is the
# CPU (XNNPACK's and OpenCV's Arm kernels), not the versions.
# It undoes what it mounts or registers (binfmt_misc, the qemu-aarch64 entry), also on failure; the
# root's /proc, /dev and /tmp are mounted only inside a private mount + pid namespace, which the
# kernel takes down with the last process in it. Emulated times say nothing about a Pi's speed.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
SELF="$REPO/tools/arm64/run.sh"

# --- inside the private namespace: mount what the root needs, run one command in it ------------------
if [ "${1:-}" = __enter ]; then
    root="$2"; shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=1777,size=2g tmpfs "$root/dev/shm"
    # no /sys: the host's (x86) CPU topology there makes LiteRT's arm64 build crash (segfault) under qemu
    mount -t tmpfs -o mode=1777,size=4g tmpfs "$root/tmp"
    pass=()  # the index and proxy settings pip needs; not PIP_FIND_LINKS & co (host paths)
    for k in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT PIP_CERT \
             http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY CI; do
        [ -n "${!k:-}" ] && pass+=("$k=${!k}")
    done
    # QEMU_CPU: read by qemu from each emulated program's environment, so it must stay in env -i's list
    chroot "$root" /usr/bin/env -i PATH=/opt/venv/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb PYTHONUNBUFFERED=1 QEMU_CPU="$QEMU_CPU" "${pass[@]}" "$@"
    exit $?
fi

# ARM64_SUITE=trixie: Raspberry Pi OS Trixie's base instead (Python 3.13, the README's Trixie pip line, no
# constraints). Not in CI: a second root does not fit its 45 minutes.
SUITE="${ARM64_SUITE:-bookworm}"
case "$SUITE" in
    bookworm) PI_CONSTRAINTS="-c constraints-pi-bookworm.txt" ;;
    trixie) PI_CONSTRAINTS="" ;;
    *) echo "test-arm64: error: ARM64_SUITE must be bookworm or trixie, not '$SUITE'" >&2; exit 2 ;;
esac
# The emulated CPU: a Raspberry Pi 4's Cortex-A72 (Armv8.0 + NEON, no dotprod), so LiteRT picks the kernels a
# Pi 4 runs; cortex-a76 is a Pi 5's. qemu's default ("max", with SVE) is neither, and slower to emulate.
export QEMU_CPU="${ARM64_CPU:-cortex-a72}"
CACHE="${ARM64_CACHE:-$REPO/build/arm64}"
ROOT="$CACHE/$SUITE-root"
OUT="$CACHE/$SUITE-out"
X86_VENV="$CACHE/x86-venv-$SUITE"
SRC=/src/maskgate                       # the working tree, inside the root
# The device suite (tests/, as `./dev test` runs it) minus what cannot or need not run emulated, each with
# its reason. Everything else runs, new test files included.
CLIP="the daemon on the demo clip (or a long recording) under a wall-clock limit that the emulated CPU, tens of times slower, cannot meet (step 1 plays the whole clip on arm64)"
ARM_SKIP=(
    tests/test_pipeline.py "$CLIP"
    tests/test_overlap.py "$CLIP"
    tests/test_replay.py "$CLIP"
    tests/test_failclosed.py "$CLIP"
    tests/test_reliability.py "$CLIP"
    tests/test_outputs.py "$CLIP"
    tests/test_bystander.py "$CLIP"
    tests/test_occluders.py "$CLIP (its sheet test alone takes 3 min emulated)"
    tests/test_not_face.py "$CLIP (and 13 min emulated for its 80 analysed frames)"
    tests/test_mqtt_fuzz.py::test_fuzz_the_running_kiosk "$CLIP"
    tests/test_mqtt_homeassistant.py::test_with_snapshots_the_image_entity_gets_each_deciding_face "$CLIP"
    tests/test_bench.py "measures speed: emulated times mean nothing (and it runs for many minutes emulated)"
    tests/test_systemd.py "checks the unit file with the host's systemd-analyze; nothing Arm-specific, the root has no systemd"
    tests/test_watchdog_nspawn.py "boots the host's systemd in systemd-nspawn; nothing Arm-specific"
    tests/test_web_browser.py "drives a real Chromium, which the root does not have (an emulated one takes minutes a page); test_web.py checks the same pages' server on arm64"
    tests/test_make_negatives.py "host-side tool (tools/, never on the Pi); 4.5 min emulated"
    tests/test_synth_masks.py "host-side tool (tools/, never on the Pi); 2 min emulated"
    tests/test_package.py "packaging: the wheel is pure Python and data, nothing Arm-specific; its installed demo plays the clip under a wall-clock limit (step 1 plays it on arm64)"
    tests/test_eval_kiosk_detect.py::test_a_real_run_with_the_shipped_blazeface "host-side tool (tools/eval/eval_kiosk_detect.py, never on the Pi); 4.5 min emulated"
    tests/test_arm64_compare.py "tests the host-side comparison of this very script (and replays the demo clip)"
)
# ARM64_TESTS=ci (the default under CI=true; .ci/run): steps 1 and 2 as always, but of the device tests only
# these, the ones whose results depend on the CPU and the Arm wheels: LiteRT's int8 kernels (classifier,
# nose check, not-face veto), OpenCV's Arm build (detector, YuNet, image decoding and cropping), the numeric
# decision and tracking code, config/CLI parsing, and gpiozero + paho + a real mosquitto on arm64.
# The rest of the suite (web server, MQTT commands and Home Assistant, outbox, lights, the tools' tests) is
# pure Python that `./dev test` already runs on x86; it stays in the full run (ARM64_TESTS=full, the
# default by hand). Why: CI has no cache, so the root (debootstrap, its second stage emulated) and the venv
# are built from nothing each time, and the whole suite emulated takes CI past its 45 minutes on a busy
# 2-core machine (README, "Arm under emulation", has the measured times).
ARM_CI_TESTS=(
    tests/test_classifier.py tests/test_detector.py tests/test_yunet.py tests/test_nose.py
    tests/test_images.py tests/test_decision.py tests/test_tracking.py tests/test_config.py
    tests/test_cli.py tests/test_bad_input.py tests/test_gate.py tests/test_mqtt.py
)
if [ -n "${ARM64_TESTS:-}" ]; then TESTS="$ARM64_TESTS"; elif [ "${CI:-}" = true ]; then TESTS=ci; else TESTS=full; fi
case "$TESTS" in
    ci|full) ;;
    *) echo "test-arm64: error: ARM64_TESTS must be ci or full, not '$TESTS'" >&2; exit 2 ;;
esac
# apt packages of the root: Python 3.11 and venv; apt's numpy (what picamera2 is built against on the
# Pi); mosquitto + clients + openssl for the broker tests; CA certificates for pip.
ROOT_PACKAGES=python3,python3-venv,python3-numpy,ca-certificates,mosquitto,mosquitto-clients,openssl
ROOT_RECIPE="v1 $SUITE $ROOT_PACKAGES"
LIMIT_DEBOOTSTRAP=${ARM64_LIMIT_DEBOOTSTRAP:-1200}
LIMIT_PIP=${ARM64_LIMIT_PIP:-1200}
LIMIT_RUN=${ARM64_LIMIT_RUN:-1800}  # one demo or classify/scan run; 900 s was too short for the demo on a loaded machine
LIMIT_TESTS=${ARM64_LIMIT_TESTS:-1500}

# fds 3 and 4: the run's own stdout and stderr, for messages that must reach the console (CI's log) even
# when they come from a step whose output is redirected to a file (the demo's, classify's)
exec 3>&1 4>&2
say() { echo "test-arm64: $(date -u +%T) $*"; }
die() { echo "test-arm64: $(date -u +%T) error: $*" >&4; exit 1; }

# --- cleanup: everything this run mounted or registered, in reverse --------------------------------
BINFMT=/proc/sys/fs/binfmt_misc
MOUNTED_BINFMT=0 REGISTERED=0 ENABLED=0 CHILD=
STEPS=() STEP= T_START=$SECONDS DISAGREE=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    exec 1>&3 2>&4  # an exit inside a redirected step would otherwise send this summary into its file
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    [ "$REGISTERED" = 1 ] && { echo -1 > "$BINFMT/qemu-aarch64" || echo "test-arm64: warning: could not unregister qemu-aarch64" >&2; }
    [ "$ENABLED" = 1 ] && { echo 0 > "$BINFMT/qemu-aarch64" || echo "test-arm64: warning: could not disable qemu-aarch64" >&2; }
    [ "$MOUNTED_BINFMT" = 1 ] && { umount "$BINFMT" || echo "test-arm64: warning: could not unmount $BINFMT" >&2; }
    if [ -d "$ROOT" ] && findmnt -rn -o TARGET | grep -q "^$ROOT/"; then
        echo "test-arm64: warning: still mounted under $ROOT: $(findmnt -rn -o TARGET | grep "^$ROOT/" | tr '\n' ' ')" >&2
    fi
    if [ ${#STEPS[@]} -gt 0 ] || [ -n "$STEP" ]; then
        echo "test-arm64: times on this machine (emulated: not a Pi's speed)"
        printf '  %s\n' "${STEPS[@]}"
        [ -n "$STEP" ] && echo "  FAILED at: $STEP"
        echo "  total $((SECONDS - T_START)) s"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() {  # step NAME CMD...: run CMD, record its time
    STEP="$1"; shift
    local t0=$SECONDS
    say "== $STEP"
    "$@"
    STEPS+=("$(printf '%-58s %5d s' "$STEP" $((SECONDS - t0)))")
    STEP=
}

bg() {  # bg LIMIT_S WHAT CMD...: CMD under a time limit, in the background so a signal stops it at once
    local limit="$1" what="$2"; shift 2
    timeout --kill-after=20 "$limit" "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && die "$what: gave up after $limit s"
    return "$rc"
}

in_dir() {  # in_dir ROOT LIMIT_S WHAT CMD...: CMD inside an arm64 root
    local root="$1" limit="$2" what="$3"; shift 3
    bg "$limit" "$what" unshare --mount --pid --fork --kill-child --propagation private -- \
        bash "$SELF" __enter "$root" "$@"
}
in_root() { in_dir "$ROOT" "$@"; }

# --- 0. emulation: tools, binfmt_misc, the qemu-aarch64 entry ------------------------------------------
setup_emulation() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount and the binfmt registration): run it as root"
    [ "$(uname -m)" = x86_64 ] || die "this runs an x86_64 host against emulated arm64; this machine is $(uname -m)"
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
    command -v unshare >/dev/null && command -v findmnt >/dev/null || missing+=(util-linux)
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 \
            apt-get install -y -qq "${missing[@]}" >/dev/null; } \
            || die "missing ${missing[*]} and 'apt-get install ${missing[*]}' failed"
    fi
    if [ ! -e "$BINFMT/status" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
            || die "cannot mount binfmt_misc on $BINFMT (a kernel without CONFIG_BINFMT_MISC, or a container not allowed to mount it)"
        MOUNTED_BINFMT=1
    fi
    [ "$(cat "$BINFMT/status")" = enabled ] || die "binfmt_misc is disabled on this machine ($BINFMT/status)"
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        update-binfmts --display qemu-aarch64 >/dev/null 2>&1 || update-binfmts --import qemu-aarch64 >/dev/null 2>&1 \
            || die "binfmt-support does not know qemu-aarch64 (/usr/share/binfmts/qemu-aarch64 missing: reinstall qemu-user-static)"
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 && [ -e "$BINFMT/qemu-aarch64" ] \
            || die "could not register qemu-aarch64 with binfmt_misc (update-binfmts --enable qemu-aarch64)"
        REGISTERED=1
    elif ! head -1 "$BINFMT/qemu-aarch64" | grep -q enabled; then
        echo 1 > "$BINFMT/qemu-aarch64" || die "could not enable $BINFMT/qemu-aarch64"
        ENABLED=1
    fi
    # without the F flag the kernel would look for the interpreter inside the root
    grep -q '^flags: .*F' "$BINFMT/qemu-aarch64" \
        || die "$BINFMT/qemu-aarch64 lacks the F (fix binary) flag: $(grep '^flags' "$BINFMT/qemu-aarch64")"
    say "emulation: qemu-aarch64 via binfmt_misc ($([ $REGISTERED = 1 ] && echo registered by this run || echo already registered)), CPU $QEMU_CPU"
}

# --- 1. the root: debootstrap, once --------------------------------------------------------------------
debian_mirror() {
    local m
    m="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -m1 '/debian/\?$' || true)"
    [ -n "$m" ] || m="$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -m1 '/debian/\?$' || true)"
    echo "${ARM64_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

refuse_if_mounted() {  # never delete a tree with something mounted in it
    if findmnt -rn -o TARGET | grep -q "^$1\(/\|$\)"; then
        die "something is mounted under $1 ($(findmnt -rn -o TARGET | grep "^$1" | head -3 | tr '\n' ' ')); unmount it first"
    fi
}

build_root() {
    local stamp="$ROOT/.maskgate-root"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ROOT_RECIPE" ]; then
        say "root: cached ($ROOT)"
        return
    fi
    local new="$ROOT.new" mirror
    mirror="$(debian_mirror)"
    for d in "$ROOT" "$new"; do refuse_if_mounted "$d"; rm -rf --one-file-system "$d"; done
    mkdir -p "$CACHE"
    say "root: debootstrap --arch=arm64 --variant=minbase $SUITE from $mirror"
    # first stage (download + unpack) needs no emulation; the second runs arm64 dpkg under qemu
    bg "$LIMIT_DEBOOTSTRAP" "debootstrap (first stage)" debootstrap --foreign --arch=arm64 --variant=minbase \
        --include="$ROOT_PACKAGES" "$SUITE" "$new" "$mirror" > "$CACHE/$SUITE-debootstrap.log" 2>&1 \
        || die "debootstrap (first stage) failed; see $CACHE/$SUITE-debootstrap.log: $(tail -1 "$CACHE/$SUITE-debootstrap.log")"
    timeout 120 chroot "$new" /bin/true \
        || die "arm64 programs do not run here under qemu (chroot $new /bin/true failed; check $BINFMT/qemu-aarch64)"
    in_dir "$new" "$LIMIT_DEBOOTSTRAP" "debootstrap (second stage)" /debootstrap/debootstrap --second-stage \
        >> "$CACHE/$SUITE-debootstrap.log" 2>&1 \
        || die "debootstrap (second stage) failed; see $CACHE/$SUITE-debootstrap.log: $(tail -1 "$CACHE/$SUITE-debootstrap.log")"
    echo "$ROOT_RECIPE" > "$new/.maskgate-root"
    mv "$new" "$ROOT"
}

# --- 2. host files and the working tree into the root ----------------------------------------------------
copy_in() {
    # pip inside the root trusts what the host trusts (a proxy's CA) and uses its index settings
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
    if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$ROOT/etc/pip.conf"; else rm -f "$ROOT/etc/pip.conf"; fi
    rm -rf --one-file-system "$ROOT$SRC" && mkdir -p "$ROOT$SRC"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null \
            | tar -C "$ROOT$SRC" -xf -
    else
        tar --exclude=./build --exclude='./.venv*' --exclude=./.git -cf - . | tar -C "$ROOT$SRC" -xf -
    fi
    [ -f "$ROOT$SRC/kiosk/demo/demo.mp4" ] || die "the working tree did not arrive in the root ($ROOT$SRC)"
}

# --- 3. the venv inside the root, as the README's Pi install, then the test requirements ----------------
build_arm_venv() {
    local want stamp="$ROOT/opt/venv/.maskgate-stamp"
    want="$(cat requirements-device.txt constraints-pi-bookworm.txt requirements-dev.txt | sha256sum | cut -c1-16)"
    want="$want $SUITE"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "arm64 venv: cached"
        return
    fi
    rm -rf --one-file-system "$ROOT/opt/venv"
    # README, Raspberry Pi: venv --system-site-packages (picamera2 from apt), the suite's pip line.
    # --no-compile: pip would byte-compile every installed module (scipy, matplotlib, ...) with the emulated
    # Python, minutes of CPU in CI's cold build; Python compiles what is imported instead. Same versions.
    in_root "$LIMIT_PIP" "arm64 venv" sh -c "cd $SRC && python3 -m venv --system-site-packages /opt/venv \
        && /opt/venv/bin/pip install -q --no-compile -r requirements-device.txt $PI_CONSTRAINTS \
        && /opt/venv/bin/pip freeze --local > /opt/venv/pi-install-freeze.txt \
        && /opt/venv/bin/pip freeze > /opt/venv/pi-install-all.txt \
        && /opt/venv/bin/pip install -q --no-compile -r requirements-dev.txt $PI_CONSTRAINTS \
               -c /opt/venv/pi-install-freeze.txt" \
        || die "pip install inside the arm64 root failed (see above)"
    echo "$want" > "$stamp"
}

pi_versions() {  # what the README's install got, and where numpy comes from
    local freeze="$ROOT/opt/venv/pi-install-freeze.txt"
    # what the venv can import, apt's packages included (on Trixie apt's numpy already satisfies ours)
    cp "$ROOT/opt/venv/pi-install-all.txt" "$OUT/pi-$SUITE-freeze.txt"
    say "the Pi ($SUITE, arm64) install: pip installed $(grep -iE '^(ai-edge-litert|numpy|opencv-python-headless|gpiozero|paho-mqtt)==' "$freeze" | tr '\n' ' ')"
    in_root 300 "versions" python -c "import numpy, cv2, platform, sys; \
from ai_edge_litert import interpreter; \
print('test-arm64: inside the root:', platform.machine(), 'Python', sys.version.split()[0], \
'numpy', numpy.__version__, 'from', numpy.__file__.split('/site-packages')[0] if 'site-packages' in numpy.__file__ else numpy.__file__, \
'| OpenCV', cv2.__version__)"
}

# --- 4. x86 reference: the same wheel versions, this machine's CPU -----------------------------------
build_x86_venv() {
    local dir="$X86_VENV" want
    want="$(cat "$OUT/pi-$SUITE-freeze.txt" requirements-device.txt | sha256sum | cut -c1-16)"
    if [ -f "$dir/.maskgate-stamp" ] && [ "$(cat "$dir/.maskgate-stamp")" = "$want" ]; then
        say "x86 venv: cached"
        return
    fi
    rm -rf "$dir"
    python3 -m venv "$dir" || die "cannot create $dir (apt-get install python3-venv)"
    bg "$LIMIT_PIP" "x86 venv" "$dir/bin/pip" install -q -r requirements-device.txt -c "$OUT/pi-$SUITE-freeze.txt" \
        || die "pip install of the x86 reference venv failed"
    echo "$want" > "$dir/.maskgate-stamp"
}

make_images() {
    rm -rf "$OUT/images" && mkdir -p "$OUT/images"
    [ -x .venv/bin/python ] || die ".venv is missing: run ./dev test-arm64 (it builds .venv first)"
    .venv/bin/python -m tools.arm64.make_images "$OUT/images"
    rm -rf "$ROOT/opt/images" && cp -r "$OUT/images" "$ROOT/opt/images"
}

# classify/scan with paths relative to the image folder, so both sides print the same paths
x86_kiosk() {  # x86_kiosk WHAT ARGS...
    local what="$1"; shift
    bg "$LIMIT_RUN" "$what" env -C "$OUT/images" PYTHONPATH="$REPO" "$X86_VENV/bin/python" -m kiosk "$@"
}
arm_kiosk_cmd() { echo "cd /opt/images && PYTHONPATH=$SRC python -m kiosk $*"; }

demo_x86() {
    bg "$LIMIT_RUN" "x86 demo" "$X86_VENV/bin/python" -m kiosk demo --no-broker --max-seconds 3000 \
        > "$OUT/demo-x86.txt" 2>&1 || { tail -5 "$OUT/demo-x86.txt"; die "the x86 demo failed (see $OUT/demo-x86.txt)"; }
}
demo_arm() {
    in_root "$LIMIT_RUN" "arm64 demo" sh -c "cd $SRC && python -m kiosk demo --no-broker --max-seconds 3000" \
        > "$OUT/demo-arm64.txt" 2>&1 || { tail -5 "$OUT/demo-arm64.txt"; die "the arm64 demo failed (see $OUT/demo-arm64.txt)"; }
}
classify_scan_x86() {
    local faces scenes
    faces=$(cd "$OUT/images" && ls faces/*.png | tr '\n' ' ')
    scenes=$(cd "$OUT/images" && ls scenes/*.png | tr '\n' ' ')
    # shellcheck disable=SC2086
    x86_kiosk "x86 classify" classify --json $faces > "$OUT/classify-x86.jsonl" || die "x86 classify failed"
    # shellcheck disable=SC2086
    x86_kiosk "x86 scan" scan --json $scenes > "$OUT/scan-x86.jsonl" || die "x86 scan failed"
}
classify_scan_arm() {
    in_root "$LIMIT_RUN" "arm64 classify" sh -c "$(arm_kiosk_cmd classify --json 'faces/*.png')" \
        > "$OUT/classify-arm64.jsonl" || die "arm64 classify failed"
    in_root "$LIMIT_RUN" "arm64 scan" sh -c "$(arm_kiosk_cmd scan --json 'scenes/*.png')" \
        > "$OUT/scan-arm64.jsonl" || die "arm64 scan failed"
}

compare_all() {
    local rc=0
    python3 -m tools.arm64.compare demo "$OUT/demo-x86.txt" "$OUT/demo-arm64.txt" | tee "$OUT/compare-demo.txt" || rc=1
    python3 -m tools.arm64.compare classify "$OUT/classify-x86.jsonl" "$OUT/classify-arm64.jsonl" | tee "$OUT/compare-classify.txt" || rc=1
    python3 -m tools.arm64.compare scan "$OUT/scan-x86.jsonl" "$OUT/scan-arm64.jsonl" | tee "$OUT/compare-scan.txt" || rc=1
    # the tests still run: one CI run tells both
    [ "$rc" = 0 ] || { DISAGREE=1; say "x86 and arm64 DISAGREE (above; outputs in $OUT)"; }
}

arm_tests() {
    local args=() i
    say "not run emulated (each also runs on x86 in ./dev test):"
    for ((i = 0; i < ${#ARM_SKIP[@]}; i += 2)); do
        echo "  ${ARM_SKIP[i]}: ${ARM_SKIP[i+1]}"
        case "${ARM_SKIP[i]}" in *::*) args+=("--deselect=${ARM_SKIP[i]}");; *) args+=("--ignore=${ARM_SKIP[i]}");; esac
    done
    local which=()
    if [ "$TESTS" = ci ] && [ $# = 0 ]; then  # pytest arguments given by hand choose the tests themselves
        which=("${ARM_CI_TESTS[@]}")
        say "ARM64_TESTS=ci: only ${ARM_CI_TESTS[*]} (the CPU- and wheel-dependent parts; ARM64_TESTS=full for the whole suite)"
    fi
    in_root "$LIMIT_TESTS" "arm64 device tests" sh -c "cd $SRC && python -m pytest -q -p no:cacheprovider \
        --durations=25 ${args[*]} ${which[*]} $*" || die "device tests failed on arm64 (above)"
}

main() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount and the binfmt registration): run it as root"
    mkdir -p "$CACHE" && rm -rf "$OUT" && mkdir -p "$OUT"
    step "emulation (qemu-user-static, binfmt_misc)" setup_emulation
    step "arm64 $SUITE root (debootstrap, cached)" build_root
    step "working tree into the root" copy_in
    step "arm64 venv: README Pi install + test requirements (cached)" build_arm_venv
    step "versions the Pi install got" pi_versions
    step "x86 reference venv, same versions (cached)" build_x86_venv
    step "fixed image set (tools/arm64/make_images.py)" make_images
    step "x86: demo" demo_x86
    step "x86: classify + scan" classify_scan_x86
    step "arm64: demo (emulated)" demo_arm
    step "arm64: classify + scan (emulated)" classify_scan_arm
    step "compare x86 vs arm64" compare_all
    step "arm64: device tests (emulated, ARM64_TESTS=$TESTS)" arm_tests "$@"
    [ "$DISAGREE" = 0 ] || die "x86 and arm64 disagree (see 'compare x86 vs arm64' above; outputs in $OUT)"
    say "passed: demo, classify and scan agree with x86; the device tests passed on arm64"
}
main "$@"
