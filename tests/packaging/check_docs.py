#!/usr/bin/env python3
"""The documentation that ships with the package cannot drift from the code:

    check_docs.py SOURCE_DIR MAN_DIR ROAMCTL

- every man page renders without a single groff warning (what lintian's groff-message looks for);
- every configuration key the loader accepts (tools/config/schema.cpp, its one list) is documented in roamd.toml(5)
  under its own section;
- roamctl's bash completion offers exactly the subcommands and options `roamctl --help` lists.
Prints one line per problem; exit 1 when there is any.
"""
import os
import re
import subprocess
import sys

src, man_dir, roamctl = sys.argv[1:4]
if not os.path.exists(roamctl):
    # The sanitizer build (tools/test) builds the unit tests only: no roamctl, no man pages to check there.
    print(f"SKIP: {roamctl} is not built in this tree")
    sys.exit(77)
problems = []

pages = sorted(f for f in os.listdir(man_dir) if re.search(r"\.[58]$", f))
if len(pages) != 3:
    problems.append(f"expected 3 man pages in {man_dir}, found {pages}")
for page in pages:
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", os.path.join(man_dir, page)],
                       capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    for line in r.stderr.splitlines():
        problems.append(f"{page}: {line}")
    if r.returncode != 0:
        problems.append(f"{page}: man exited {r.returncode}")

with open(os.path.join(src, "tools/config/schema.cpp")) as f:
    keys = re.findall(r'\{"(\w+)", "(\w+)"\}', f.read())
if len(keys) < 40:
    problems.append(f"only {len(keys)} keys read from schema.cpp: has its format changed?")
with open(os.path.join(man_dir, "roamd.toml.5")) as f:
    toml5 = f.read()
blocks = {}
for m in re.finditer(r"^\.SS \\?\[+(\w+)\]+.*$", toml5, re.M):
    end = toml5.find("\n.SS ", m.end())
    blocks.setdefault(m.group(1), toml5[m.end():end if end > 0 else len(toml5)])
for section, key in keys:
    block = blocks.get(section)
    if block is None:
        problems.append(f"roamd.toml(5) has no section [{section}] (key {section}.{key})")
    elif not re.search(r"\\fB" + re.escape(key).replace("_", r"_(?:\\:)?") + r"\\fR", block):
        problems.append(f"roamd.toml(5): [{section}] does not document {key}")

help_text = subprocess.run([roamctl, "--help"], capture_output=True, text=True).stdout
commands = set(re.findall(r"^  (\w+) {2,}", help_text.split("Subcommands:")[1], re.M))
options = set(re.findall(r"^  (?:-\w,)?(--[\w-]+)", help_text.split("Subcommands:")[0], re.M))
with open(os.path.join(src, "tools/roamctl/roamctl.bash-completion")) as f:
    completion = f.read()
offered_commands = set(re.search(r'local commands="([^"]*)"', completion).group(1).split())
offered_options = set(re.search(r'local options="([^"]*)"', completion, re.S).group(1).split())
if offered_commands != commands:
    problems.append(f"completion commands {sorted(offered_commands)} != roamctl --help's {sorted(commands)}")
if offered_options != options:
    problems.append(f"completion options {sorted(offered_options)} != roamctl --help's {sorted(options)}")

for p in problems:
    print(p)
print(f"{len(pages)} man pages, {len(keys)} configuration keys, {len(commands)} commands and {len(options)} options "
      f"checked: {'ok' if not problems else str(len(problems)) + ' problem(s)'}")
sys.exit(1 if problems else 0)
