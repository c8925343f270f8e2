# Shared helpers for bin/ service scripts. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="${WATCHPOINT_VAR:-$ROOT/var}"
CACHE="${WATCHPOINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/watchpoint}"

say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { say "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG... : install Debian packages when root, otherwise say exactly what to run.
apt_install() {
    if is_root; then
        say "installing $* with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
            DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
        }
    else
        die "missing system packages; run as root: apt-get install -y $*"
    fi
}

# pid_alive FILE : true when FILE names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# port_owner ADDR PORT : pid listening on ADDR:PORT (empty when free).
port_owner() {
    ss -H -ltnp "sport = :$2" 2>/dev/null | awk -v a="$1:$2" '$4 == a || $4 == "0.0.0.0:'"$2"'" || $4 == "*:'"$2"'" {print}' \
        | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2
}
port_in_use() { ss -H -ltn "sport = :$2" 2>/dev/null | awk '{print $4}' | grep -qE "^($1|0\.0\.0\.0|\*|\[::\]):$2$"; }

# wait_for SECONDS DESCRIPTION COMMAND... : poll COMMAND until it succeeds.
wait_for() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.3
    done
}

# metrics_dir_clear : empty prometheus-client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR,
# default var/prometheus; config/env.py, also from .env) before this host's processes start. Only
# its *.db files: never run while those processes run (their counters would vanish from /metrics).
metrics_dir_clear() {
    local dir
    dir="$("$ROOT/.venv/bin/python" -c 'from config.env import get_settings; print(get_settings().prometheus_multiproc_dir.resolve())')"
    mkdir -p "$dir"
    find "$dir" -maxdepth 1 -name '*.db' -type f -delete
}
