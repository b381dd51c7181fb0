"""The ``switchboard-adapter`` command, kept apart from the SDK package so
it runs under ordinary Python (the SDK imports the component's bindings,
which exist only inside componentize-py).

- ``switchboard-adapter build APP [-o OUT.wasm] [--wit DIR]``: make the
  module APP (its ``Adapter`` class) a component of ``adapter-world`` with
  componentize-py. APP's directory and the SDK are on its path.
- ``switchboard-adapter bindings DIR``: write the WIT's Python bindings
  (``wit_world``) into DIR, so unit tests and type checkers can import the
  SDK outside a component.

The WIT is the one this SDK targets unless ``--wit`` names another.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

WORLD = "adapter-world"
SITE = Path(__file__).resolve().parent.parent
BUNDLED_WIT = SITE / "switchboard_adapter" / "wit"


def _componentize_py() -> str:
    beside = Path(sys.executable).parent / "componentize-py"
    found = str(beside) if beside.exists() else shutil.which("componentize-py")
    if found is None:
        sys.exit("switchboard-adapter: componentize-py is not installed (pip install 'componentize-py==0.25.*')")
    return found


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-adapter")
    parser.add_argument("--wit", default=str(BUNDLED_WIT), help="the WIT directory")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build an adapter component")
    build.add_argument("app", help="the app module's path (app.py) or name (app)")
    build.add_argument("-o", "--out", help="the .wasm to write (default: APP.wasm)")
    bindings = commands.add_parser("bindings", help="write the WIT's Python bindings")
    bindings.add_argument("dir", help="where to write them")
    args = parser.parse_args(argv)

    base = [_componentize_py(), "-d", args.wit, "-w", WORLD]
    if args.command == "bindings":
        return subprocess.run([*base, "bindings", args.dir]).returncode

    app = Path(args.app)
    module = app.stem if app.suffix == ".py" else app.name
    app_dir = (app.parent if app.suffix == ".py" else Path(".")).resolve()
    out = Path(args.out or f"{module}.wasm").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [*base, "componentize", module, "-p", str(app_dir), "-p", str(SITE), "-o", str(out)]
    result = subprocess.run(command)
    if result.returncode == 0:
        print(f"built {out} ({out.stat().st_size / 1048576:.1f} MiB)", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
