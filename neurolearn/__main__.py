"""``python -m neurolearn`` and the ``neurolearn`` command: Ctrl-C while the command is still loading prints
"interrupted" (exit 130), not a traceback."""
import sys


def entry_point() -> int:
    """Load the command line and run it."""
    try:
        from neurolearn.cli import main
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(entry_point())
