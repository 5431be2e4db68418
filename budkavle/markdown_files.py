"""Articles as files: YAML front matter for the fields, Markdown for the body."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from pydantic import ValidationError

from newsroom.schemas import ArticleIn

MAX_FILE_BYTES = 2 * 1024 * 1024


class FileError(Exception):
    """A file that cannot become an article; the message says why and where."""


def read_article(path: Path) -> ArticleIn:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise FileError(f"{path}: front matter is not valid YAML: {exc}") from None
    fields: dict[str, Any] = {key: _plain(value) for key, value in post.metadata.items()}
    if "body_markdown" in fields or "body_html" in fields:
        raise FileError(f"{path}: the body goes below the front matter, not in it")
    fields["body_markdown"] = post.content
    try:
        return ArticleIn.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'file'}: "
            f"{str(error['msg']).removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise FileError(f"{path}: {problems}") from None


def _plain(value: Any) -> Any:
    # YAML reads `2026-11-20` as a date; a date alone means midnight, local time.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value
