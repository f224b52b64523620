#!/usr/bin/env bash
# Class names and reports for scripts, from CSV import to eval and predict:
#  - `import csv` of string labels keeps the names (class_names); training
#    records them in final.h5; `eval` prints the per-class table by name and
#    `eval --json FILE` writes the report (figures, per-class figures, class
#    names), byte-identical on 1 and 2 ranks; `predict` writes a class_name
#    column (CSV) or a class_names attribute (HDF5) beside the class id;
#  - a model without class names falls back to the data file's;
#  - a model whose saved config has no data.train (or no layers) is still
#    accepted by eval and predict, with the same results.
# Usage: eval_report_test.sh LOCKSTEP_BIN MODEL_TOOL_BIN
set -euo pipefail
bin=$1 tool=$2
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run() { local np=$1; shift; timeout 120 "${mpi[@]}" -np "$np" "$bin" "$@"; }

# 300 rows of 4 features; three classes named in order of first appearance:
# "setosa", "versi, color" (a comma: quoted), "virginica".
awk 'BEGIN { srand(5); print "a,b,c,d,species";
  split("setosa|\"versi, color\"|virginica", n, "|");
  for (i = 0; i < 300; i++) { k = i % 3; printf "%.4f,%.4f,%.4f,%.4f,%s\n",
    k + rand(), rand(), 2 - k + rand(), rand(), n[k + 1] } }' >"$work/iris.csv"
"$bin" import csv --input "$work/iris.csv" --out "$work/iris.h5" >/dev/null
"$bin" train --dist.device cpu --model.layers "dense(8), relu, dense(3)" --data.train "$work/iris.h5" \
  --train.epochs 5 --train.batch_size 16 --optim.lr 0.05 --log.dir "$work/runs" --log.name iris \
  --log.progress off --checkpoint.every_epochs 0 >/dev/null
model="$work/runs/iris/final.h5"
[[ $("$tool" class-names "$model" | paste -sd'|') == "setosa|versi, color|virginica" ]] \
  || fail "final.h5 does not record the class names: $("$tool" class-names "$model" | paste -sd'|')"
echo "ok   final.h5 records the training data's class names"

# ---- eval: names in the table, --json on 1 and 2 ranks
run 1 eval --device cpu --model "$model" --data "$work/iris.h5" --json "$work/r1.json" >"$work/e1.txt"
run 2 eval --device cpu --model "$model" --data "$work/iris.h5" --json "$work/r2.json" >"$work/e2.txt"
for name in setosa "versi, color" virginica; do
  grep -q "^$name " "$work/e1.txt" || { cat "$work/e1.txt"; fail "eval prints no row for class '$name'"; }
done
cmp "$work/r1.json" "$work/r2.json" || fail "eval --json differs between 1 and 2 ranks"
acc=$(awk '/^accuracy/ { print $2 }' "$work/e1.txt")
python3 - "$work/r1.json" "$acc" <<'PY' || fail "eval --json report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["task"] == "classification" and r["samples"] == 300, r
assert r["class_names"] == ["setosa", "versi, color", "virginica"], r["class_names"]
assert [c["name"] for c in r["classes"]] == r["class_names"] and [c["id"] for c in r["classes"]] == [0, 1, 2]
assert sum(c["support"] for c in r["classes"]) == 300 and [sum(row) for row in r["confusion"]] == [c["support"] for c in r["classes"]]
assert abs(r["accuracy"] - float(sys.argv[2])) < 1e-4 and r["correct"] == sum(r["confusion"][i][i] for i in range(3))
assert r["top_k"]["k"] == 3 and 0 <= r["macro_f1"] <= 1 and r["data"].endswith("iris.h5")
print(f"ok   eval --json: accuracy {r['accuracy']:.4f}, classes {r['class_names']}")
PY
rc=0
run 2 eval --device cpu --model "$model" --data "$work/iris.h5" --json "$work/iris.h5" >"$work/bad.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q "is the input file" "$work/bad.log" || fail "eval --json accepted the data file"
echo "ok   eval --json refuses to overwrite its input"

# ---- predict: the class name beside the id
run 2 predict --device cpu --model "$model" --data "$work/iris.h5" --out "$work/p.csv" >/dev/null
[[ $(head -1 "$work/p.csv") == "class,class_name,prob_0,prob_1,prob_2" ]] || fail "header: $(head -1 "$work/p.csv")"
python3 - "$work/p.csv" <<'PY' || fail "predict class_name column"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
names = ["setosa", "versi, color", "virginica"]
assert len(rows) == 300 and all(r[1] == names[int(r[0])] for r in rows), rows[:3]
assert {r[1] for r in rows} == set(names), {r[1] for r in rows}
print("ok   predict CSV: class_name matches the class id in all 300 rows")
PY
run 2 predict --device cpu --model "$model" --data "$work/iris.h5" --out "$work/p.h5" >/dev/null
h5dump -a /class_names "$work/p.h5" | grep -q '"versi, color"' || fail "predict HDF5 has no class_names attribute"
echo "ok   predict HDF5: class_names attribute"

# ---- a model without class names: the data file's
"$tool" drop-key "$model" "$work/nonames.h5" class_names
[[ -z $("$tool" class-names "$work/nonames.h5") ]] || fail "model_tool kept the names"
run 1 eval --device cpu --model "$work/nonames.h5" --data "$work/iris.h5" >"$work/e3.txt"
grep -q "^virginica " "$work/e3.txt" || fail "eval does not fall back to the data file's names"
echo "ok   a model without names: eval uses the data file's"

# ---- a saved config without data.train (and without model.layers)
"$tool" drop-key "$model" "$work/notrain.h5" data.train
"$tool" drop-key "$work/notrain.h5" "$work/nolayers.h5" model.layers
for m in notrain nolayers; do
  run 2 eval --device cpu --model "$work/$m.h5" --data "$work/iris.h5" >"$work/e_$m.txt" 2>&1 \
    || { cat "$work/e_$m.txt"; fail "eval refused a model without $m"; }
  diff <(tail -n +2 "$work/e2.txt") <(tail -n +2 "$work/e_$m.txt") >/dev/null \
    || fail "eval of $m.h5 differs from final.h5's"
  run 2 predict --device cpu --model "$work/$m.h5" --data "$work/iris.h5" --out "$work/p_$m.csv" \
    >"$work/p_$m.log" 2>&1 || { cat "$work/p_$m.log"; fail "predict refused a model without $m"; }
  cmp "$work/p.csv" "$work/p_$m.csv" || fail "predictions of $m.h5 differ from final.h5's"
  echo "ok   eval and predict accept a model whose config lacks ${m#no} (same results)"
done
echo "PASS"
