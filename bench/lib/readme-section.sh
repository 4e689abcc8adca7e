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
