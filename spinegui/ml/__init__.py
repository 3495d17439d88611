"""Learning engine (torch). Imports core, never Qt."""
