# generated-lib.sh: what scripts/regen-generated.sh and tests/run-generated.sh
# share about generated/ (generated/README.md). Sourced from the repository
# root.

# kept_whole NAME: whether generated/FULL lists the model.
kept_whole() { grep -qx -- "$1" generated/FULL; }

# generate_all GPTC DIR: every model's `gptc compile --no-compile` output
# into DIR/NAME; the first failure is printed and returned.
generate_all() {
    local m name out
    for m in models/*.yaml; do
        name=$(basename "$m" .yaml)
        if ! out=$("$1" compile "$m" --no-compile -o "$2/$name" 2>&1); then
            printf '%s: gptc compile --no-compile failed\n%s\n' "$m" "$out" >&2
            return 1
        fi
    done
}

# hashes DIR: "HASH  NAME/FILE" for every file of DIR/*/, sorted.
hashes() { (cd "$1" && find . -mindepth 2 -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum); }
