"""Whether a single-byte reading of a file is made of real words of that code page's languages.

Every rule here must hold for real text, so that a file's true reading always passes and only
misreadings fail: Turkish "güneşli" read as cp1252 is "güneþli" (ü and þ share no language),
Russian read as cp1253 puts a final sigma inside words, French read as cp1251 is "cafй".
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from runner.plan.alphabets import ALPHABETS, VIETNAMESE, Alphabet, Script

# Symbols real text puts between two letters: apostrophes ("don’t", "don´t"), dashes
# ("Paris–Berlin"), the Hebrew geresh and gershayim of abbreviations, and the Catalan middle dot
# between two l ("col·lecció"; "M·laga" is "Málaga" read as Mac Roman).
_BETWEEN_LETTERS = frozenset("’‘´–—‐‑׳״")
# Symbols a wrong code page makes of letters, and that real text never sets against a letter
# (nor those in _NEVER_WRITTEN anywhere: French "à" read as Mac Roman is "‡").
_MISREAD_SYMBOLS = frozenset("†‡‰‹›•˜¸˘˙˚˝˛ˇ¯√∆≈∂∑∏∫∞÷≠≤≥¤¦¨¬¼½¾¶₫")
# Real before a letter („Guten Tag“, ¿Dónde?), a misreading after one ("by¿" is Polish "byż").
_NEVER_WRITTEN = frozenset("‡˝˛˙˘ˇ๚๛")  # and the archaic Thai marks: Shift-JIS read as cp874
_OPENING_SYMBOLS = frozenset("‚„¿¡")
# Real after a letter or digit ("wait…", "m²", "5£"), a misreading before a letter: "…l" is Mac
# Roman "Öl" read as cp1252, "³¹ka" and "£odzi" are Polish "łąka", "Łodzi".
_CLOSING_SYMBOLS = frozenset("…¹²³£¥¢")
# The accented letters that are words on their own: French "à", Italian "è", Portuguese "é",
# Icelandic "á" and "í", Swedish "å" and "ö", Lithuanian "į". Czech, Slovak, Polish, Baltic and
# Turkish letters never are, and French "à" read as cp1250 or cp1257 is a lone "ŕ" or "ą".
_ONE_LETTER_WORDS = frozenset("àÀéÉèÈåÅöÖóÓáÁíÍòúõįĮ")
# Cyrillic letters that are never a word alone ("€" read as cp1251 is a lone "Ђ").
_NEVER_ALONE = frozenset("ЂЃЉЊЋЏЅЈЎЇЄҐЪЬЫђѓљњћџѕјўїєґъьы")
_GREEK_NEVER_ALONE = frozenset("ΰΐϊϋςάέίόύώΆΈΊΌΎΏ")
_CYRILLIC_VOWELS = frozenset("аеёиоуыэюяіїєъАЕЁИОУЫЭЮЯІЇЄЪ")
_POLISH_SOFT = frozenset("ńśćźŃŚĆŹ")  # never before a vowel: Polish writes "ni", "si", "ci"
_POLISH_VOWELS = frozenset("aąeęioóuyAĄEĘIOÓUY")
_TURKISH_VOWELS = frozenset("aâeıiîoöuüûAÂEIİÎOÖUÜÛ")
_THAI_VOWELS = frozenset(chr(c) for c in (*range(0x0E30, 0x0E3A), *range(0x0E40, 0x0E45), 0x0E47))
_THAI_PREPOSED_VOWELS = frozenset("เแโใไ")
_VIETNAMESE_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
_VIETNAMESE_SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?([aăâeêioôơuưy]{1,3})(ch|ng|nh|[cmnpt])?"
)


# A reading is checked in pieces of about this many characters, each ending just after a
# space, so that no word and no symbol's neighbours are cut in two; a misreading shows in the
# first piece, and only the real reading is read to the end.
CHUNK = 1 << 16
MAX_DISTINCT = 300_000  # distinct words (between spaces and separators) one reading may hold
MAX_WORD = 2_000  # letters in one word (Thai writes phrases without spaces)
MAX_TOKEN = 100_000  # characters between two spaces or ASCII non-letters


class TooVaried(Exception):
    """The text holds more than a verdict may cost (distinct words, a word hundreds of letters
    long, more text than its budget): no reading of it is believed."""


class ReadBudget:
    """The characters all the readings of one file may read together."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def take(self, chars: int) -> None:
        self.left -= chars
        if self.left < 0:
            raise TooVaried("too much text to decide its code page")


