#!/usr/bin/env bash
# The tests whose outcome depends on the kernel, run on Debian 12's kernel 6.1 (no
# PIDFD_INFO_EXIT, no pidfs ids) in a virtme-ng VM that shares this machine's filesystem.
#
# Which tests: those with "[kernel]" in their name (vitest -t). Tag a test so when what it
# asserts depends on capabilities() — a status source, pidfs ids —, when it is a test of the
# libuv reap race, which only PIDFD_INFO_EXIT hides, or when it rests on system calls newer
# kernels changed (spawn's clone flags and close_range).
#
# Needs root on Debian (apt-get, pip). Installs what is missing: qemu-system-x86, kmod, tini,
# busybox-static, virtme-ng, and the newest linux-image-6.1.0-<n>-amd64-unsigned, unpacked into
# $EXITWATCH_KERNEL_CACHE (default /var/cache/exitwatch-kernels). The VM runs under TCG (no
# nested KVM needed), several times slower than the host: the tests scale their waits by
# EXITWATCH_TEST_TIME_SCALE and shrink their load tests by it.
# Ends with "N passed, N failed, N skipped" for the VM run; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${EXITWATCH_KERNEL_CACHE:-/var/cache/exitwatch-kernels}
series=6.1.0
time_scale=${EXITWATCH_TEST_TIME_SCALE:-10}
vm_timeout_s=${EXITWATCH_VM_TIMEOUT:-1500}
virtme_ng_version=1.42

stage_started=$SECONDS
stage() {
  echo "=== $1 ($((SECONDS - stage_started)) s)"
  stage_started=$SECONDS
}

echo "=== tools"
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v modprobe >/dev/null || missing+=(kmod)
command -v tini >/dev/null || missing+=(tini)
command -v busybox >/dev/null || missing+=(busybox-static) # virtme-ng's initramfs
newest_kernel() {
  apt-cache search --names-only "^linux-image-$series-[0-9]+-amd64-unsigned\$" | cut -d' ' -f1 | sort -V | tail -1
}
package=$(newest_kernel)
if [ -z "$package" ] || [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  package=$(newest_kernel)
fi
[ -n "$package" ] || { echo "no linux-image-$series-<n>-amd64-unsigned in the apt sources"; exit 1; }
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v vng >/dev/null; then
  python3 -m pip install --quiet "virtme-ng==$virtme_ng_version" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "virtme-ng==$virtme_ng_version"
  hash -r
fi
[ -f dist/esm/index.js ] && ls exitwatch.*.node >/dev/null 2>&1 || npm run --silent build
stage "tools ready"

release=${package#linux-image-}
release=${release%-unsigned}
root="$cache/$release"
if [ ! -f "$root/boot/vmlinuz-$release" ]; then
  mkdir -p "$cache"
  rm -rf "$root" "$cache"/*.deb
  (cd "$cache" && apt-get download -qq "$package" 2>/dev/null)
  dpkg-deb -x "$cache"/"$package"_*.deb "$root.partial"
  mv "$root.partial" "$root"
  rm -f "$cache"/*.deb
fi
stage "kernel $release ready"

# The VM sees the host's filesystem read-only (writes go to overlays that vanish with it):
# results come back through a shared directory. Its PID 1 does not reap orphans, so tini -s
# does, as a real init would. --testTimeout: the per-test limit of vitest.config.ts, scaled.
files=$(grep -l '\[kernel\]' __test__/*.test.ts | tr '\n' ' ')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat >"$out/run.sh" <<EOF
date +%s >"$out/booted"
cd "$repo"
uname -r >"$out/kernel"
EXITWATCH_TEST_TIME_SCALE=$time_scale tini -s -- "$(command -v node)" node_modules/vitest/vitest.mjs run $files \\
  -t '\\[kernel\\]' --testTimeout=$((60000 * time_scale)) --hookTimeout=$((60000 * time_scale)) \\
  --reporter=default --reporter=json --outputFile.json="$out/results/vitest.json" >"$out/log" 2>&1
echo \$? >"$out/status"
date +%s >"$out/tested"
EOF
mkdir "$out/results"
vm_started=$(date +%s)
timeout "$vm_timeout_s" vng --run "$root/boot/vmlinuz-$release" --user root --disable-kvm --memory 4G --cpus 2 \
  --rwdir "$out" --overlay-rwdir "$repo" --exec "sh $out/run.sh" >"$out/console" 2>&1 || true
sed 's/\x1b\[[0-9;]*m//g' "$out/log" 2>/dev/null || { echo "the VM produced no test log; its console:"; cat "$out/console"; }
if [ -f "$out/tested" ]; then
  echo "boot $(($(cat "$out/booted") - vm_started)) s, tests $(($(cat "$out/tested") - $(cat "$out/booted"))) s," \
    "power-off $(($(date +%s) - $(cat "$out/tested"))) s"
fi
stage "VM run on $(cat "$out/kernel" 2>/dev/null || echo '(did not boot)')"

[ -f "$out/status" ] || { echo "the tests did not finish in the VM (limit ${vm_timeout_s} s); its console:"; tail -30 "$out/console"; exit 1; }
# Counted over the tagged tests only (the others in the same files are filtered out, not skipped).
node --input-type=module -e '
  import { readFileSync } from "node:fs"
  const tests = JSON.parse(readFileSync(process.argv[1], "utf8")).testResults
    .flatMap((file) => file.assertionResults).filter((test) => test.title.includes("[kernel]"))
  const count = (status) => tests.filter((test) => test.status === status).length
  for (const test of tests) if (test.status !== "passed") console.log(`${test.status}: ${test.fullName}`)
  const skipped = tests.length - count("passed") - count("failed")
  console.log(`\n${count("passed")} passed, ${count("failed")} failed, ${skipped} skipped (kernel ${process.argv[2]})`)
  process.exit(count("failed") === 0 && count("passed") > 0 ? 0 : 1)
' "$out/results/vitest.json" "$(cat "$out/kernel")" && [ "$(cat "$out/status")" = 0 ]
