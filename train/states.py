"""The words a synthetic plate prints for its state: its name (title case or capitals) and one
of its slogans (alprd.recognize.state.STATES, SLOGANS: the same words the appliance matches
what it reads against), so a model can learn to read them."""

from __future__ import annotations

import random

from alprd.recognize.state import CODES, SLOGANS, STATES

__all__ = ["ANY_SLOGAN", "CODES", "SLOGANS", "STATES", "header", "slogan"]


# The slogans of the detector's plates and the demo clip: drawn whatever the state (kept as
# they were so that those rebuild the same; rich OCR plates use the state's own, SLOGANS)
ANY_SLOGAN = (
    "",
    "",
    "Sunshine State",
    "Land of Lincoln",
    "Live Free or Die",
    "Empire State",
    "The Lone Star State",
    "Great Lakes State",
    "DMV.CA.GOV",
    "Grand Canyon State",
    "First in Flight",
    "Garden State",
    "Wild, Wonderful",
    "Famous Potatoes",
    "Vacationland",
    "America's Dairyland",
    "Keystone State",
    "Peach State",
    "Centennial",
    "10,000 Lakes",
)


def header(rng: random.Random, state: str) -> str:
    """The state's name as a plate prints it: title case or capitals."""
    name = STATES[state]
    if state == "DC" and rng.random() < 0.7:
        name = rng.choice(("Washington, D.C.", "Washington DC"))
    return name.upper() if rng.random() < 0.5 else name


def slogan(rng: random.Random, state: str) -> str:
    """One of the state's slogans most of the time, none some of the time."""
    return rng.choice(SLOGANS[state]) if rng.random() < 0.7 else ""
