"""Copy the front-end files the web UI serves from node_modules into web/static/vendor.

`make install` runs `npm ci` (package.json, package-lock.json), builds the process
modeler's bundle into web/static/vendor/modeler/ with esbuild (web/modeler/), and then
runs this script, so the UI never loads a library from the internet at run time. Only the
files the pages use are copied; web/static/vendor is generated (and ignored by git).

    python3 scripts/vendor_assets.py [--node-modules DIR] [--dest DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# package -> (files, relative to the package) copied into vendor/<package>/, same layout.
ASSETS = {
    "bpmn-js": [
        "dist/bpmn-navigated-viewer.production.min.js",
        "dist/assets/diagram-js.css",
        "dist/assets/bpmn-js.css",
        "dist/assets/bpmn-font/css/bpmn.css",
        "dist/assets/bpmn-font/font/bpmn.eot",
        "dist/assets/bpmn-font/font/bpmn.woff2",
        "dist/assets/bpmn-font/font/bpmn.woff",
        "dist/assets/bpmn-font/font/bpmn.ttf",
        "dist/assets/bpmn-font/font/bpmn.svg",
        "LICENSE",
        "package.json",  # says which version is served
    ],
    # The process modeler's decision-table editor (bundled into vendor/modeler/modeler.js
    # by esbuild with bpmn-js; only its stylesheets are copied).
    "dmn-js": [
        "dist/assets/dmn-js-shared.css",
        "dist/assets/dmn-js-drd.css",
        "dist/assets/dmn-js-decision-table.css",
        "dist/assets/dmn-js-decision-table-controls.css",
        "dist/assets/dmn-js-literal-expression.css",
        "dist/assets/dmn-js-boxed-expression.css",
        "dist/assets/dmn-js-boxed-expression-controls.css",
        "dist/assets/dmn-font/css/dmn-embedded.css",
        "LICENSE",
        "package.json",
    ],
}


def vendor(node_modules: Path, dest: Path) -> list[Path]:
    """Copy ASSETS into dest (each package's folder replaced whole); the files written."""
    missing = [
        node_modules / package / name
        for package, names in ASSETS.items()
        for name in names
        if not (node_modules / package / name).is_file()
    ]
    if missing:
        listed = "\n  ".join(str(m) for m in missing)
        raise SystemExit(f"missing front-end files (run `npm ci` first):\n  {listed}")
    written = []
    for package, names in ASSETS.items():
        target = dest / package
        if target.exists():
            shutil.rmtree(target)
        for name in names:
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(node_modules / package / name, out)
            written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", type=Path, default=ROOT / "node_modules")
    parser.add_argument("--dest", type=Path, default=ROOT / "web" / "static" / "vendor")
    args = parser.parse_args(argv)
    written = vendor(args.node_modules, args.dest)
    print(f"vendored {len(written)} front-end files into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
