"""Execute chapters top to bottom and store their outputs, as
the book commits them.

  python tools/execute_notebooks.py book/01_pipeline.ipynb [more.ipynb ...]
  python tools/execute_notebooks.py --all

Runs each notebook in a fresh kernel with progress bars off
(KD_LIB_PROGRESS=0), writes it back in place, and prints how long it took.
Use this (not "Run all" in an editor that may skip or reorder cells) before
committing a chapter.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def execute(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument(
        "--all", action="store_true", help="every notebook under book/"
    )
    parser.add_argument(
        "--timeout", type=int, default=600, help="seconds per cell"
    )
    args = parser.parse_args()
    paths = (
        sorted((ROOT / "book").glob("*.ipynb"))
        if args.all
        else args.notebooks
    )
    if not paths:
        parser.error("name notebooks or pass --all")
    os.environ["KD_LIB_PROGRESS"] = "0"
    for path in paths:
        print(f"{execute(path, args.timeout):6.1f} s  {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
