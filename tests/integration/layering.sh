#!/usr/bin/env bash
# layering.sh — the layer rule of docs/architecture.md, checked on every quoted include under
# src/: a file may include its own module, any module of a lower layer, and the sideways edges
# listed in ALLOWED below (each with its reason); nothing else. It needs no build and no server.
#
#   bash tests/integration/layering.sh        self-test on tests/data/layering, then the real
#                                             tree ($FP_SRC/src, or ./src from the repo root)
#   bash tests/integration/layering.sh DIR    check DIR as a src/ tree only
#
# Prints `file:line: <module> includes <header> (<layer> <module> may not depend on <layer>
# <module>)` per violation and exits 1 when there is any. Only `#include "x/y.h"` lines count: system and
# library headers are <...>. The generated core/version.h is core (its first path component).
set -euo pipefail

# Layers, lowest first; a module may include modules of any lower layer.
declare -A LAYER_OF=(
  [core]=core
  [kafka]=service [xform]=service [parquet]=service [aws]=service [store]=service [ops]=service [pg]=service [redis]=service
  [connect]=stage [sink]=stage [lake]=stage [ingest]=stage [sim]=stage [aggregate]=stage
  [warehouse]=stage [check]=stage [serve]=stage
  [stack]=stack
  [cli]=cli
)
declare -A RANK=([core]=0 [service]=1 [stage]=2 [stack]=3 [cli]=4)

# Edges allowed besides "downward": `from to header` (header `*` = any header of `to`).
# The lake's edges are downward anyway; they are listed because they are the lake's contract.
ALLOWED=(
  "store aws *"                 # the S3 store signs its requests with the AWS client
  "sink connect connect/sink.h" # sinks plug into the runtime through the plugin interface only
  "lake parquet *"              # the lake writes and reads its tables with the Parquet codec
  "lake store *"                # raw objects and tables live in an object store
  "lake xform *"                # rows are split with the connectors' SplitArrayField transform
  "lake kafka *"                # lake watch consumes the objstore sink's object-committed events
  "lake ops *"                  # lake watch serves /metrics and /healthz
  "warehouse lake lake/lake.h"  # the loader reads the lake's catalog through its public view
  "warehouse check check/check.h" # the scheduler runs the data-quality checks as a task type
  "warehouse check check/alert.h" # missed deadlines alert through the checks' alert path
  "check lake lake/lake.h"      # reconcile counts the raw lake as the lake splits it, and the Parquet lake through its catalog
  "serve connect connect/status_client.h" # /pipeline shows the connect worker's connectors and tasks through the REST client `fleetpipe status` uses
)
# Not in the table because the layers already allow them: `stack` includes every stage (it
# composes them), `cli` includes everything below it, and src/main.c may include anything.

allowed_edge() { # from to header
  local e f t h
  for e in "${ALLOWED[@]}"; do
    read -r f t h <<<"$e"
    [[ $f == "$1" && $t == "$2" ]] && [[ $h == '*' || $h == "$3" ]] && return 0
  done
  return 1
}

# named MODULE: the module with its layer, "stage lake"; just "core" where they are one name.
named() {
  if [[ ${LAYER_OF[$1]} == "$1" ]]; then echo "$1"; else echo "${LAYER_OF[$1]} $1"; fi
}

# check DIR: print the violations under DIR (as DIR/<path>), return 1 when there is any.
check() {
  local dir=$1 bad=0 files=0 incs=0 path rel num text hdr mod tgt folder
  [[ -d $dir ]] || { echo "layering: $dir: no such directory" >&2; return 2; }
  while IFS= read -r path; do
    files=$((files + 1))
    rel=${path#"$dir"/}
    mod=${rel%%/*}
    [[ $rel == */* ]] || mod=${rel} # a file directly under src/
    while IFS=: read -r num text; do
      [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
      hdr=${BASH_REMATCH[1]}
      incs=$((incs + 1))
      [[ $rel == main.c ]] && continue # the program: wires everything together
      [[ $hdr == */* ]] || continue    # "x.h": the including file's own folder
      tgt=${hdr%%/*}
      if [[ -z ${LAYER_OF[$mod]:-} ]]; then
        echo "$path:$num: $mod includes $hdr ($mod is not a module of the layer table in tests/integration/layering.sh)"
        bad=1
        continue
      fi
      if [[ -z ${LAYER_OF[$tgt]:-} ]]; then
        echo "$path:$num: $mod includes $hdr ($tgt is not a module of the layer table in tests/integration/layering.sh)"
        bad=1
        continue
      fi
      if [[ $tgt == "$mod" ]]; then
        # Within a module anything goes, except that a sink plugin (src/sink/<name>/) includes
        # only its own folder: sinks do not reach into each other.
        [[ $mod == sink ]] || continue
        if [[ $rel == sink/*/* ]]; then
          folder=${rel#sink/}
          folder=sink/${folder%%/*}
          [[ $hdr == "$folder"/* ]] && continue
        else
          [[ $hdr != sink/*/* ]] && continue
          folder=sink
        fi
        echo "$path:$num: $folder includes $hdr (a sink plugin may include only its own folder)"
        bad=1
        continue
      fi
      ((RANK[${LAYER_OF[$tgt]}] < RANK[${LAYER_OF[$mod]}])) && continue
      allowed_edge "$mod" "$tgt" "$hdr" && continue
      echo "$path:$num: $mod includes $hdr ($(named "$mod") may not depend on $(named "$tgt"))"
      bad=1
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$path" || true)
  done < <(find "$dir" -type f \( -name '*.c' -o -name '*.h' -o -name '*.h.in' \) | LC_ALL=C sort)
  ((files > 0)) || { echo "layering: $dir: no source files" >&2; return 2; }
  ((bad)) || echo "layering: $dir: $files files, $incs quoted includes, no violations"
  return $bad
}

if (($# > 0)); then
  check "$1"
  exit
fi

SRC=${FP_SRC:-.}
[[ -d $SRC/src && -d $SRC/tests/data/layering ]] || {
  echo "FAIL run from the repo root or set FP_SRC to the source tree"
  exit 1
}
fails=0
# Self-test: the fake tree holds one allowed and one forbidden include; exactly the forbidden one
# is reported (paths as given, so run from its folder).
data=$SRC/tests/data/layering
if got=$(cd "$data" && check src 2>/dev/null); then
  echo "FAIL self-test: tests/data/layering/src passed; expected a violation"
  fails=1
elif [[ $got == "$(cat "$data/expected.txt")" ]]; then
  echo "ok   self-test: $got"
else
  echo "FAIL self-test: tests/data/layering/src reported"
  echo "$got"
  echo "     expected"
  cat "$data/expected.txt"
  fails=1
fi
if check "$SRC/src"; then
  echo "ok   src/ follows the layer rule"
else
  echo "FAIL src/ breaks the layer rule (docs/architecture.md, \"Layers\")"
  fails=1
fi
exit $fails
