#!/usr/bin/env bash
# The README's example INI block (### train) says the truth about defaults:
# every key in it is a configuration key, and every value that is not the
# key's default (as `lockstep train --help` prints it) carries a comment
# "[default X]" with that default ("[no default ...]" / "[default: none]" for
# keys whose default is empty).
# Usage: readme_ini_test.sh LOCKSTEP_BIN SOURCE_DIR
set -uo pipefail
bin=$1
src=$2
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
"$bin" train --help >"${TMPDIR:-/tmp}/readme_ini_help.$$" || { echo "FAIL: lockstep train --help"; exit 1; }
python3 - "${TMPDIR:-/tmp}/readme_ini_help.$$" "$src/README.md" <<'PY'
import re, sys
help_text = open(sys.argv[1]).read()
defaults = {}
key = None
for line in help_text.split("\n"):
    m = re.match(r"  --([a-z_]+\.[a-z_0-9]+) arg\s*(.*)$", line)
    if m:
        key = m.group(1)
        defaults[key] = m.group(2)
    elif key and line.startswith(" " * 20):
        defaults[key] += " " + line.strip()
    else:
        key = None
for k, h in defaults.items():
    m = re.search(r"\[([^\[\]]*)\]\s*$", h.strip())
    defaults[k] = m.group(1) if m else ""
readme = open(sys.argv[2]).read()
block = readme[readme.index("### train"):]
block = block[block.index("```ini") + 6:]
block = block[:block.index("```")]
section, bad, checked = None, [], 0
for line in block.split("\n"):
    m = re.match(r"\[(\w+)\]\s*$", line)
    if m:
        section = m.group(1)
        continue
    m = re.match(r"(\w+) =([^#]*)(#.*)?$", line)
    if not m:
        continue
    key, value, comment = f"{section}.{m.group(1)}", m.group(2).strip(), m.group(3) or ""
    checked += 1
    if key not in defaults:
        bad.append(f"{key}: not a configuration key")
        continue
    d = defaults[key]
    if value == d:
        continue
    if d == "":
        ok = "[no default" in comment or "[default: none]" in comment
    else:
        ok = re.search(r"\[default " + re.escape(d) + r"[\]: ]", comment) is not None
    if not ok:
        bad.append(f"{key} = {value}: the default is '{d}', the comment does not say so ({comment.strip()!r})")
for b in bad:
    print("FAIL", b)
print(f"{checked} keys of the README's INI block checked, {len(bad)} mislabelled")
sys.exit(1 if bad else 0)
PY
rc=$?
rm -f "${TMPDIR:-/tmp}/readme_ini_help.$$"
exit $rc
