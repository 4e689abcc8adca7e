# shellcheck shell=bash
# Sourced by the bench scripts: replaces the section of bench/README.md
# between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->` (markers
# included) with the contents of a file, which carries its own markers.
#
#   replace_readme_section NAME SECTION_FILE
# Returns non-zero, with a message, if the README has no such markers.
replace_readme_section() {
    local name=$1 section=$2 readme=bench/README.md
    if ! grep -q "<!-- $name:begin" "$readme"; then
        echo "$readme has no $name markers" >&2
        return 1
    fi
    awk -v section="$section" -v begin="<!-- $name:begin" -v end="<!-- $name:end" '
        index($0, begin) == 1 { while ((getline line < section) > 0) print line; skip = 1; next }
        index($0, end) == 1 { skip = 0; next }
        !skip { print }
    ' "$readme" >"$readme.new"
    mv "$readme.new" "$readme"
}

# Prints the README section NAME of a run of bench/SCRIPT made with the
# arguments ARGS: its markers around when and with which command it was
# measured, DETAILS (the run's own settings, one or more lines; none if
# empty), the machine with VERSIONS and, if given, the load average LOAD
# before the run, then TABLE.
#   bench_section NAME SCRIPT DETAILS VERSIONS LOAD TABLE [ARGS...]
bench_section() {
    local name=$1 script=$2 details=$3 versions=$4 load=$5 table=$6 cpu
    shift 6
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    echo "<!-- $name:begin (written by bench/$script) -->"
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') with \`bench/$script${*:+ $*}\`"
    if [[ -n $details ]]; then
        echo "$details"
    fi
    echo "on $cpu, $(nproc) cores, Linux $(uname -r), $versions${load:+; load average $load before the run}."
    echo
    echo "$table"
    echo "<!-- $name:end -->"
}

# Puts SECTION_FILE into bench/README.md as section NAME and says so on
# stderr as PROGRAM; given WHY_NOT, leaves the README alone and says why.
# Returns non-zero if the README has no such section.
#   publish_bench_section NAME SECTION_FILE PROGRAM [WHY_NOT]
publish_bench_section() {
    local name=$1 section=$2 program=$3 why_not=${4:-} readme=bench/README.md
    if [[ -n $why_not ]]; then
        echo "$program: not writing $readme: $why_not" >&2
        return 0
    fi
    replace_readme_section "$name" "$section" || return 1
    echo "$program: wrote the table into $readme" >&2
}
