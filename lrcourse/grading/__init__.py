"""The grading wing: ``check()``'s rules and the autograder, one module per job.

Each module imports only the library (``optimizers``, ``schedules``, ``runs``) and the
modules listed above it here, never one below it, nor ``lrcourse.feedback``:

* ``runners``    — the case runners: one loop per kind of question (numpy only);
* ``namespace``  — what graded code sees: restricted builtins, numpy, math, stand-in bases;
* ``child``      — the sandboxed child process (runs alone: numpy, runners, namespace);
* ``notebook``   — notebook extraction: the code a question grades, read statically;
* ``standins``   — the stand-in base classes, generated from the library's source;
* ``rules``      — the from-scratch rule on the syntax tree (``static_problems``);
* ``questions``  — the question catalogue: cases, references, known mistakes;
* ``predictions`` — graded predictions (read statically, answers measured with lrcourse), explain questions;
* ``verdicts``   — output comparison, first difference, matching mistakes;
* ``sandbox``    — sandbox folder, unprivileged user, kernel layers, running a child;
* ``scoring``    — one grading run's cases, points per question;
* ``reports``    — grades.csv and Gradescope's results.json;
* ``batch``      — grading a batch, and ``python -m lrcourse grade``;
* ``gradescope`` — the Gradescope bundle, ``python -m lrcourse gradescope``.

``lrcourse.feedback`` (``check()``) uses notebook, rules, standins, namespace, runners,
questions and verdicts: never the sandbox.
"""
