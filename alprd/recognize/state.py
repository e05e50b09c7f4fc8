"""The plate's state (jurisdiction), read from the words plates print above and below the
registration: the state's name and its slogans.

PaddleOCR's PP-OCRv6 recogniser (state_ocr.py, from the rapidocr wheel: not trained here)
reads the plate's header and footer (STRIPS of the box's height) as lines of text; each
reading it was at least MIN_READ_CONFIDENCE sure of is matched against every state's words
(WORDS, match(): an edit-distance similarity with the best-aligned stretch of each word). A
state is named only where the best match scores min_confidence or more and no other state
comes within MARGIN of it (named(); RecognizeConfig.state_min_confidence, chosen on the even
half of us_plate_crops and confirmed on the odd half; train/MODEL_CARD.md); otherwise the
state is None, and the hotlist's state rule says so ("read-state-unknown"). A named state's
confidence is calibrated (calibrated(): how often a state named at that score was right);
an unnamed one has none. A plate under MIN_HEIGHT pixels is not read for its state: its
words are a few pixels high; the box is read with BOX_MARGIN around it. The daemon reads
it once per pass, off the frame loop (state_worker.py); the plate readers never read it
(they named 11 % of real plates).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from rapidfuzz import fuzz

from alprd.recognize.ocr import OcrResult
from alprd.recognize.state_ocr import STRIPS

STATES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "DC": "District of Columbia",
}
# Slogans and web addresses on each state's plates (public knowledge, as on the DMV sites);
# letters only are matched, so a slogan that is mostly digits is left out (Minnesota's
# "10,000 Lakes" is LAKES, which Michigan's GREAT LAKES SPLENDOR reads too)
SLOGANS = {
    "AL": ("Heart of Dixie", "Sweet Home Alabama"),
    "AK": ("The Last Frontier",),
    "AZ": ("Grand Canyon State",),
    "AR": ("The Natural State",),
    "CA": ("dmv.ca.gov",),
    "CO": ("Colorful Colorado",),
    "CT": ("Constitution State",),
    "DE": ("The First State",),
    "FL": ("Sunshine State", "myflorida.com"),
    "GA": ("Peach State",),
    "HI": ("Aloha State",),
    "ID": ("Famous Potatoes", "Scenic Idaho"),
    "IL": ("Land of Lincoln",),
    "IN": ("Crossroads of America",),
    "IA": ("Fields of Opportunities",),
    "KS": ("The Sunflower State",),
    "KY": ("Unbridled Spirit", "Bluegrass State"),
    "LA": ("Sportsman's Paradise",),
    "ME": ("Vacationland",),
    "MD": ("Our Farms, Our Future",),
    "MA": ("The Spirit of America",),
    "MI": ("Pure Michigan", "Great Lakes"),
    "MN": ("Explore Minnesota",),
    "MS": ("Birthplace of America's Music",),
    "MO": ("Show-Me State",),
    "MT": ("Big Sky", "Treasure State"),
    "NE": ("The Good Life",),
    "NV": ("The Silver State", "Home Means Nevada"),
    "NH": ("Live Free or Die",),
    "NJ": ("Garden State",),
    "NM": ("Land of Enchantment",),
    "NY": ("Empire State",),
    "NC": ("First in Flight",),
    "ND": ("Discover the Spirit", "Legendary"),
    "OH": ("Birthplace of Aviation",),
    "OK": ("Native America", "Explore Oklahoma"),
    "OR": ("Pacific Wonderland",),
    "PA": ("visitPA.com", "Keystone State"),
    "RI": ("Ocean State",),
    "SC": ("Travel2SC.com", "Smiling Faces Beautiful Places"),
    "SD": ("Great Faces. Great Places.",),
    "TN": ("Volunteer State", "tnvacation.com"),
    "TX": ("The Lone Star State",),
    "UT": ("Life Elevated", "Greatest Snow on Earth"),
    "VT": ("Green Mountain State",),
    "VA": ("Virginia is for Lovers",),
    "WA": ("Evergreen State",),
    "WV": ("Wild, Wonderful",),
    "WI": ("America's Dairyland",),
    "WY": ("Like No Place on Earth",),
    "DC": ("Taxation Without Representation", "Washington, DC"),
}
CODES = tuple(sorted(STATES))
TOP, BOTTOM = 0.30, 0.30  # the bands train/state_model.py cut (the daemon reads STRIPS)
# The state is read on the detector's box with this margin (x, y: shares of its width and
# height): the box's top and bottom edges wander by about a tenth of its height, and the
# header is where the top one falls. us_plate_crops' even half, each plate 80 px high in a
# 1280x720 frame, the detector's box (bench/accuracy.py --state-box detector --state-height
# 80): margin 0 / 0.05 / 0.10 / 0.18 named 78.8 / 81.5 / 82.7 / 76.2 % right, 1.5 / 1.2 /
# 0.8 / 2.3 % wrong; strips wider or narrower than STRIPS named fewer.
BOX_MARGIN = (0.0, 0.10)
# px, the box's height: a smaller plate's words are too small to read. The same, by height:
# 30 / 35 / 40 / 50 / 60 / 120 px named 24.2 / 45.0 / 55.4 / 68.1 / 75.8 / 80.4 % right,
# 3.8 / 3.8 / 1.9 / 1.5 / 2.7 / 1.9 % wrong (chosen: the least height with at most 2 % wrong).
MIN_HEIGHT = 40
MIN_LETTERS = 4  # a shorter reading names nothing
MIN_READ_CONFIDENCE = 0.3  # a reading less sure than this (mean per character) names nothing
MARGIN = 0.1  # the best state's score over the next state's
# How often a state named at a match score was right: (lowest score, share right), from the
# even half of us_plate_crops read by PP-OCR (labelled boxes, named at a 0.1 margin;
# Laplace's rule, (right + 1) / (named + 2)): 0.9 or more 238 of 239 -> 0.99; 0.7-0.9 8 of 8
# -> 0.90; under 0.7 0 of 2 -> 0.25. The odd half: 239 of 239, 8 of 8, 0 of 1.
CALIBRATION = ((0.9, 0.99), (0.7, 0.90), (0.0, 0.25))
CONTAINED_SLACK = 0.05  # a longer word read this much less well still takes its part


def words_of(text: str) -> str:
    """Letters alone, upper case: 'Land of Lincoln' -> 'LANDOFLINCOLN' (digits are a sticker's
    year or month, or the registration, far more often than a slogan's)."""
    return "".join(ch for ch in text.upper() if "A" <= ch <= "Z")


def pieces(text: str) -> list[str]:
    """What a reading is matched by: its letters, and each of its words alone ('DET
    Washington' -> 'DETWASHINGTON', 'WASHINGTON'), MIN_LETTERS or longer."""
    words = "".join(ch if "A" <= ch <= "Z" else " " for ch in text.upper()).split()
    return [p for p in dict.fromkeys([words_of(text), *words]) if len(p) >= MIN_LETTERS]


# per state, its name and slogans as the readers spell them (letters only)
WORDS = {code: tuple(words_of(w) for w in (STATES[code],) + SLOGANS[code]) for code in CODES}
WORDS["DC"] += ("WASHINGTONDC",)


def score(reading: str, word: str) -> float:
    """How well a reading matches a state's word, 0-1: the better of (a) the best similarity
    of the reading with any stretch of the word (rapidfuzz's partial_ratio, an edit-distance
    ratio; difflib took 12-40 ms a plate), scaled down where the reading is shorter than the
    word (a few letters read of a long slogan say little; a reading longer than the word, a
    month sticker's JAN run into the name, costs nothing), and (b) the two whole, compared
    (rapidfuzz's ratio: MISSSPPI, letters lost, still reads as MISSISSIPPI at 0.84). (b) was
    added on the even half of us_plate_crops: 90.0 -> 91.9 % right, odd 93.1 -> 94.6 %, none
    wrong on either (train/MODEL_CARD.md)."""
    return max(
        fuzz.partial_ratio(reading, word) / 100.0 * min(1.0, len(reading) / len(word)),
        fuzz.ratio(reading, word) / 100.0,
    )


def match(readings: list[str]) -> tuple[str | None, float, float]:
    """(the state whose words the readings match best, that score, the next state's best).
    Where one state's word stands inside another's (VIRGINIA in WEST VIRGINIA, KANSAS in
    ARKANSAS, WASHINGTON in WASHINGTON DC) and both matched, one reading explains both: the
    longer word wins if it matched about as well, else the shorter one; the loser scores 0."""
    best: dict[str, tuple[float, str]] = {}
    for reading in dict.fromkeys(p for r in readings for p in pieces(r)):
        for code, words in WORDS.items():
            for w in words:
                s = score(reading, w)
                if s > best.get(code, (0.0, ""))[0]:
                    best[code] = (s, w)
    for code, (s, w) in list(best.items()):
        for other, (os_, ow) in list(best.items()):
            if other != code and w != ow and w in ow:  # w inside ow, both read
                loser = code if os_ >= s - CONTAINED_SLACK else other
                best[loser] = (0.0, best[loser][1])
    if not best:
        return None, 0.0, 0.0
    ranked = sorted(((c, sw[0]) for c, sw in best.items()), key=lambda kv: -kv[1])
    return ranked[0][0], ranked[0][1], (ranked[1][1] if len(ranked) > 1 else 0.0)


def named(code: str | None, best: float, runner_up: float, min_confidence: float) -> str | None:
    """match()'s state where it is sure enough: its score at least min_confidence and no
    other state within MARGIN of it; else None."""
    if code is None or best < min_confidence or best - runner_up < MARGIN:
        return None
    return code


def bands(crop: np.ndarray, top: float = TOP, bottom: float = BOTTOM) -> list[np.ndarray]:
    """A crop's top and bottom bands (top and bottom of its height), as they are."""
    h = crop.shape[0]
    return [crop[: max(1, round(h * top))], crop[min(h - 1, round(h * (1 - bottom))) :]]


def calibrated(score: float) -> float:
    """The share of states named at this match score that were right (CALIBRATION)."""
    return next(share for lowest, share in CALIBRATION if score >= lowest)


Reader = Callable[[list[np.ndarray]], list[OcrResult]]


class StateReader:
    """The state of a plate from its box's crop, read by the given text readers (by default
    PaddleOCR's recogniser, state_ocr.PpOcrReader)."""

    def __init__(
        self,
        readers: list[Reader] | None = None,
        min_confidence: float = 0.7,
        strips: tuple[float, float] = STRIPS,
        threads: int = 1,
        min_height: int | None = None,
    ) -> None:
        if readers is None:
            from alprd.recognize.state_ocr import PpOcrReader

            readers = [PpOcrReader(threads=threads)]
        self.readers = readers
        self.min_confidence = min_confidence
        self.strips = strips  # the header's and footer's share of the plate's height
        self.min_height = MIN_HEIGHT if min_height is None else min_height

    def readings(self, crop: np.ndarray) -> list[str]:
        """What the readers read on a BGR crop's two strips, where they were at least
        MIN_READ_CONFIDENCE sure; [] where the crop is too small."""
        if crop.shape[0] < self.min_height:
            return []
        two = bands(crop, *self.strips)
        return [
            r.text
            for read in self.readers
            for r in read(two)
            if r.confidence >= MIN_READ_CONFIDENCE
        ]

    def __call__(self, crop: np.ndarray) -> tuple[str | None, float | None]:
        """(state, its calibrated confidence), or (None, None) where unsure."""
        code, best, runner_up = match(self.readings(crop))
        if named(code, best, runner_up, self.min_confidence) is None:
            return None, None
        return code, calibrated(best)
