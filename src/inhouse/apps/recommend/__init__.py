"""Per-shop recommendation engine (issue 7): implicit-feedback models trained on one tenant's data.

Modules: `data` (parsing, id mapping, splits), `models` (pop, itemknn, ease, ials, seq), `metrics`
(full-ranking evaluation), `tuning` (validation search, `auto`), `content` (cold-start text similarity),
`storage` (versioned .npy/JSON models per tenant), `api` (the public functions re-exported here).
"""

from inhouse.apps.recommend.api import (
    Recommender,
    evaluate,
    fold_in,
    load,
    recommend_user,
    rollback,
    similar_items,
    train,
    versions,
)
from inhouse.apps.recommend.data import load_catalog, load_interactions
from inhouse.apps.recommend.models import MODELS

__all__ = [
    "MODELS",
    "Recommender",
    "evaluate",
    "fold_in",
    "load",
    "load_catalog",
    "load_interactions",
    "recommend_user",
    "rollback",
    "similar_items",
    "train",
    "versions",
]
