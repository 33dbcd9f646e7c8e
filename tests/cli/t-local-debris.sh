#!/bin/sh
# What a killed load or clear leaves next to the cache dir is removed by gc
# (and by the next load) once its process is gone, never while it lives.
. "$(dirname "$0")/lib.sh"

parent=$(dirname "$TORCHINDUCTOR_CACHE_DIR")
base=$(basename "$TORCHINDUCTOR_CACHE_DIR")
dead=$(sh -c 'echo $$')		# a pid that has exited
sleep 30 & live=$!

mkdir -p "$parent/.$base.b10t-staging.$dead.0123456789abcdef/sub"
echo x >"$parent/.$base.b10t-staging.$dead.0123456789abcdef/sub/f"
mkdir -p "$parent/.$base.b10t-clear.$dead.fedcba9876543210"
mkdir -p "$parent/.$base.b10t-staging.$live.0123456789abcdef"
mkdir -p "$parent/.other.b10t-staging.$dead.0123456789abcdef"
mkdir -p "$parent/.$base.b10t-staging.notapid.x"
touch "$parent/.$base.b10t-staging.$dead.file"

run gc --dry-run --json
ok "dry run exits 0" expect_rc 0
ok "dry run lists the dead load's staging dir" jq_is '[.removed[] | select(.reason == "stale-staging")] | length' 1
ok "dry run lists the dead clear's dir" jq_is '[.removed[] | select(.reason == "stale-clear")] | length' 1
ok "dry run removes nothing" [ -d "$parent/.$base.b10t-staging.$dead.0123456789abcdef" ]

run gc --json
ok "gc exits 0" expect_rc 0
ok "the dead load's staging dir is gone" [ ! -e "$parent/.$base.b10t-staging.$dead.0123456789abcdef" ]
ok "the dead clear's dir is gone" [ ! -e "$parent/.$base.b10t-clear.$dead.fedcba9876543210" ]
ok "a live process's staging dir stays" [ -d "$parent/.$base.b10t-staging.$live.0123456789abcdef" ]
ok "another cache dir's staging stays" [ -d "$parent/.other.b10t-staging.$dead.0123456789abcdef" ]
ok "a name without a pid stays" [ -d "$parent/.$base.b10t-staging.notapid.x" ]
ok "a regular file of that shape stays" [ -f "$parent/.$base.b10t-staging.$dead.file" ]
kill $live 2>/dev/null
wait $live 2>/dev/null

done_testing
