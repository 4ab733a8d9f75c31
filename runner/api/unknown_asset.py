"""Does a refused generation say that its imageUrl names no (longer) known asset?

1min.ai forgets uploads (they expire), and says so in its own words: `400 imageUrl '...' is not
a known asset`. Other gateways and versions say "asset not found", `ASSET_NOT_FOUND`, "the file
does not exist", "upload expired", `NoSuchKey`, a 422 whose `loc` ends in `imageUrl`... A run
that misses one wording fails that job on every run, so the test is broad: a refusal (400, 404,
410 or 422, any other 4xx but the key's, the credits' and the rate's) whose text, JSON or not,
puts a word for the upload next to a word for "unknown". A 404 or 410 on a generation always
counts: the generation route exists, so what is not found is what it names.

A wrong guess costs one upload and one refused request (a refusal is not charged); a missed
wording costs the job. The wordings are listed in README ("A forgotten upload").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

# What a generation's imageUrl names, in the words APIs use for it.
_NOUN = (
    r"(?:source image|image url|image|asset|file|upload(?:ed file)?|media|resource|object|key)s?"
)
# Nouns that name the upload itself: only these take the weaker "invalid" ("invalid image size"
# is about the size).
_UPLOAD_NOUN = r"(?:image url|asset|upload(?:ed file)?|file)s?"
# "... not found", after the noun.
_UNKNOWN_AFTER = (
    r"(?:(?:was |is |were |are )?not found|(?:could|can) not be found"
    r"|(?:does|do|did) not exist|not exists?|no longer (?:exists?|available|valid)"
    r"|(?:is |was )?unknown|(?:has |have )?expired|(?:is |are )?missing"
    r"|(?:was |has been |been )?(?:deleted|removed|purged|evicted)|(?:is )?gone"
    r"|(?:is |was )?not (?:recogni[sz]ed|known|available|accessible)"
    r"|(?:has |have |was |is )?not (?:been |yet )?uploaded"
    r"|(?:could|can) not be (?:fetched|downloaded|retrieved|loaded|accessed|resolved))"
)
# "unknown ...", before the noun.
_UNKNOWN_BEFORE = (
    r"(?:unknown|non ?existent|non ?existing|missing|expired|deleted|no such|not a known"
    r"|(?:could not|can not|unable to|failed to) (?:find|locate|resolve|fetch|download|retrieve"
    r"|load|access)|(?:no|not an?) (?:existing|known|valid))(?: (?:the|a|an|any|your|this|that))?"
)
_WEAK_BEFORE = r"(?:invalid|unrecogni[sz]ed|bad)"
_WEAK_AFTER = r"(?:is |was )?(?:invalid|not valid)"
# Words that may stand between the noun and what is said of it ("the asset with key X does not
# exist", "imageUrl: not found"); x stands for a quoted name, a path or a URL.
_FILLER = (
    r"(?:x|the|a|an|is|was|with|id|key|path|url|name|provided|given|specified|referenced"
    r"|requested|you|that|this|it|in|of|for|at|by|message|msg|error|errors|detail|details"
    r"|reason|loc|body|prompt object|field|value|code|status|type|http|\d{3})"
)
_GAP = rf"(?: {_FILLER}){{0,4}}"
_SAYS_UNKNOWN = re.compile(
    rf"\b(?:{_NOUN}{_GAP} {_UNKNOWN_AFTER}|{_UNKNOWN_BEFORE} {_NOUN}"
    rf"|{_UPLOAD_NOUN}{_GAP} {_WEAK_AFTER}|{_WEAK_BEFORE} {_UPLOAD_NOUN}"
    rf"|no {_NOUN}{_GAP} (?:was |were )?found)\b"
)
# A bare "Not Found" names nothing, but it is all a 400 says: then it can only be the asset.
_ONLY_NOT_FOUND = re.compile(rf"^(?:{_FILLER} )*(?:resource )?not found(?: {_FILLER})*$")
_QUOTED = re.compile(r"(['\"`\u2018\u201c])[^\s'\"`\u2019\u201d]*[\u2019\u201d'\"`]")
_PATH_LIKE = re.compile(r"\S*(?:/|\\|:\S)\S*|\S+\.\w+\S*")
_TAGS = re.compile(r"<[^>]*>")
_MAX_BODY = 64 * 1024


def says_asset_unknown(status: int, body: bytes, content_type: str = "") -> bool:
    """Whether a generation refused with `status` and `body` means "that asset is unknown"."""
    if status in (404, 410):
        return True
    if not 400 <= status < 500 or status in (401, 402, 403, 429):
        return False
    text = _normal(_body_text(body[:_MAX_BODY], content_type))
    return bool(_SAYS_UNKNOWN.search(text) or _ONLY_NOT_FOUND.match(text))


def _body_text(body: bytes, content_type: str) -> str:
    """The words of an answer: a JSON body's keys and strings in order, else its text."""
    raw = body.decode("utf-8", "replace")
    try:
        data = json.loads(raw)
    except ValueError:
        return _TAGS.sub(" ", raw) if "html" in content_type or raw.lstrip()[:1] == "<" else raw
    return " ; ".join(_words(data))


def _words(data: object) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _words(value)
    elif isinstance(data, list):
        for item in data:
            yield from _words(item)
    elif isinstance(data, str):
        yield data


def _normal(text: str) -> str:
    """Lower-case words: quoted names, paths and URLs as "x", camelCase and snake_case split."""
    text = text.replace("\u2019", "'")
    text = re.sub(r"\b(?:can't|cannot)\b", "can not", text, flags=re.IGNORECASE)
    text = re.sub(r"n't\b", " not", text, flags=re.IGNORECASE)
    text = _QUOTED.sub(" x ", text)
    text = _PATH_LIKE.sub(" x ", text)
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"[^0-9A-Za-z']+", " ", text).replace("'", "")
    return " ".join(text.lower().split())
