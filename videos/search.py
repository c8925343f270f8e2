"""Catalogue search terms: one normalisation for the stored document and for the member's query.

A member typing "colour" finds "Color theory", and "watching" finds "Watch list": words are
lowercased, accents dropped, British spellings folded to American ones (an ordered list of rules
that covers the common -our/-ise/-yse/-tre/-ogue families and a few whole words), then stemmed by
the Snowball English stemmer (Porter2, the algorithm behind PostgreSQL's `english` configuration).

Both sides go through `search_terms`, so the matching is the same everywhere: each video stores its
terms in `Video.search_document`; on PostgreSQL the catalogue matches them with full-text search
(`to_tsvector('simple', …) @@ plainto_tsquery('simple', …)`, GIN-indexed, migration 0007), and on
SQLite with one word-boundary LIKE per term (videos/selectors.py `video_catalogue_list`).
"""

from __future__ import annotations

import functools
import re
import unicodedata

import snowballstemmer

MAX_QUERY_TERMS = 8
_WORD = re.compile(r"[a-z0-9]+")
# Whole words first (irregular), then suffix families; each rule applies once, the first that fits.
_WORDS = {
    "grey": "gray",
    "greys": "grays",
    "programme": "program",
    "programmes": "programs",
    "aluminium": "aluminum",
    "tyre": "tire",
    "tyres": "tires",
    "cheque": "check",
    "cheques": "checks",
    "draught": "draft",
    "plough": "plow",
    "mould": "mold",
    "moult": "molt",
    "sceptic": "skeptic",
    "sceptical": "skeptical",
    "jewellery": "jewelry",
    "defence": "defense",
    "offence": "offense",
    "licence": "license",
    "pretence": "pretense",
    "practise": "practice",
    "practised": "practiced",
    "practising": "practicing",
    "travelled": "traveled",
    "travelling": "traveling",
    "traveller": "traveler",
    "travellers": "travelers",
    "cancelled": "canceled",
    "cancelling": "canceling",
    "modelling": "modeling",
    "labelled": "labeled",
    "labelling": "labeling",
    "fulfil": "fulfill",
    "enrol": "enroll",
    "enrolment": "enrollment",
    "ageing": "aging",
}
# (British ending, American ending, shortest British word it applies to).
_SUFFIXES = (
    ("ours", "ors", 6),  # colours, flavours (not "ours", "yours", "hours": too short or listed below)
    ("our", "or", 5),  # colour, flavour, behaviour, neighbour (not "four", "your", "hour", "tour")
    ("ourful", "orful", 8),
    ("ouring", "oring", 8),
    ("oured", "ored", 7),
    ("isation", "ization", 8),
    ("isations", "izations", 9),
    ("ising", "izing", 6),
    ("ised", "ized", 6),
    ("ises", "izes", 6),
    ("ise", "ize", 6),
    ("yse", "yze", 5),
    ("ysed", "yzed", 6),
    ("ysing", "yzing", 7),
    ("tre", "ter", 5),  # centre, theatre, metre, fibre
    ("tres", "ters", 6),
    ("ogue", "og", 6),  # catalogue, dialogue
    ("ogues", "ogs", 7),
)
# -our and -ise words whose British form is also the American one.
_KEEP = {
    "hours",
    "yours",
    "ours",
    "tours",
    "pours",
    "fours",
    "detour",
    "devour",
    "contour",
    "troubadour",
    "paramour",
    "amour",
    "glamour",
    "flour",
    "scour",
    "scours",
    "velour",
    "advertise",
    "advise",
    "apprise",
    "arise",
    "chastise",
    "circumcise",
    "comprise",
    "compromise",
    "concise",
    "demise",
    "despise",
    "devise",
    "disguise",
    "enterprise",
    "excise",
    "exercise",
    "expertise",
    "franchise",
    "improvise",
    "incise",
    "merchandise",
    "precise",
    "premise",
    "promise",
    "revise",
    "supervise",
    "surmise",
    "surprise",
    "televise",
    "wise",
    "otherwise",
    "likewise",
    "clockwise",
    "raised",
    "praised",
    "poised",
    "noised",
    "bruised",
    "cruised",
    "advised",
    "revised",
    "devised",
    "supervised",
    "surprised",
    "promised",
    "exercised",
    "compromised",
    "improvised",
    "televised",
    "premises",
    "promises",
    "surprises",
    "exercises",
    "enterprises",
    "franchises",
    "raises",
    "praises",
    "noises",
    "cruises",
    "bruises",
    "rises",
    "arises",
    "precises",
    "wises",
    "acre",
    "acres",
    "massacre",
    "mediocre",
    "ogre",
    "ogres",
    "genre",
    "genres",
    "timbre",
    "macabre",
    "cadre",
    "cadres",
}


@functools.lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


def _american(word: str) -> str:
    if word in _WORDS:
        return _WORDS[word]
    if word in _KEEP:
        return word
    for british, american, shortest in _SUFFIXES:
        if len(word) >= shortest and word.endswith(british):
            return word[: -len(british)] + american
    return word


def search_terms(text: str) -> list[str]:
    """The distinct search terms of `text`, in order of first appearance."""
    folded = unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode()
    words = [_american(word) for word in _WORD.findall(folded)]
    return list(dict.fromkeys(_stemmer().stemWords(words)))


def search_document(*texts: str) -> str:
    """What a video stores for search: its terms, space-separated (and space-padded, so that a
    term is matched as a whole word by a LIKE on SQLite)."""
    terms = search_terms(" ".join(texts))
    return f" {' '.join(terms)} " if terms else ""


def search_query_terms(query: str) -> list[str]:
    """A member's query as terms (at most MAX_QUERY_TERMS; every one must match)."""
    return search_terms(query)[:MAX_QUERY_TERMS]
