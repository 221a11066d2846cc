"""Moved: the question catalogue is ``lrcourse.grading.questions``.

Kept only for ``lrcourse.widgets`` and its tests, which read the catalogue's mistakes
under this name; they should import ``lrcourse.grading.questions``, then this file goes.
"""
from .grading.questions import QUESTIONS, STEMS, Mistake, Question, find_target, question  # noqa: F401
