"""Vehicle passes: group one plate's sightings across frames into one read.

The pass tracker: tracker.py.
"""

from alprd.track.tracker import Pass, PassTracker, edit_distance

__all__ = ["Pass", "PassTracker", "edit_distance"]
