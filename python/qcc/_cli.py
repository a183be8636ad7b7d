"""The `qcc` command the wheel installs: the Rust command line itself, not a re-implementation."""

import sys

from ._qcc import main as _main


def main() -> None:
    sys.exit(_main(["qcc", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
