"""Token events that repeat one byte template, read without parsing their whole JSON.

vLLM writes every token as the same bytes but for its text: `data: {"id":…,"choices":[{"index":0,
"delta":{"content":"<text>"},"logprobs":null,"finish_reason":null}]}`. Once one such line is proven
to be a template (probe strings put in place of its text parse back as the text, and as nothing
else), a later line with the same bytes around one JSON string literal means exactly
`Delta(content=<that string>)`: only the literal is decoded. Any other line takes the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from json.decoder import scanstring

_TEXT_KEYS = ('"content"', '"text"')  # chat chunks, then text_completion chunks
# Two probes: text that follows both comes from the literal, not from the bytes around it.
_PROBES = {'probe \u2603 " \\ \n': b'"probe \\u2603 \\" \\\\ \\n"', "": b'""'}


class EventTemplate:
    """The bytes before and after the text's string literal in a content-only event line."""

    __slots__ = ("_start", "_stop", "prefix", "suffix")

    def __init__(self, prefix: bytes, suffix: bytes) -> None:
        self.prefix = prefix
        self.suffix = suffix
        self._start = len(prefix)
        self._stop = len(prefix) + len(suffix) + 2  # the shortest line: the literal `""`

    def text_of(self, line: bytes) -> str | None:
        """The text of `line` if it is this template around exactly one JSON string, else None."""
        if len(line) < self._stop or not line.startswith(self.prefix) or not line.endswith(self.suffix):
            return None
        try:
            # json.loads decodes bytes the same way; the cuts fall on ASCII quotes, so piecewise is whole.
            literal = line[self._start : len(line) - len(self.suffix)].decode("utf-8", "surrogatepass")
            if literal[0] != '"':
                return None
            text, end = scanstring(literal, 1)
        except ValueError:
            return None
        return text if end == len(literal) else None


def learn_template(line: bytes, text_alone: Callable[[bytes], str | None]) -> EventTemplate | None:
    """The template of `line`, if a probe proves where its text lies.

    `text_alone(line)` is the general parser's reading of a line that carries text and nothing
    else (no finish, usage, tool calls or logprobs), None for any other line.
    """
    try:
        decoded = line.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    for key in _TEXT_KEYS:
        at = decoded.rfind(key)
        if at < 0:
            continue
        start = at + len(key)
        while start < len(decoded) and decoded[start] in " \t\r\n:":
            start += 1
        if decoded[start : start + 1] != '"':
            continue
        try:
            _, end = scanstring(decoded, start + 1)
        except ValueError:
            continue
        template = EventTemplate(
            decoded[:start].encode("utf-8", "surrogatepass"), decoded[end:].encode("utf-8", "surrogatepass")
        )
        if all(
            text_alone(probe) == text and template.text_of(probe) == text
            for text, probe in (
                (text, template.prefix + literal + template.suffix) for text, literal in _PROBES.items()
            )
        ):
            return template
    return None
