"""Write the JSON Schema file of every message model into ``schemas/json/``.

Usage: ``python -m schemas.generate`` rewrites the files; ``python -m schemas.generate --check`` writes
nothing and exits 1 when a file is missing, stale or no longer generated (for CI).
Inputs get their validation schema (what ces-stream accepts), outputs their serialization schema
(what ces-stream writes, every field present).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from schemas.common import InputModel
from schemas.dead_letter import DeadLetter
from schemas.erasure_request import ErasureRequest
from schemas.examples import example_payload
from schemas.feedback_comment import FeedbackComment
from schemas.goal_event import GoalEvent
from schemas.goal_summary import GoalSummary
from schemas.high_effort_answer import HighEffortAnswer
from schemas.prompt_event import PromptEvent
from schemas.release_verdict import ReleaseVerdict
from schemas.survey_answer import SurveyAnswer
from schemas.survey_prompt import SurveyPrompt

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).resolve().parent / "json"
SCHEMA_SUFFIX = ".schema.json"

MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    "goal_event": GoalEvent,
    "survey_answer": SurveyAnswer,
    "survey_prompt": SurveyPrompt,
    "prompt_event": PromptEvent,
    "goal_summary": GoalSummary,
    "feedback_comment": FeedbackComment,
    "high_effort_answer": HighEffortAnswer,
    "release_verdict": ReleaseVerdict,
    "dead_letter": DeadLetter,
    "erasure_request": ErasureRequest,
}
"""File stem -> model; ``goal_event`` becomes ``goal_event.schema.json``."""


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one message model, with its example.

    :param model: a message class from `MESSAGE_MODELS`.
    :returns: the schema as a JSON-compatible dict.
    """
    mode: JsonSchemaMode = "validation" if issubclass(model, InputModel) else "serialization"
    schema = model.model_json_schema(mode=mode)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "examples": [example_payload(model)]}


def render_schemas() -> dict[str, str]:
    """Return the text of every schema file, as it must be on disk.

    :returns: file name -> content (sorted keys, indent 2, trailing newline).
    """
    return {
        f"{stem}{SCHEMA_SUFFIX}": json.dumps(json_schema(model), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for stem, model in MESSAGE_MODELS.items()
    }


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Return the schema files in ``directory`` that regeneration would create, change or delete.

    :param directory: where the schema files live.
    :returns: sorted file names; empty when everything is current.
    """
    wanted = render_schemas()
    stale = [
        name
        for name, text in wanted.items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]
    stale += [path.name for path in directory.glob(f"*{SCHEMA_SUFFIX}") if path.name not in wanted]
    return sorted(stale)


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Bring the schema files in ``directory`` up to date, deleting schema files no model produces.

    :param directory: where the schema files live; created when missing.
    :returns: sorted names of the files written or deleted.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render_schemas()
    changed = stale_files(directory)
    for name in changed:
        path = directory / name
        if name in wanted:
            path.write_text(wanted[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator from the command line.

    :param argv: arguments without the program name; ``sys.argv[1:]`` when None.
    :returns: the exit status: 0, or 1 when ``--check`` finds stale files.
    """
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would change")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema directory (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.dir)
        for name in stale:
            print(f"stale: {args.dir / name} (run: python -m schemas.generate)", file=sys.stderr)
        return 1 if stale else 0
    for name in write_schemas(args.dir):
        print(f"updated: {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
