# Shared helpers for certferry's test-server scripts (sourced, not executed).
# shellcheck shell=bash

CERTFERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIXTURES="$CERTFERRY_ROOT/fixtures"
PROG=${PROG:-$(basename "$0")}

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] \
            || die "$t not found; run scripts/install-test-deps"
    done
}

# abspath DIR: absolute path of an existing directory
abspath() { (cd "$1" && pwd); }

# free_ports N: print N distinct random TCP ports that nothing on this machine uses right
# now (per /proc/net/tcp{,6}), from 20000-32767: below Linux's ephemeral range, so outgoing
# connections never take them. Random so that parallel runs rarely pick the same ones;
# callers retry when their server fails to bind (two servers cannot bind one port).
free_ports() {
    local n=$1 used p out=() lo=20000 span=12768 tries=0
    local f _sl local_addr _rest
    used=" "
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        while read -r _sl local_addr _rest; do
            [[ "$local_addr" == *:* ]] || continue
            used="$used$((16#${local_addr##*:})) "
        done < "$f"
    done
    while [ ${#out[@]} -lt "$n" ]; do
        tries=$((tries + 1)); [ $tries -lt 10000 ] || die "no free TCP port found"
        p=$((lo + ${SRANDOM:-$((RANDOM * 32768 + RANDOM))} % span))
        [[ "$used" == *" $p "* ]] && continue
        used="$used$p "
        out+=("$p")
    done
    echo "${out[*]}"
}

# port_open ADDR PORT: true when something accepts TCP connections there
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PID: running and not a zombie (a daemonized server is re-parented to PID 1,
# which may take a while to reap it; a zombie holds no ports or files any more)
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
    [ "$st" != Z ] && [ -n "$st" ]
}

# group_alive PGID: some non-zombie process is left in the process group
group_alive() { ps -o stat= -g "$1" 2>/dev/null | grep -qv '^Z'; }

# stop_pid PID NAME [TIMEOUT_S]: SIGTERM, wait, then SIGKILL
stop_pid() {
    local pid=$1 name=$2 timeout=${3:-10} i
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 20; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.05
    done
    note "$name (pid $pid) did not stop after ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do pid_alive "$pid" || return 0; sleep 0.05; done
    die "$name (pid $pid) is still running"
}

# write_env FILE NAME=VALUE...: a shell-sourceable file, one NAME=VALUE a line; values are
# bare when they hold only [A-Za-z0-9_./:=,@+%-], else single-quoted
write_env() {
    local file=$1 kv; shift
    : > "$file.tmp"
    local k v q="'"
    for kv in "$@"; do
        k=${kv%%=*} v=${kv#*=}
        if [[ "$v" =~ ^[A-Za-z0-9_./:=,@+%-]*$ ]]; then
            printf '%s=%s\n' "$k" "$v" >> "$file.tmp"
        else
            printf '%s=%s\n' "$k" "'${v//$q/$q\\$q$q}'" >> "$file.tmp"
        fi
    done
    mv "$file.tmp" "$file"
}