def reads_as_real_words(
    pieces: Iterable[bytes], encoding: str, budget: ReadBudget | None = None, *, nfc: bool = False
) -> bool:
    """Whether every word of a file read in `encoding`, a single-byte code page, fits one
    language of it, with no misreading's marks.

    The file comes in pieces of its bytes that each end just after an ASCII byte that is no
    letter (see `chunks`), and each piece is cut again at those and at spaces: a word never
    holds one, and beside a symbol each counts as no letter, exactly as the text's ends do, so
    checking the pieces is checking the text. The cuts are found in the bytes (a byte is a
    character here), and only the distinct runs between them are decoded. Each distinct word
    between two cuts is searched with regular expressions built for the code page
    (_Patterns), each of its words and symbols in context checked once, stopping at the first
    that does not fit: a misreading shows in the first piece. `nfc`: read the text in
    Unicode's NFC form (cp1258 writes tone marks apart), made a word at a time: no mark joins
    a space or an ASCII non-letter. Raises TooVaried past MAX_DISTINCT words, one over
    MAX_WORD letters or MAX_TOKEN characters, or the budget.
    """
    alphabets = ALPHABETS[encoding]
    found = _patterns(encoding)
    spaced = _cuts_as_spaces(encoding)
    # Hebrew or Thai text holds two script letters in a row (Arabic: one), Thai a vowel:
    # direction marks or French letters only are Baltic "už" read as cp1256.
    pair = found.script_pair is None
    vowel = found.thai_vowel is None
    tokens: set[str] = set()
    words: set[str] = set()
    contexts: set[tuple[str, str, str]] = set()
    for piece in pieces:
        if budget is not None:
            budget.take(len(piece))
        if piece.isascii():
            continue  # no word outside ASCII, no symbol, no script letter
        # Cut at every ASCII character that is no letter (spaces, digits, punctuation, a CSV
        # file's separators) and at every space: a word never holds one, and beside a symbol
        # each counts as no letter, exactly as a space or the text's ends do (see _stray_symbol).
        # In the file's order, not a set's (which changes from run to run with Python's string
        # hashes): which comes first, a word that does not fit (no reading) or one too long to
        # check (no verdict, the file refused), must not change between two runs.
        between = dict.fromkeys(piece.translate(spaced).split())
        runs = {run.decode(encoding): None for run in between if not run.isascii()}
        for raw in [run for run in runs if run not in tokens]:
            if len(raw) > MAX_TOKEN:
                raise TooVaried(f"{len(raw):,} characters without a space")
            tokens.add(raw)
            if len(tokens) > MAX_DISTINCT:
                raise TooVaried(f"more than {MAX_DISTINCT:,} distinct words")
            token = unicodedata.normalize("NFC", raw) if nfc else raw
            if not pair and found.script_pair is not None:
                pair = found.script_pair.search(token) is not None
            if not vowel and found.thai_vowel is not None:
                vowel = found.thai_vowel.search(token) is not None
            for word in found.words.findall(token):
                if word in words:
                    continue
                if len(word) > MAX_WORD:
                    raise TooVaried(f"a word of {len(word):,} letters")
                if not _fits_a_language(word, alphabets):
                    return False
                words.add(word)
            if found.lone_mark is not None and found.lone_mark.search(token):
                return False  # a vowel sign or tone mark on no letter ("้cole" is "école")
            if found.symbols is not None:
                for context in found.symbols.findall(f" {token} "):
                    if context not in contexts:
                        if _stray_symbol(*context):
                            return False
                        contexts.add(context)
    return pair and vowel


_NOT_LETTER = re.compile(rb"[\x00-\x40\x5b-\x60\x7b-\x7f]")


