# shellcheck shell=bash
# Sourced by the bench scripts: the servers they start, stopped and waited
# for the same way. Errors go through the script's own `die`.
#
#   stop_process PID [LIMIT]
# SIGTERM, up to LIMIT seconds (default 10) to exit, then SIGKILL; returns
# the process's exit status.
stop_process() {
    local pid=$1 limit=${2:-10} status=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((limit * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

#   wait_until_serving NAME PID SOCKET LOG [READY_LINE]
# Waits (at most 60 s) until the server's socket exists and, if given, its
# log has a line starting with READY_LINE; dies with the log if the server
# exited instead or never got there.
wait_until_serving() {
    local name=$1 pid=$2 socket=$3 log=$4 ready_line=${5:-}
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || {
            cat "$log" >&2
            die "$name exited before it was ready"
        }
        if [[ -S $socket ]] && { [[ -z $ready_line ]] || grep -q "^$ready_line" "$log"; }; then
            return 0
        fi
        sleep 0.1
    done
    cat "$log" >&2
    die "$name not ready after 60 s"
}
