"""Guided lessons: the article as a course, checked against the real engine.

- `model`: `Lesson`, `Step`, `Check`, `Command`, `Problem` (typed, immutable, with lines).
- `loader`: read and validate lesson files (`read_dir`, `load_course`, `load_lesson`).
- `checks`: the declarative checks (`CHECKS`) and `evaluate` against an `Engine`.
- `runner`: `Sandbox` (a throwaway store), `LessonRun` (step by step), `run_auto`.
- `attempt`: one step's answer judged in a sandbox brought to its start (`lesson try`).
- `commands`: `layerlab lesson ls|check|run|try` for the CLI.
"""
