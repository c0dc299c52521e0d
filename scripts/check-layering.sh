#!/usr/bin/env bash
# Fails when the policy (QBalloonRules) or the core (QBalloonCore) could pull in SwiftNIO, or a module that does
# I/O over sockets, through any path of their dependency closure: targets of this package, products of other
# packages, and (conservatively) everything those packages depend on. Run by `make test` before it builds.
set -euo pipefail
cd "$(dirname "$0")/.."
describe=$(mktemp)
packages=$(mktemp)
trap 'rm -f "$describe" "$packages"' EXIT
swift package describe --type json >"$describe"
swift package show-dependencies --format json >"$packages"
python3 - "$describe" "$packages" <<'PY'
import json, sys
describe = json.load(open(sys.argv[1]))
tree = json.load(open(sys.argv[2]))

# Root targets: name -> (target dependencies, product dependencies).
targets = {t["name"]: (t.get("target_dependencies", []), t.get("product_dependencies", [])) for t in describe["targets"]}

# Every package of the graph, with the packages it depends on (package level: conservative).
package_deps = {}
product_package = {}
def walk(node):
    identity = node["identity"]
    package_deps[identity] = [d["identity"] for d in node.get("dependencies", [])]
    for d in node.get("dependencies", []):
        walk(d)
walk(tree)

# Which package each external product comes from: read each package's manifest once.
import subprocess, os
def products_of(path):
    try:
        out = subprocess.run(["swift", "package", "--package-path", path, "dump-package"], capture_output=True, text=True, check=True).stdout
        return [p["name"] for p in json.loads(out)["products"]]
    except Exception:
        return []
def paths(node, found):
    found[node["identity"]] = node["path"]
    for d in node.get("dependencies", []):
        paths(d, found)
    return found
for identity, path in paths(tree, {}).items():
    if identity == tree["identity"]:
        continue
    for product in products_of(path):
        product_package.setdefault(product, identity)

FORBIDDEN_PACKAGES = {"swift-nio", "swift-nio-extras", "swift-nio-http2", "swift-nio-ssl", "swift-nio-transport-services", "swift-service-lifecycle", "swift-prometheus"}
FORBIDDEN_TARGETS = {"QBalloonQMP", "QBalloon", "QBalloonDaemon", "QBalloonFakeQMP", "QBalloonJSON", "CJansson"}

def closure(root):
    seen_targets, seen_packages, path_to = set(), set(), {}
    stack = [(root, [root])]
    while stack:
        name, path = stack.pop()
        if name in seen_targets:
            continue
        seen_targets.add(name)
        path_to[name] = path
        deps, products = targets.get(name, ([], []))
        for d in deps:
            stack.append((d, path + [d]))
        for p in products:
            package = product_package.get(p, "?")
            pstack = [(package, path + [f"{p} ({package})"])]
            while pstack:
                pkg, ppath = pstack.pop()
                if pkg in seen_packages:
                    continue
                seen_packages.add(pkg)
                path_to["package:" + pkg] = ppath
                for q in package_deps.get(pkg, []):
                    pstack.append((q, ppath + [q]))
    return seen_targets, seen_packages, path_to

failed = False
for root in ["QBalloonCore", "QBalloonRules"]:
    seen_targets, seen_packages, path_to = closure(root)
    bad = sorted((seen_targets & FORBIDDEN_TARGETS) | {"package:" + p for p in seen_packages & FORBIDDEN_PACKAGES})
    if "?" in seen_packages:
        print(f"check-layering: {root}: a product of unknown origin in its closure", file=sys.stderr)
        failed = True
    for item in bad:
        print(f"check-layering: {root} depends on {item}: " + " -> ".join(path_to[item]), file=sys.stderr)
        failed = True
    if not bad:
        packages = ", ".join(sorted(seen_packages)) or "none"
        print(f"check-layering: {root}: targets {', '.join(sorted(seen_targets))}; packages {packages}: no NIO")
sys.exit(1 if failed else 0)
PY
