"""Applications built on the public API: commerce, recommendations, finance."""
