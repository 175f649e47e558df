"""Model files shipped with phoneiqa; see TRAINING.md for how each was trained."""
