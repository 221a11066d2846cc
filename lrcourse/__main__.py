"""Command line: ``python -m lrcourse {verify,exercises,grade,gradescope} ...``.

* ``verify``     — every optimizer and schedule against torch; a PASS/FAIL table.
* ``exercises``  — generate ``exercises/`` from ``solutions/`` (``--check`` for CI).
* ``grade``      — score submissions in isolated subprocesses; Gradescope JSON + CSV.
* ``gradescope`` — build the Gradescope autograder bundle.
"""
import sys

USAGE = __doc__


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "verify":
        from .verify import main as run
    elif command == "exercises":
        from .exercises import main as run
    elif command == "grade":
        from .grading.batch import main as run
    elif command == "gradescope":
        from .grading.gradescope import gradescope_main as run
    else:
        print(f"unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
