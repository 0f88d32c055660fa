"""CES per app release and the sequential verdict of a new release against the previous one."""

from stream.ces.releases.figures import (
    BETTER,
    PENDING,
    WORSE,
    ReleaseComparison,
    ReleaseCounts,
    channel_comparisons,
    compare_releases,
    newest_first,
    recent_releases,
    release_key,
    releases_in,
    split_release_key,
    version_order,
)
from stream.ces.releases.sequence import Difference, difference_sequence, share_sequence

__all__ = [
    "BETTER",
    "PENDING",
    "WORSE",
    "Difference",
    "ReleaseComparison",
    "ReleaseCounts",
    "channel_comparisons",
    "compare_releases",
    "difference_sequence",
    "newest_first",
    "recent_releases",
    "release_key",
    "releases_in",
    "share_sequence",
    "split_release_key",
    "version_order",
]