@functools.cache
def _cuts_as_spaces(encoding: str) -> bytes:
    """A `bytes.translate` table that turns each byte that is a cut in `encoding` into a
    space: the ASCII bytes that are no letter, and those the code page reads as a space of any
    kind (what `str.split` and `\\s` split at, such as the no-break space). `bytes.split` then
    gives the runs between cuts that `[^\\x00-\\x40\\x5b-\\x60\\x7b-\\x7f\\s]+` finds in the
    text, without a regular expression walking it a character at a time."""
    table = bytearray(range(256))
    for byte in range(256):
        if byte < 0x80:
            cut = not (0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A)
        else:
            try:
                cut = bytes((byte,)).decode(encoding).isspace()
            except UnicodeDecodeError:
                cut = False  # never read: a file holding it has no reading in this code page
        if cut:
            table[byte] = 0x20
    return bytes(table)


# Candidate words: runs of word characters and the marks on them, split again into runs of
# letters and marks (digits and "_" split them).
_TOKEN = re.compile(r"[\w\u0300-\u036f\u05b0-\u05c7\u064b-\u0652\u0e31-\u0e4e]+")


@dataclass(frozen=True)
class _Patterns:
    """What reads_as_real_words looks for in one code page's text, found by `re` (C code).

    words: the words with a letter outside ASCII: maximal runs of letters and marks, as the
        runs of letters inside runs of word characters (_TOKEN) are, since every letter and
        every mark counted here is a word character.
    lone_mark: a mark (vowel sign, tone) after no letter and no mark.
    symbols: any other character outside ASCII that is no letter and no space, with the
        characters before and after it.
    script_pair / thai_vowel: two script letters in a row (one for Arabic), a Thai vowel.
    """

    words: re.Pattern[str]
    lone_mark: re.Pattern[str] | None
    symbols: re.Pattern[str] | None
    script_pair: re.Pattern[str] | None
    thai_vowel: re.Pattern[str] | None


@functools.cache
def _patterns(encoding: str) -> _Patterns:
    chars = _code_page_chars(encoding)
    marks = [char for char in chars if unicodedata.category(char).startswith("M")]
    letters = [char for char in chars if char.isalpha()]
    in_words = [char for char in (*letters, *marks) if _TOKEN.fullmatch(char)]
    word = f"A-Za-z{_escaped(in_words)}"
    words = re.compile(f"(?<![{word}])[A-Za-z]*+[{_escaped(in_words)}][{word}]*+")
    lone_mark = None
    if marks:
        lone_mark = re.compile(f"(?<![A-Za-z{_escaped([*letters, *marks])}])[{_escaped(marks)}]")
    others = [char for char in chars if not char.isalpha() and not char.isspace()]
    others = [char for char in others if char not in marks]
    symbols = None
    if others:
        symbols = re.compile(f"(?<=(.))([{_escaped(others)}])(?=(.))", re.DOTALL)
    script = ALPHABETS[encoding][0]
    script_pair = thai_vowel = None
    if script.script is Script.UNCASED:
        own = _escaped([char for char in letters if char in script.letters])
        script_pair = re.compile(f"[{own}]" if script.language == "Arabic" else f"[{own}]{{2}}")
        if script.language == "Thai":
            thai_vowel = re.compile(f"[{_escaped(sorted(_THAI_VOWELS))}]")
    return _Patterns(words, lone_mark, symbols, script_pair, thai_vowel)


def _code_page_chars(encoding: str) -> list[str]:
    """Every character outside ASCII a reading in `encoding` can hold: the code page's, and
    for cp1258 the letters its tone marks make when joined (NFC)."""
    chars = set()
    for byte in range(0x80, 0x100):
        try:
            chars.add(bytes((byte,)).decode(encoding))
        except UnicodeDecodeError:
            continue
    if encoding == "cp1258":
        marks = [char for char in chars if unicodedata.category(char).startswith("M")]
        bases = [chr(code) for code in range(0x20, 0x7F)]
        growing = True
        while growing:
            growing = False
            for base in [*bases, *chars]:
                for mark in marks:
                    joined = unicodedata.normalize("NFC", base + mark)
                    if len(joined) == 1 and joined not in chars and not joined.isascii():
                        chars.add(joined)
                        growing = True
    return sorted(chars)


def chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    """`data` in pieces of about `size` bytes, each ending just after an ASCII byte that is no
    letter (a space, a digit, punctuation)."""
    start = 0
    while start < len(data):
        found = _NOT_LETTER.search(data, start + size)
        end = found.end() if found else len(data)
        yield data[start:end]
        start = end


def _escaped(chars: list[str]) -> str:
    return "".join(sorted(re.escape(char) for char in chars))


def _fits_a_language(word: str, alphabets: tuple[Alphabet, ...]) -> bool:
    if not _cased_like_a_word(word):
        return False
    if (word[0] == "µ" and word[1:].isascii()) or (word[-1] in "ªº" and word[:-1].isascii()):
        return True  # "5 µm", "1ª", "Nº"; "ºi" is Romanian "şi" read as cp1252
    foreign = {char for char in word if not char.isascii()}
    for alphabet in alphabets:
        if not foreign <= alphabet.letters:
            continue
        if alphabet.script is Script.CASED and any(char.isascii() for char in word):
            continue
        if alphabet.script is Script.UNCASED and not _script_runs_look_real(word, alphabet):
            continue
        if alphabet is VIETNAMESE and not _vietnamese_syllable(word):
            continue
        lone = len(word) == 1 and alphabet.script is Script.LATIN and alphabet is not VIETNAMESE
        if lone and word not in _ONE_LETTER_WORDS:
            continue
        if not _spelled_like(word, alphabet.language):
            continue
        return True
    return False


def _spelled_like(word: str, language: str) -> bool:
    """Spelling rules every real word of the language keeps, which misreadings break."""
    if language == "Icelandic":  # "ð" never starts a word, "þ" never ends one (Turkish "kış")
        return word[0] not in "ðÐ" and word[-1] not in "þÞ"
    if language == "French":  # "cœur", "œuvre", "œnologie"; Polish "śnieg" is "œnieg"
        return all(
            after in "uinstdlUINSTDL"
            for before, after in itertools.pairwise(word + "x")
            if before in "œŒ"
        )
    if language == "Greek":  # no final sigma inside a word (Russian "т"), no lone "ΰ" (French "à")
        return "ς" not in word[:-1] and word not in _GREEK_NEVER_ALONE
    if language == "Turkish":  # "ğ" only ever follows a vowel: Icelandic "borði" is "borği"
        return all(
            index > 0 and word[index - 1] in _TURKISH_VOWELS
            for index, char in enumerate(word)
            if char in "ğĞ"
        )
    if language == "Polish":  # "mañana" read as cp1250 is "mańana"; no word starts with ą, ę
        return word[0] not in "ąęĄĘ" and not any(
            a in _POLISH_SOFT and b in _POLISH_VOWELS for a, b in itertools.pairwise(word)
        )
    if language in ("Czech", "Slovak", "Lithuanian"):
        return _syllables_fit(word, language)
    if language in ("Russian", "Ukrainian", "Belarusian", "Bulgarian", "Serbian", "Macedonian"):
        if word in _NEVER_ALONE:
            return False
        # Hebrew read as cp1251 is lower-case words with no vowel ("сфм"); "млн" is real.
        return (
            len(word) < 3
            or word.isupper()
            or word in ("млн", "млрд", "трлн")
            or bool(_CYRILLIC_VOWELS.intersection(word))
        )
    return True


def _syllables_fit(word: str, language: str) -> bool:
    """Where Czech, Slovak and Lithuanian letters can stand, as misread Western text breaks it.

    Slovak "ĺ ŕ" are syllables between consonants (Italian "città" in cp1250 is "cittŕ",
    Danish "på" is "pĺ"); Czech "ů" follows a consonant ("più" is "piů") and "ě" one of
    b p v f m d t n; Lithuanian "ų" ends a word or comes before s š ž z j ("køkken" read as
    cp1257 is "kųkken"), and "į" inside a word follows a prefix's vowel or comes before s š ž z
    ("mármore" is "mįrmore").
    """
    padded = f" {word.lower()} "
    for before, char, after in zip(padded, padded[1:], padded[2:], strict=False):
        if language == "Slovak" and char in "ĺŕ":
            fits = _consonant(before) and _consonant(after)
        elif language == "Czech" and char in "ůě":
            fits = _consonant(before) if char == "ů" else before in "bpvfmdtn"
        elif language == "Lithuanian" and char == "ų":
            fits = after in " sšžzj"
        elif language == "Lithuanian" and char == "į":
            fits = " " in (before, after) or _vowel(before) or after in "sšžz"
        else:
            continue
        if not fits:
            return False
    return True


