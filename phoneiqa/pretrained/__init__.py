"""Model files shipped with phoneiqa; see TRAINING-<name>.md for how each was trained."""
