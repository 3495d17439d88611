"""Qt user interface. Imports core; reaches ml only through its worker module."""