def _vowel(char: str) -> bool:
    return unicodedata.normalize("NFD", char)[0] in "aeiouy" or char in "ąęįųėœæø"


def _consonant(char: str) -> bool:
    return char.isalpha() and not _vowel(char)


def _cased_like_a_word(word: str) -> bool:
    """Lower case, upper case or capitalised: "İstanbul", not "ParisñBerlin" or "кЮп"."""
    cased = [char for char in word if (char.isupper() or char.islower()) and char != "ß"]
    if len(cased) < 2 or all(char.isupper() for char in cased):
        return True
    return all(char.islower() for char in cased[1:]) or word.isascii()


def _script_runs_look_real(word: str, alphabet: Alphabet) -> bool:
    """Hebrew, Arabic or Thai beside ASCII letters: never one letter, never wedged in a word.

    Western text read as Thai or Hebrew gives "Mแlaga", "cafי", "caf้", "voilเ".
    """
    if len(word) == 1 and alphabet.language == "Arabic":
        return word == "و"  # the one Arabic letter written alone ("and"); "á" in cp1256 is "ل"
    for run in re.finditer(r"[^\x00-\x7f]+", word):
        start, end = run.span()
        touches = (start > 0, end < len(word))
        letters = run.group()
        if all(touches) or (any(touches) and len(letters) == 1):
            return False
        if unicodedata.category(letters[0]).startswith("M"):
            return False  # a vowel sign or tone mark with no letter to sit on
        if letters[-1] in _THAI_PREPOSED_VOWELS:
            return False  # a vowel written before its consonant, with none after it
    return True


def _vietnamese_syllable(word: str) -> bool:
    """One Vietnamese syllable with at most one tone: "thạch", "người", not "Săo" (São)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    if sum(char in _VIETNAMESE_TONES for char in decomposed) > 1:
        return False
    bare = unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if c not in _VIETNAMESE_TONES)
    )
    match = _VIETNAMESE_SYLLABLE.fullmatch(bare)
    if match is None:
        return False
    vowels, final = match.group(2), match.group(3)
    if final:
        return True
    return "ă" not in vowels and ("â" not in vowels or vowels.endswith(("âu", "ây")))


def _stray_symbol(before: str, char: str, after: str) -> bool:
    """A symbol inside a word ("sto³u"; "Paris–Berlin" is fine), a misreading's symbol at a
    word's edge, or a vowel sign with no letter before it ("้cole" is "école" read as Thai).
    `before` and `after` are its neighbours, a space at the text's ends."""
    category = unicodedata.category(char)
    if category.startswith("M"):
        return not (before.isalpha() or unicodedata.category(before).startswith("M"))
    if category == "Co":
        return True  # Mac Roman's Apple logo: Icelandic "ð" read as Mac Roman
    if category == "Cf" or category.startswith("Z"):
        return False  # zero-width joiners, direction marks, no-break spaces
    if category == "Nd":  # Thai digits: "Espa๑a" is "España" read as cp874
        if (before.isalpha() and after.isalpha()) or (before.isascii() and before.isalpha()):
            return True
        return after.isascii() and after.isalpha()
    catalan_dot = char == "·" and before in "lL" and after in "lL"
    if before.isalpha() and after.isalpha() and char not in _BETWEEN_LETTERS and not catalan_dot:
        return True
    if char in _NEVER_WRITTEN or (
        char in _MISREAD_SYMBOLS and (before.isalpha() or after.isalpha())
    ):
        return True
    if char in _OPENING_SYMBOLS and before.isalpha():
        return True
    return char in _CLOSING_SYMBOLS and after.isalpha()
