"""English inflection stripping: the form in which the verifier compares an English word with another.

Inflections go, derivations stay: "satellites" is "satellite", "stopped" is "stop", "forming" is "form", but
"formation" is not "form". Korean words need none of this: Kiwi gives their lemmas.
"""

from __future__ import annotations

import re


def stem(word: str) -> str:
    """`word` (lower case) without its inflection: plural or third-person -s (Harman's S stemmer, "How
    effective is suffixing?", JASIS 1991: "satellites" is "satellite", "policies" is "policy"), then -ed
    and -ing, a final -e and a doubled final consonant ("forming" is "form", "giving" is "give", "stopped"
    is "stop", "classified" is "classify"). A word that is not all ASCII letters is returned as it is."""
    if not word.isascii() or not word.isalpha():
        return word
    w = word
    if len(w) > 3 and w.endswith("ies") and not w.endswith(("eies", "aies")):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("es") and not w.endswith(("aes", "ees", "oes")):
        w = w[:-1]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("us", "ss")):
        w = w[:-1]
    if len(w) > 3 and w.endswith("ied"):
        w = w[:-3] + "y"
    elif w.endswith(("ed", "ing")) and not w.endswith("eed"):  # "need", "exceed" keep theirs
        base = w[: -2 if w.endswith("ed") else -3]
        if len(base) > 1 and _has_vowel(base):  # "shed", "bring", "thing" keep theirs too
            # Porter's step 1b: "stopped" is "stop" ("falling" is "fall"), and a short stem that ends
            # consonant-vowel-consonant had a final -e ("hated" is "hate", not "hat"; "hoping" is "hope").
            if _doubled(base):
                base = base[:-1]
            elif _short(base):
                base += "e"
            w = base
    # A final -e goes, except after a short stem, where it tells words apart (Porter's step 5a: "hate" and
    # "hat", "note" and "not", "plane" and "plan"; "create" and "created" are both "creat").
    if len(w) > 2 and w.endswith("e") and not w.endswith("ee") and not _short(w[:-1]):
        w = w[:-1]
    if _doubled(w):
        w = w[:-1]
    return w


def _has_vowel(w: str) -> bool:
    return any(c in "aeiouy" for c in w)


def _doubled(w: str) -> bool:
    """A final double consonant that an inflection doubled ("stopp", "controll"), not one of a word's own
    ("fall", "pass", "fizz": l, s and z double in words of one vowel group; Porter's steps 1b and 5b)."""
    if len(w) <= 2 or w[-1] != w[-2] or w[-1] in "aeiouy":
        return False
    return w[-1] not in "lsz" or _vowel_groups(w) > 1


def _short(w: str) -> bool:
    """Porter's short stem: one vowel group between consonants, ending consonant-vowel-consonant, the last
    not w, x or y ("hat", "hop", "writ"; not "creat", "form", "us")."""
    return (len(w) >= 3 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3] not in "aeiou"
            and _vowel_groups(w) == 1)


def _vowel_groups(w: str) -> int:
    return len(re.findall(r"[aeiou]+", w))
