"""Whether a single-byte reading of a file is made of real words of that code page's languages.

Every rule here must hold for real text, so that a file's true reading always passes and only
misreadings fail: Turkish "güneşli" read as cp1252 is "güneþli" (ü and þ share no language),
Russian read as cp1253 puts a final sigma inside words, French read as cp1251 is "cafй".
"""

from __future__ import annotations

import itertools
import re
import unicodedata

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


def reads_as_real_words(text: str, encoding: str) -> bool:
    """Whether every word of `text` fits one language of `encoding`, with no misreading's marks."""
    alphabets = ALPHABETS[encoding]
    script = alphabets[0]
    if script.script is Script.UNCASED and not _holds_script_word(text, script):
        return False  # direction marks or French letters only: Baltic "už" read as cp1256
    for word in _words(text):
        if not _fits_a_language(word, alphabets):
            return False
    return not _stray_symbol(text)


# Candidate words: runs of word characters and the marks on them, split again by _letter_runs.
_TOKEN = re.compile(r"[\w\u0300-\u036f\u05b0-\u05c7\u064b-\u0652\u0e31-\u0e4e]+")


def _words(text: str) -> set[str]:
    """The distinct words outside ASCII: runs of letters and their marks ("½", "²" are none)."""
    tokens = {token for token in _TOKEN.findall(text) if not token.isascii()}
    return {word for token in tokens for word in _letter_runs(token) if not word.isascii()}


def _letter_runs(token: str) -> list[str]:
    words: list[str] = []
    start = None
    for index, char in enumerate(f"{token} "):
        inside = char.isalpha() or unicodedata.category(char).startswith("M")
        if inside and start is None:
            start = index
        elif not inside and start is not None:
            words.append(token[start:index])
            start = None
    return words


def _holds_script_word(text: str, script: Alphabet) -> bool:
    """Whether Hebrew or Thai text holds two script letters in a row (Arabic: one, as "و";
    Thai: and a vowel).

    French "à" read as cp1255 is a lone "א"; Hebrew and Thai never write one letter alone.
    """
    if script.language == "Arabic":
        return any(char.isalpha() and char in script.letters for char in text)
    if script.language == "Thai" and not _THAI_VOWELS.intersection(text):
        return False  # Shift-JIS half-width katakana read as Thai: "ถภถล", consonants only
    return any(
        a.isalpha() and b.isalpha() and a in script.letters and b in script.letters
        for a, b in itertools.pairwise(text)
    )


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


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def _stray_symbol(text: str) -> bool:
    """A symbol inside a word ("sto³u"; "Paris–Berlin" is fine), a misreading's symbol at a
    word's edge, or a vowel sign with no letter before it ("้cole" is "école" read as Thai)."""
    for found in _NOT_ASCII.finditer(text):
        index, char = found.start(), found.group()
        if char.isalpha() or char.isspace():
            continue
        category = unicodedata.category(char)
        before = text[index - 1] if index else " "
        after = text[index + 1] if index + 1 < len(text) else " "
        if category.startswith("M"):
            if not (before.isalpha() or unicodedata.category(before).startswith("M")):
                return True
            continue
        if category == "Co":
            return True  # Mac Roman's Apple logo: Icelandic "ð" read as Mac Roman
        if category == "Cf" or category.startswith("Z"):
            continue  # zero-width joiners, direction marks, no-break spaces
        if category == "Nd":  # Thai digits: "Espa๑a" is "España" read as cp874
            if (before.isalpha() and after.isalpha()) or (before.isascii() and before.isalpha()):
                return True
            if after.isascii() and after.isalpha():
                return True
            continue
        catalan_dot = char == "·" and before in "lL" and after in "lL"
        if (
            before.isalpha()
            and after.isalpha()
            and char not in _BETWEEN_LETTERS
            and not catalan_dot
        ):
            return True
        if char in _NEVER_WRITTEN or (
            char in _MISREAD_SYMBOLS and (before.isalpha() or after.isalpha())
        ):
            return True
        if char in _OPENING_SYMBOLS and before.isalpha():
            return True
        if char in _CLOSING_SYMBOLS and after.isalpha():
            return True
    return False
