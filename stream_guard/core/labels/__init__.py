"""Realized performance: predictions joined with labels that arrive late, per window, as mergeable state."""
