#!/usr/bin/env python3
"""Checks the module layering: every `import` of a package module in Sources/<M> (and
Tests/<M>Tests) is a dependency Package.swift declares for that target, and the library
targets follow the order of docs/modules.md (a module never imports one above it):

    Tensor <- NN <- Quant <- Llama;  NN <- Train, Eval (no Llama);  Lang knows no ML.

Reads the targets with `swift package dump-package`. Exit status 1 with one line per problem."""
import json, os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pkg = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                capture_output=True, text=True).stdout)
deps = {}
for t in pkg["targets"]:
    names = set()
    for d in t.get("dependencies", []):
        for kind in ("byName", "target", "product"):
            if kind in d:
                names.add(d[kind][0])
    deps[t["name"]] = (t["type"], names)
modules = set(deps)

# The library floors, lowest first; a module may import only modules on lower floors.
floors = [["LLXSystem", "CKernels"], ["Tensor", "Tokenizer", "Lang"], ["Checkpoint", "NN"], ["Quant", "Synth"], ["Llama", "Train", "Eval"],
          ["Commands"], ["REPL"], ["llx"]]
floor = {m: i for i, ms in enumerate(floors) for m in ms}
forbidden = {"Train": {"Llama", "Quant"}, "Eval": {"Llama", "Quant"},
             "Lang": modules - {"Lang", "LLXSystem"}, "LLXSystem": modules - {"LLXSystem"}, "Checkpoint": {"Llama", "Quant", "NN"}}

problems = []
for name, (kind, declared) in sorted(deps.items()):
    if kind == "system-target":
        continue
    folder = os.path.join(root, "Tests" if kind == "test" else "Sources", name)
    if kind == "regular" or kind == "executable":
        if name not in floor:
            problems.append(f"{name}: not placed on a floor in scripts/check_imports.py")
        for d in declared:
            if d in floor and name in floor and floor[d] >= floor[name]:
                problems.append(f"Package.swift: {name} depends on {d}, which is not below it")
            if d in forbidden.get(name, ()):
                problems.append(f"Package.swift: {name} must not depend on {d}")
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if not f.endswith(".swift"):
                continue
            path = os.path.join(dirpath, f)
            for n, line in enumerate(open(path, encoding="utf-8"), 1):
                m = re.match(r"\s*(?:@testable\s+)?import\s+(\w+)", line)
                if m and m.group(1) in modules and m.group(1) not in declared:
                    problems.append(f"{os.path.relpath(path, root)}:{n}: imports {m.group(1)}, not a dependency of {name}")

for p in problems:
    print(p)
print(f"check_imports: {len(problems)} problem(s) in {len(deps)} targets")
sys.exit(1 if problems else 0)
