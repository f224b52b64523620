# Sourced by the CLI tests. error_ranks FILE: how many distinct ranks the error
# lines of FILE name. An error every rank has is printed once by rank 0 as
# "lockstep CMD: error on ranks 0-3,5: ..."; one rank's as "error on rank 1: ...".
error_ranks() {
  grep -oE "error on ranks? [0-9][0-9,-]*:" "$1" | sed -E 's/error on ranks? //; s/:$//' | tr ',' '\n' |
    awk -F- '{ e = NF > 1 ? $2 : $1; for (r = $1; r <= e; r++) print r }' | sort -un | wc -l
}
